"""Adapters from the log's hooks to `lending_core`: the payload schemas and the loan state
machine, checked before an event is accepted (an impossible event gets a 422 saying why)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from anchoring.records import Record, parse_rfc3339
from lending_core.events import validate_payload
from lending_core.state import LoanEvent, LoanState, apply


def validate_event(event: Mapping[str, Any]) -> None:
    validate_payload(event["type"], event["payload"])


def loan_event(content: Mapping[str, Any]) -> LoanEvent:
    """The lending view of a stored record's content."""
    return LoanEvent(
        event_id=content["event_id"],
        loan_id=content["loan_id"],
        type=content["type"],
        occurred_at=parse_rfc3339(content["occurred_at"], "occurred_at"),
        payload=content["payload"],
    )


def lending_policy(history: Sequence[bytes], new: Sequence[Record]) -> None:
    """Fold a loan's stored records, then each new one in order; raise on the first that
    cannot happen, tagged with its position among `new`."""
    state: LoanState | None = None
    for data in history:
        state = apply(state, loan_event(json.loads(data)))
    for i, record in enumerate(new):
        try:
            state = apply(state, loan_event(record.content))
        except Exception as exc:
            exc.item = i  # type: ignore[attr-defined]
            raise
