"""Order independence (DESIGN.md, "Event time and arrival order"): for a loan story, every
arrival order gives the state, arrears, findings and claim figures of in-order arrival.

Arrival order is the leaf index; the loan order is occurred_at. The story's events get
distinct instants (a tie is broken by arrival, as the design says, so tied events are the
one case where arrival may matter)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispute.claim import arrears_for, build_claim
from dispute.selection import StoredRecord, loan_state
from lending_core.state import LoanEvent, history
from tests.unit.dispute import story_records

AS_OF = date(2026, 8, 1)


def distinct_times(records: list[StoredRecord]) -> list[StoredRecord]:
    out = []
    for i, r in enumerate(records):
        at = datetime.fromisoformat(r.content["occurred_at"]) + timedelta(minutes=i)
        out.append(StoredRecord(r.leaf_index, r.leaf_hash, {
            **r.content, "occurred_at": at.isoformat().replace("+00:00", "Z")}))
    return out


def arrive(records: list[StoredRecord], order: list[int]) -> list[StoredRecord]:
    """The same records arriving in `order`: leaf indices follow arrival."""
    return [StoredRecord(100 + pos, records[i].leaf_hash, records[i].content)
            for pos, i in enumerate(order)]


def facts(records: list[StoredRecord]) -> dict[str, Any]:
    """What must not depend on arrival order (findings modulo leaf indices)."""
    s = loan_state(records)
    return {
        "status": s.status, "disbursed": s.disbursed_total, "received": s.received_total,
        "principal_repaid": s.principal_repaid, "terms": s.terms,
        "missed": [(m.installment_no, m.resolved_by, m.resolution) for m in s.missed],
        "notices": [(n.sent.event_id, n.delivered.event_id if n.delivered else None)
                    for n in s.notices],
        "acceleration": s.acceleration.event_id if s.acceleration else None,
        "settlement": s.settlement.event_id if s.settlement else None,
        "findings": sorted(f.key for f in s.findings),
    }


STORIES = {
    "accelerated": distinct_times(story_records()),
    "settled": distinct_times(story_records(upto="settlement", skip=("restructuring",
                                                                     "write_off"))),
}


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(STORIES)), data=st.data())
def test_every_arrival_order_gives_the_same_loan(name: str, data: st.DataObject) -> None:
    records = STORIES[name]
    order = data.draw(st.permutations(range(len(records))))
    in_order = arrive(records, list(range(len(records))))
    shuffled = arrive(records, order)
    assert facts(shuffled) == facts(in_order)
    a, b = arrears_for(shuffled, AS_OF), arrears_for(in_order, AS_OF)
    assert (a.total_due, a.total_outstanding, a.rows) == (b.total_due, b.total_outstanding,
                                                          b.rows)
    claim, expected = build_claim(shuffled, "court", AS_OF), build_claim(in_order, "court", AS_OF)
    assert claim["amounts"] == expected["amounts"] and claim["computation"] == (
        expected["computation"]) and claim["requests"] == expected["requests"]


def test_the_stories_are_clean_in_order() -> None:
    # the property would be empty if the in-order stories were themselves full of findings
    for records in STORIES.values():
        assert facts(arrive(records, list(range(len(records)))))["findings"] == []


def test_history_resolves_a_late_contract_finding() -> None:
    records = STORIES["accelerated"]
    # the repayment (index 4) arrives first, the rest after it in order
    order = [4, *[i for i in range(len(records)) if i != 4]]
    events = [LoanEvent.from_record(r.content, seq=r.leaf_index)
              for r in arrive(records, order)]
    state, found = history(events)
    assert state.findings == ()
    mine = {f.finding.code: f for f in found
            if f.finding.event_id == records[4].content["event_id"]}
    # first no contract, then (once the contract came) no disbursement; both resolved
    assert set(mine) == {"before_contract", "not_disbursed"}
    assert all(f.resolved for f in mine.values())
    first, second = mine["before_contract"], mine["not_disbursed"]
    contract, disbursement = (next(r.content["event_id"] for r in records
                                   if r.content["type"] == t)
                              for t in ("contract_signed", "disbursement"))
    assert first.found_by == records[4].content["event_id"] and first.resolved_by == contract
    assert second.found_by == contract and second.resolved_by == disbursement
