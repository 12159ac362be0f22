"""Adapters from the log's hooks to `lending_core`: the payload schemas and the loan state
machine, checked before an event is accepted (an impossible event gets a 422 saying why)."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
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


class LendingPolicy:
    """Fold a loan's stored records, then each new one in order; raise on the first that
    cannot happen, tagged with its position among `new`.

    Folding a long history for every batch is the slow part of ingestion, so the state after
    a history is kept, keyed by the history's last record (records carry a random salt, so
    the last record and the count identify the whole history of an append-only log)."""

    def __init__(self, max_loans: int = 10_000) -> None:
        self._states: OrderedDict[tuple[int, bytes], LoanState] = OrderedDict()
        self._max = max_loans

    def __call__(self, history: Sequence[bytes], new: Sequence[Record]) -> None:
        state: LoanState | None = None
        if history:
            key = (len(history), hashlib.sha256(history[-1]).digest())
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
            else:
                for data in history:
                    state = apply(state, loan_event(json.loads(data)))
        for i, record in enumerate(new):
            try:
                state = apply(state, loan_event(record.content))
            except Exception as exc:
                exc.item = i  # type: ignore[attr-defined]
                raise
        if state is not None and new:
            # the state after this batch, ready for the next one if it commits
            self._states[(len(history) + len(new), hashlib.sha256(new[-1].data).digest())] = state
            while len(self._states) > self._max:
                self._states.popitem(last=False)


def lending_policy(history: Sequence[bytes], new: Sequence[Record]) -> None:
    """The state machine without a cache (for one-off checks)."""
    LendingPolicy(max_loans=0)(history, new)
