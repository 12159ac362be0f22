"""What an event must satisfy on its own, whatever else the loan's history holds.

These are the only state rules that refuse an event at ingestion (`check_intrinsic`): a
value date after the event's own `occurred_at`, a first due date before its agreement takes
effect. No later arrival can make such an event true. Every other rule compares an event
with the rest of the loan and, when broken, becomes a finding (see `fold`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from lending_core.state.model import LoanEvent
from lending_core.state.rules import instant_not_after, not_after, require

Check = Callable[[LoanEvent, Any], None]

DATES: dict[str, tuple[str, ...]] = {
    "disbursement": ("value_date",),
    "repayment_received": ("value_date",),
    "repayment_missed": ("due_date",),
    "acceleration": ("accelerated_on",),
    "write_off": ("written_off_on",),
    "settlement": ("settled_on",),
    "monitoring_flag": ("as_of",),
}
"""Business dates (China Standard Time) that may not be later than the event's date."""

INSTANTS: dict[str, tuple[str, ...]] = {
    "credit_decision": ("decided_at",),
    "contract_signed": ("e_signature.signed_at",),
    "security": ("signed_at",),
    "notice_sent": ("sent_at",),
    "notice_delivered": ("delivered_at",),
    "restructuring": ("e_signature.signed_at",),
}
"""Instants that may not be later than the event's `occurred_at`."""


def _restructuring(event: LoanEvent, p: Any) -> None:
    require(
        p.first_due_date > p.effective_date,
        "due_before_effective",
        f"expected first_due_date after {p.effective_date}, found {p.first_due_date}",
    )


CHECKS: dict[str, list[Check]] = {"restructuring": [_restructuring]}
"""Further checks per event type; other modules add theirs with `register`."""


def register(event_type: str, check: Check) -> None:
    CHECKS.setdefault(event_type, []).append(check)


def _get(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = getattr(model, part, None)
        if model is None:
            return None
    return model


def check(event: LoanEvent, model: Any) -> None:
    """Raise `Reject` if `event` (with its validated payload `model`) is false on its own."""
    for path in DATES.get(event.type, ()):
        day = _get(model, path)
        if isinstance(day, date) and not isinstance(day, datetime):
            not_after(event, day, path)
    for path in INSTANTS.get(event.type, ()):
        instant = _get(model, path)
        if isinstance(instant, datetime):
            instant_not_after(event, instant, path)
    for extra in CHECKS.get(event.type, ()):
        extra(event, model)
