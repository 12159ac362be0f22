"""The ledger's own events (`data_erased`): validated like the others, never a lending
event type, and folded into nothing (the loan's state is what it was)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lending_core.errors import EventValidationError, LoanStateError
from lending_core.events import (
    EVENT_TYPES,
    LEDGER_EVENT_TYPES,
    DataErased,
    example_story,
    payload_model,
    validate_payload,
)
from lending_core.state import LoanEvent, apply, history, rebuild

ERASED = {"scope": "loan", "erased_by": "admin key k1 (ops)", "basis": "PIPL art. 47",
          "records": 9, "records_sha256": "0" * 64, "documents": ["a" * 64]}


def _story() -> list[LoanEvent]:
    events = []
    for i, (kind, payload) in enumerate(example_story()):
        events.append(LoanEvent(event_id=f"e-{i}", loan_id="L-1", type=kind,
                                occurred_at=datetime(2026, 1, 1, tzinfo=UTC), payload=payload,
                                seq=i))
    return events


def _erasure(seq: int) -> LoanEvent:
    return LoanEvent(event_id="erasure:L-1", loan_id="L-1", type="data_erased",
                     occurred_at=datetime(2026, 1, 1, tzinfo=UTC), payload=ERASED, seq=seq)


def test_data_erased_is_a_ledger_type_with_a_strict_schema() -> None:
    assert LEDGER_EVENT_TYPES == {"data_erased"} and not LEDGER_EVENT_TYPES & EVENT_TYPES
    assert payload_model("data_erased") is DataErased
    assert validate_payload("data_erased", ERASED).records == 9  # type: ignore[attr-defined]
    for bad in ({**ERASED, "records": -1}, {**ERASED, "records_sha256": "x"},
                {**ERASED, "scope": "everything"}, {**ERASED, "why": "?"}):
        with pytest.raises(EventValidationError):
            validate_payload("data_erased", bad)


def test_an_erasure_changes_no_loan_state() -> None:
    events = _story()
    before = rebuild(events)
    assert rebuild([*events, _erasure(len(events))]) == before
    assert rebuild([_erasure(-1), *events]) == before
    assert history([*events, _erasure(len(events))]) == history(events)
    assert apply(before, _erasure(len(events))) is before
    with pytest.raises(LoanStateError, match="no_events|expected"):
        rebuild([_erasure(0)])
    with pytest.raises(LoanStateError):
        apply(None, _erasure(0))
