"""The case file's layout, read back from the PDF itself (issue 14, item 1 and Build 2).

Case files for several loans (the example story at each venue, a floating-rate loan, a loan
that never paid and is a year in default) are rendered and their word boxes read with
poppler's `pdftotext -bbox`. Checked on every page: no word lies outside the page's box; no
column holds six or more consecutive lines of one character each (a table column collapsed
to one character wide); and the computation table (计算明细) takes few pages for its rows.
The computation page of each case file is saved as a PNG under `test-output/`.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from dispute.casefile import render_case_file
from dispute.claim import build_claim
from dispute.selection import StoredRecord, select_evidence
from tests.unit.dispute import story_records
from tests.unit.dispute.test_casefile import ATTACHMENTS, BASE_URL, CREATED, PRESERVATION
from tests.unit.dispute.test_claim_pricing import AS_OF as PRICING_AS_OF
from tests.unit.dispute.test_claim_pricing import records as pricing_records
from tests.unit.lending_core.test_adjustments import base_story, loan_records

PDFTOTEXT = shutil.which("pdftotext")
pytestmark = pytest.mark.skipif(PDFTOTEXT is None,
                                reason="needs poppler-utils (make system-deps)")
SHOTS = Path(__file__).resolve().parents[3] / "test-output" / "casefile-layout"
RUN = 6  # this many one-character lines in a column is a collapsed column
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"(.*?)</word>")
PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.DOTALL)


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(frozen=True)
class Page:
    width: float
    height: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words)


def pages_of(pdf: Path) -> list[Page]:
    assert PDFTOTEXT is not None
    out = subprocess.run([PDFTOTEXT, "-bbox", str(pdf), "-"], check=True, capture_output=True,
                         text=True).stdout
    return [Page(float(w), float(h),
                 tuple(Word(float(a), float(b), float(c), float(d), unescape(t))
                       for a, b, c, d, t in WORD.findall(body)))
            for w, h, body in PAGE.findall(out)]


def outside(page: Page, tolerance: float = 0.5) -> list[Word]:
    return [w for w in page.words if w.x0 < -tolerance or w.y0 < -tolerance
            or w.x1 > page.width + tolerance or w.y1 > page.height + tolerance]


def one_char_runs(page: Page) -> list[list[Word]]:
    """Runs of >= RUN consecutive lines, at one left edge, each one character long."""
    columns: dict[float, list[Word]] = {}
    for w in page.words:
        columns.setdefault(round(w.x0), []).append(w)
    runs: list[list[Word]] = []
    for words in columns.values():
        words.sort(key=lambda w: w.y0)
        run: list[Word] = []
        for w in words:
            height = w.y1 - w.y0
            adjacent = bool(run) and w.y0 - run[-1].y1 < 0.35 * height
            if len(w.text) == 1 and (adjacent or not run):
                run.append(w)
            elif len(w.text) == 1:
                run = [w]
            else:
                run = []
            if len(run) == RUN:
                runs.append(run)
    return runs


def defaulted_records() -> list[StoredRecord]:
    """120,000 lent on 2024-01-10 for 12 months, equal principal, not a fen repaid."""
    return loan_records(base_story())


CASES: dict[str, tuple[str, Any, date]] = {
    "story-court": ("court", lambda: story_records(dispute_venue="court"), date(2024, 9, 30)),
    "story-arbitration": ("arbitration", lambda: story_records(dispute_venue="arbitration"),
                          date(2024, 9, 30)),
    "story-notary": ("notary", lambda: story_records(dispute_venue="notary"),
                     date(2024, 9, 30)),
    "floating-rate": ("court", pricing_records, PRICING_AS_OF),
    "defaulted-5": ("court", defaulted_records, date(2024, 6, 30)),
    "defaulted-18": ("court", defaulted_records, date(2025, 6, 30)),
}


@dataclass(frozen=True)
class Rendered:
    name: str
    rows: int
    pages: list[Page]
    pdf: Path


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    name: str = request.param
    venue, records_of, as_of = CASES[name]
    records = records_of()
    claim = build_claim(records, venue, as_of)
    pdf = render_case_file(venue, claim, select_evidence(records, venue), PRESERVATION,
                           BASE_URL, ATTACHMENTS, CREATED)
    path = tmp_path_factory.mktemp("layout") / f"{name}.pdf"
    path.write_bytes(pdf)
    return Rendered(name, len(claim["computation"]), pages_of(path), path)


def computation_pages(case: Rendered) -> tuple[int, int]:
    """The first and last page (1-based) of the 计算明细 table."""
    first = next(i for i, p in enumerate(case.pages, 1) if "计算明细" in p.text)
    last = next(i for i, p in enumerate(case.pages, 1) if i >= first and "还款冲抵顺序" in p.text)
    return first, last


def test_no_text_lies_outside_the_page(case: Rendered) -> None:
    for number, page in enumerate(case.pages, 1):
        out = outside(page)
        assert not out, (case.name, number, page.width, out[:5])


def test_no_column_holds_one_character_per_line(case: Rendered) -> None:
    for number, page in enumerate(case.pages, 1):
        runs = one_char_runs(page)
        assert not runs, (case.name, number, ["".join(w.text for w in r) for r in runs[:3]])


def test_the_computation_table_takes_few_pages(case: Rendered) -> None:
    first, last = computation_pages(case)
    assert case.rows >= 1
    # the table starts on the page after the summary at the latest; 14 rows fit on 2 pages
    allowed = 2 + math.ceil(max(case.rows - 14, 0) / 12)
    assert last - first + 1 <= allowed, (case.name, case.rows, first, last)
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm:
        SHOTS.mkdir(parents=True, exist_ok=True)
        subprocess.run([pdftoppm, "-f", str(first), "-l", str(first), "-r", "80", "-png",
                        "-singlefile", str(case.pdf), str(SHOTS / case.name)], check=True)


def test_the_checks_see_a_collapsed_column() -> None:
    """The detectors themselves: a column one character wide, running off the page."""
    words = tuple(Word(561.6, 76.6 + 15.2 * i, 571.1, 90.2 + 15.2 * i, ch)
                  for i, ch in enumerate("逾期本金×罚息利率"))
    page = Page(595.3, 841.9, (*words, Word(561.6, 300.0, 640.0, 313.6, "HQSX-2024-0001234")))
    assert len(one_char_runs(page)) == 1 and one_char_runs(page)[0][0].text == "逾"
    assert [w.text for w in outside(page)] == ["HQSX-2024-0001234"]
    # row numbers of single-line rows are one character each but not consecutive lines
    numbers = Page(595.3, 841.9, tuple(Word(62.0, 100.0 + 24.0 * i, 67.5, 113.6 + 24.0 * i,
                                            str(i)) for i in range(1, 10)))
    assert not one_char_runs(numbers)
