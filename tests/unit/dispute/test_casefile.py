"""The case-file PDF, opened back with pypdf: pages, Chinese text, ids, attachments, PDF/A."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from dispute.casefile import (
    Checkpoint,
    Cosigner,
    HistoryFacts,
    HistoryRow,
    PreservationFacts,
    evidence_url,
    render_case_file,
)
from dispute.claim import build_claim
from dispute.pdf import CjkFontUnavailable, require_cjk_font
from dispute.selection import select_evidence
from tests.unit.dispute import story_records

pypdf = pytest.importorskip("pypdf")

ORIGIN = "cunzheng.example/log"
BASE_URL = "https://verify.cunzheng.example"
CREATED = datetime(2024, 10, 1, 9, 30, tzinfo=UTC)
PRESERVATION = PreservationFacts(
    ORIGIN, ORIGIN, "q83vEjRWeJA=", 31337, "0x" + "ab" * 20,
    (
        Checkpoint(46, bytes.fromhex("11" * 32), "0x" + "12" * 32, 101, "0x" + "13" * 32,
                   "2024-05-25T03:00:00Z",
                   (Cosigner("0x" + "14" * 20, "0x" + "15" * 32, 103, "重庆市渝中公证处"),)),
        Checkpoint(64, bytes.fromhex("21" * 32), "0x" + "22" * 32, 140, "0x" + "23" * 32,
                   "2024-07-02T03:00:00Z"),
    ),
)
ATTACHMENTS = [
    ("manifest-without-files.json", b'{"schema": "cunzheng.package/v1"}\n', "证据包清单"),
    ("proofs/41.json", b'{"leaf_index": 41}\n', "证据1-1的包含证明"),
]


def _render(venue: str, **kw: Any) -> tuple[bytes, Any, dict[str, Any]]:
    records = story_records(dispute_venue=kw.pop("clause", venue))
    selection = select_evidence(records, venue)  # type: ignore[arg-type]
    claim = build_claim(records, venue, date(2024, 9, 30))  # type: ignore[arg-type]
    pdf = render_case_file(venue, claim, selection, PRESERVATION,  # type: ignore[arg-type]
                           BASE_URL, ATTACHMENTS, CREATED)
    return pdf, selection, claim


@pytest.fixture(scope="module")
def court() -> tuple[bytes, Any, dict[str, Any]]:
    return _render("court", clause="arbitration")  # a mismatch, so the gaps part has a row


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_court_case_file_reads_back(court: tuple[bytes, Any, dict[str, Any]]) -> None:
    pdf, selection, claim = court
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    text = _text(pdf)
    flat = _compact(text)
    for words in ("民事起诉状", "证据目录", "欠款本息计算表", "电子数据存证说明", "证据缺口",
                  "重庆银行股份有限公司", "暂计至2024年9月30日"):
        assert words in flat, words
    assert claim["amounts"]["total"] in flat.replace(",", "")
    for exhibit in selection.recorded:
        assert f"{ORIGIN}#{exhibit.leaf_index}" in flat
        assert exhibit.leaf_hash_hex in flat
    assert "重庆仲裁委员会" in flat and "而非人民法院诉讼" in flat  # the venue gap
    assert "第1页/共" in flat  # page counters


def test_attachments_are_embedded(court: tuple[bytes, Any, dict[str, Any]]) -> None:
    reader = pypdf.PdfReader(io.BytesIO(court[0]))
    embedded = reader.attachments
    assert sorted(embedded) == sorted(name for name, _, _ in ATTACHMENTS)
    assert embedded["proofs/41.json"] == [b'{"leaf_index": 41}\n']


def test_pdfa_3b_is_declared(court: tuple[bytes, Any, dict[str, Any]]) -> None:
    reader = pypdf.PdfReader(io.BytesIO(court[0]))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert re.search(r'pdfaid:part(="|>)3', xmp)
    assert re.search(r'pdfaid:conformance(="|>)B', xmp)
    assert "/AF" in reader.trailer["/Root"]


def test_case_file_is_deterministic(court: tuple[bytes, Any, dict[str, Any]]) -> None:
    again, _, _ = _render("court", clause="arbitration")
    assert again == court[0]


def test_every_font_is_embedded(court: tuple[bytes, Any, dict[str, Any]]) -> None:
    reader = pypdf.PdfReader(io.BytesIO(court[0]))
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descendant = font.get_object()
            desc = descendant.get("/DescendantFonts", [descendant])[0].get_object()
            d = desc["/FontDescriptor"]
            assert any(k in d for k in ("/FontFile", "/FontFile2", "/FontFile3")), desc


def test_notary_case_file_is_an_execution_certificate_application() -> None:
    pdf, _, _ = _render("notary")
    flat = _compact(_text(pdf))
    assert "出具执行证书申请书" in flat and "履约核实" in flat
    assert "未发现证据缺口" in flat


def test_evidence_url_encodes_the_id() -> None:
    assert evidence_url(BASE_URL + "/", "log.example/a#41") == (
        BASE_URL + "/verify/evidence/log.example%2Fa%2341")


def test_missing_cjk_font_raises_before_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_cjk_font()  # the real set-up has one
    empty = tmp_path / "fonts.conf"
    empty.write_text('<?xml version="1.0"?><fontconfig></fontconfig>\n')
    monkeypatch.setenv("FONTCONFIG_FILE", str(empty))
    with pytest.raises(CjkFontUnavailable, match="fonts-noto-cjk"):
        require_cjk_font()
    records = story_records(dispute_venue="court")
    with pytest.raises(CjkFontUnavailable):
        render_case_file("court", build_claim(records, "court", date(2024, 9, 30)),
                         select_evidence(records, "court"), PRESERVATION, BASE_URL, [], CREATED)


def test_preservation_facts_from_a_manifest() -> None:
    manifest = {
        "log": {"origin": ORIGIN, "key_name": ORIGIN, "public_key": "q83vEjRWeJA="},
        "chain": {"chain_id": 31337, "contract": "0x" + "ab" * 20},
        "checkpoints": [{"tree_size": 46, "root": "11" * 32, "note": "checkpoints/46.txt",
                         "anchor": {"chain_id": 31337, "contract": "0x" + "ab" * 20,
                                    "tx_hash": "0x" + "12" * 32, "block_number": 101,
                                    "block_hash": "0x" + "13" * 32,
                                    "block_time": "2024-05-25T03:00:00Z"},
                         "cosigners": [{"address": "0x" + "14" * 20, "tx_hash": "0x" + "15" * 32,
                                        "block_number": 103}]}],
    }
    facts = PreservationFacts.from_manifest(manifest, {"0x" + "14" * 20: "重庆市渝中公证处"})
    assert facts.checkpoints[0] == PRESERVATION.checkpoints[0]
    assert facts.covering(45) == facts.checkpoints[0] and facts.covering(46) is None


HISTORY = HistoryFacts(
    64, "2024-07-02T03:00:00Z", "ab" * 32, 4, 1,
    (HistoryRow(1, f"{ORIGIN}#40", "01" * 32, "credit_decision", "2024-03-01T10:00:00Z",
                "2024-03-01T10:00:01Z"),
     HistoryRow(2, f"{ORIGIN}#41", "02" * 32, "contract_signed", "2024-03-02T10:00:00Z",
                "2024-03-02T10:00:01Z"),
     HistoryRow(3, f"{ORIGIN}#45", "03" * 32, None, None, None, f"{ORIGIN}#63"),
     HistoryRow(4, f"{ORIGIN}#63", "04" * 32, "data_erased", "2024-07-01T10:00:00Z",
                "2024-07-01T10:00:01Z")),
)


def test_the_case_file_states_the_loan_history_and_lists_every_record() -> None:
    records = story_records(dispute_venue="court")
    selection = select_evidence(records, "court")
    claim = build_claim(records, "court", date(2024, 9, 30))
    pdf = render_case_file("court", claim, selection, PRESERVATION, BASE_URL, ATTACHMENTS,
                           CREATED, HISTORY)
    flat = _compact(_text(pdf))
    assert ("截至2024年7月2日11:00:00（北京时间），本笔贷款在存证系统中共有4条记录，"
            "全部列于附件，完整性可验证") in flat
    assert "贷款索引根" in flat and "ab" * 32 in flat and "树规模64" in flat
    for row in HISTORY.rows:
        assert row.evidence_id in flat and row.leaf_hash in flat
    assert f"已删除（内容已依法删除，叶子哈希及序号保留）；删除记录存证编号{ORIGIN}#63" in flat
    assert "授信审批" in flat and "合同签订" in flat
    # a history whose first records carry no link says which part is proved
    partial = HistoryFacts(HISTORY.checkpoint_size, HISTORY.anchored_at, HISTORY.index_root,
                           HISTORY.count, 3, HISTORY.rows)
    flat = _compact(_text(render_case_file("court", claim, selection, PRESERVATION, BASE_URL,
                                           ATTACHMENTS, CREATED, partial)))
    assert "共有4条记录，全部列于附件，其中第3至4条的完整性可验证" in flat
    assert "第1至2条记录" in flat
    # without a history (a v1 package) the part is left out
    assert "贷款存证记录的完整性" not in _compact(_text(court_pdf(records)))


def court_pdf(records: Any) -> bytes:
    return render_case_file("court", build_claim(records, "court", date(2024, 9, 30)),
                            select_evidence(records, "court"), PRESERVATION, BASE_URL,
                            ATTACHMENTS, CREATED)
