"""Fonts and PDF rendering (`dispute.pdf`): the loan documents' PDFs with real CJK glyphs,
byte-stable; a character outside the prepared font, or no CJK font at all, is an error and
never a box; `lending_core` writes the documents' pages without WeasyPrint or fontconfig."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dispute import pdf
from dispute.pdf import CjkFontUnavailable, DocumentRenderer, MissingGlyphs
from lending_core import documents
from lending_core.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def portfolio():  # type: ignore[no-untyped-def]
    return simulate(SimConfig(loans=3, months=24, seed=9))


@pytest.fixture(scope="module")
def renderer() -> DocumentRenderer:
    return DocumentRenderer()


def test_contract_pdf_is_deterministic_and_embeds_the_cjk_font(portfolio, renderer) -> None:  # type: ignore[no-untyped-def]
    loan = portfolio.loans[0]
    first = renderer.contract(loan.contract, loan_id=loan.loan_id)
    assert first.startswith(b"%PDF") and first == renderer.contract(loan.contract,
                                                                     loan_id=loan.loan_id)
    disb = next(e for e in loan.events if e.type == "disbursement")
    jieju = renderer.loan_receipt(disb.event["payload"], loan.contract, loan_id=loan.loan_id,
                                  occurred_at=disb.occurred_at)
    assert jieju == renderer.loan_receipt(disb.event["payload"], loan.contract,
                                          loan_id=loan.loan_id,
                                          occurred_at=disb.occurred_at + timedelta(0))
    assert jieju != first


def test_characters_outside_the_font_fail_loudly(portfolio, renderer) -> None:  # type: ignore[no-untyped-def]
    loan = portfolio.loans[0]
    contract = json.loads(json.dumps(loan.contract))
    contract["parties"][1]["name"] = "重庆𠀀有限公司"  # U+20000, CJK extension B
    with pytest.raises(MissingGlyphs, match=r"U\+20000"):
        renderer.contract(contract, loan_id=loan.loan_id)


def test_no_cjk_font_is_an_error_not_boxes(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf.shutil, "which", lambda _: None)
    with pytest.raises(CjkFontUnavailable, match="fonts-noto-cjk"):
        pdf.require_cjk_font()
    monkeypatch.undo()
    empty = tmp_path / "fonts.conf"  # a fontconfig that knows no font at all
    empty.write_text('<?xml version="1.0"?><fontconfig></fontconfig>\n')
    monkeypatch.setattr(pdf, "PREFERRED_FAMILIES", ("No Such Font CJK",))
    monkeypatch.setenv("FONTCONFIG_FILE", str(empty))
    with pytest.raises(CjkFontUnavailable, match="apt-get install"):
        pdf.require_cjk_font()


def test_a_face_outside_the_preferred_families_still_serves(
        monkeypatch: pytest.MonkeyPatch) -> None:
    preferred = pdf.require_cjk_font()  # the real set-up has one
    assert preferred.family in pdf.PREFERRED_FAMILIES and preferred.path.is_file()
    monkeypatch.setattr(pdf, "PREFERRED_FAMILIES", ("No Such Font CJK",))
    other = pdf.require_cjk_font()
    assert other.family != "No Such Font CJK" and other.path.is_file()
    assert other == pdf.require_cjk_font()  # the same pick every time


def test_the_case_file_and_the_loan_documents_share_one_font(renderer) -> None:  # type: ignore[no-untyped-def]
    assert pdf.prepared_font(pdf.require_cjk_font()) == renderer.font_path
    url = renderer.font_path.resolve().as_uri()
    with pdf.RENDER_LOCK:
        assert pdf.font_configuration(url) is pdf.font_configuration(url)


def test_the_pages_are_pure_and_name_what_they_print(portfolio) -> None:  # type: ignore[no-untyped-def]
    loan = portfolio.loans[0]
    page = documents.contract(loan.contract, loan_id=loan.loan_id)
    assert page.title == f"借款合同 {loan.contract['contract_no']}"
    assert "流动资金借款合同" in page.html and loan.loan_id in page.texts
    assert page == documents.contract(loan.contract, loan_id=loan.loan_id)
    code = ("import sys, lending_core.documents, lending_core.simulator, lending_core.client; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'weasyprint', 'fontTools', 'dispute', 'anchoring', 'service'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
