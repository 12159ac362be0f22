"""One reading of a loan's stored records into lending events (issue 12: the "rebuild a loan
from the log" paths): `service.lending.record_events` for every view and for the strict
check, through `LoanEvent.from_record`, the reading `dispute.records` folds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from anchoring.errors import PolicyRefusal
from cunzheng_verify.erasure import erasure_event
from cunzheng_verify.errors import RecordError
from cunzheng_verify.records import Record, build_record, parse_rfc3339
from dispute.records import FoldedLoan, StoredRecord
from lending_core.events import example_story
from lending_core.state import LoanEvent, rebuild
from service.lending import STRICT, leaf_events, loan_event, record_events
from tests.conftest import make_event

AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _record(i: int, kind: str, payload: dict[str, object], **over: object) -> Record:
    posted = make_event(f"e-{i}", "L-1", kind, payload=payload, **over)
    return build_record(posted, tenant="bank-a", received_at=AT, salt=bytes(32))


def _story() -> list[Record]:
    return [_record(i, kind, payload) for i, (kind, payload) in enumerate(example_story())]


def _erasure() -> Record:
    posted = erasure_event("L-1", at=AT, erased_by="admin key k1", basis="PIPL art. 47",
                           records=[], documents=[])
    return build_record(posted, tenant="bank-a", received_at=AT, salt=bytes(32))


def test_the_service_reads_a_record_as_the_case_file_does() -> None:
    records = _story()
    events, left_out = record_events((i, r.data) for i, r in enumerate(records))
    assert left_out == 0 and len(events) == len(records)
    for i, (event, record) in enumerate(zip(events, records, strict=True)):
        received = parse_rfc3339(record.received_at, "received_at")
        assert event == LoanEvent.from_record(record.content, seq=i, received_at=received)
        assert event.received_at == received and event.seq == i
    folded = FoldedLoan.fold([StoredRecord.from_bytes(i, r.data) for i, r in enumerate(records)])
    assert rebuild(events) == folded.state


def test_erased_and_damaged_records_are_left_out_and_ledger_events_skipped() -> None:
    good = _story()[0]
    naive = json.dumps({**good.content, "occurred_at": "2026-03-02T09:30:00"}).encode()
    no_type = json.dumps({k: v for k, v in good.content.items() if k != "type"}).encode()
    rows: list[tuple[int, bytes | None]] = [
        (0, good.data), (1, None), (2, b"{not json"), (3, naive), (4, no_type),
        (5, b"[1, 2]"), (6, _erasure().data)]
    events, left_out = record_events(rows)
    assert [e.seq for e in events] == [0] and left_out == 5  # the erasure is not counted
    with pytest.raises(RecordError, match="occurred_at must be an RFC 3339 time"):
        loan_event(json.loads(naive))
    assert leaf_events([]) == ([], 0)


def test_the_strict_check_reads_its_history_as_the_views_do() -> None:
    story = _story()
    # a loan whose every lending record was erased: its history holds the erasure alone
    # (before, the strict check folded it and failed with "no events")
    STRICT([_erasure().data], [story[0]])
    # a damaged stored record is left out, as every view leaves it out
    STRICT([story[0].data, b"{not json"], [story[1]])
    # and a new event that adds a finding is still refused, naming it
    settled_first = _record(99, "settlement", dict(example_story()[-1][1]))
    with pytest.raises(PolicyRefusal) as refused:
        STRICT([story[0].data], [settled_first])
    assert refused.value.item == 0
