"""Valid event streams for the ingestion benchmarks.

`lone_decisions`: one `credit_decision` per new loan, the simplest stream the loan state
machine accepts (a credit decision may open a loan). `story_mix`: `WINDOW` loans in flight at
once, each telling the whole example story of `lending_core.events.example_story()` (13
events from credit decision to settlement), interleaved round robin, so a batch holds every
event type and most loans already have history in the log (the state machine then folds
it). Each event's `occurred_at` is the latest time or date in its payload, never earlier
than the event before it, which is what the state machine requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from lending_core.events import example_payload, example_story

WINDOW = 100
SOURCE = {"system": "bench", "ref": "cunzheng-bench"}
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _times(value: Any) -> Iterator[datetime]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _times(v)
    elif isinstance(value, list):
        for v in value:
            yield from _times(v)
    elif isinstance(value, str) and _DATETIME.fullmatch(value):
        yield datetime.fromisoformat(value)
    elif isinstance(value, str) and _DATE.fullmatch(value):
        yield datetime.fromisoformat(value + "T00:00:00+08:00")


def story() -> list[tuple[str, dict[str, Any], str]]:
    """(type, payload, occurred_at) of the example story, in order."""
    out: list[tuple[str, dict[str, Any], str]] = []
    last: datetime | None = None
    for event_type, payload in example_story():
        moment = max(_times(payload), default=last)
        assert moment is not None
        if last is not None and moment < last:
            moment = last
        last = moment
        out.append((event_type, payload, moment.isoformat()))
    return out


def _event(event_id: str, loan_id: str, event_type: str, payload: dict[str, Any],
           occurred_at: str) -> dict[str, Any]:
    return {"event_id": event_id, "loan_id": loan_id, "type": event_type,
            "occurred_at": occurred_at, "payload": payload, "documents": [], "source": SOURCE}


def lone_decisions(n: int, prefix: str = "b") -> list[dict[str, Any]]:
    payload = example_payload("credit_decision")
    return [_event(f"{prefix}-cd-{i:09d}", f"{prefix}-L{i:09d}", "credit_decision", payload,
                   "2024-03-01T10:15:00+08:00") for i in range(n)]


def story_mix(n: int, prefix: str = "m", window: int = WINDOW) -> list[dict[str, Any]]:
    steps = story()
    events: list[dict[str, Any]] = []
    active = [[loan, 0] for loan in range(window)]
    next_loan = window
    while len(events) < n:
        for slot in active:
            loan, k = slot
            event_type, payload, occurred_at = steps[k]
            events.append(_event(f"{prefix}-{loan:08d}-{k:02d}", f"{prefix}-L{loan:08d}",
                                 event_type, payload, occurred_at))
            if k + 1 == len(steps):
                slot[0], slot[1] = next_loan, 0
                next_loan += 1
            else:
                slot[1] = k + 1
            if len(events) == n:
                break
    return events
