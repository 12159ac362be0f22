"""A recorded event the fold leaves out (a finding) is shown to the tribunal, not hidden:
it is an exhibit of its own and an advisory gap says why it is not in the computation."""

from __future__ import annotations

from datetime import date

from dispute.claim import build_claim
from dispute.selection import select_evidence
from lending_core.events import example_payload
from tests.unit.dispute import record_content, stored, story_records


def test_an_over_disbursement_is_an_exhibit_and_a_gap_not_a_silent_omission() -> None:
    records = story_records()
    extra = record_content(90, "disbursement", {
        **example_payload("disbursement"), "receipt_no": "JJ-EXTRA", "clearing_ref": "C-EXTRA",
        "value_date": "2024-03-06"}, "2024-03-06")
    with_extra = [*records, stored(200, extra)]
    selection = select_evidence(with_extra, "court")
    [gap] = [g for g in selection.gaps if g.code.startswith("finding:")]
    assert gap.code == "finding:over_disbursement" and gap.severity == "advisory"
    assert gap.event_id == "story-90" and "未计入" in gap.message_zh
    exhibit = selection.exhibit(gap.exhibit_no or "")
    assert exhibit.leaf_index == 200 and "未计入" in exhibit.title
    # the computation is the loan's without the misfit: the same claim as before it came
    as_of = date(2024, 8, 1)
    assert build_claim(with_extra, "court", as_of)["amounts"] == (
        build_claim(records, "court", as_of)["amounts"])
    assert not any(g.code.startswith("finding:") for g in select_evidence(records, "court").gaps)
