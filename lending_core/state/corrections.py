"""Reversals (冲正) and corrections (调账): which events the fold takes as they are posted.

`effective(events)` takes a loan's events in loan order and returns the events to fold and
one `CorrectionNote` per reversal or correction. Corrections never rewrite: the original,
its reversal and its corrections all stay in the log and in every package; only the fold
leaves a reversed original out, or takes it in its corrected form (same event id, same
place in loan order unless the corrected value date falls after the original's own date,
in which case it takes the correction's time).

Each reversal and correction is judged against the whole set of the loan's events, so the
outcome does not depend on arrival order. It applies when its original is a posting of
the named type, came before it in loan order, and (for a reversal) has the amount it names
and was not reversed already. Otherwise it is kept in the fold as a `JudgedEvent` carrying
the code its transition raises, so the fold records it as a finding: `unknown_original`
(the original may still arrive), `already_reversed`, `original_type_mismatch`,
`reversal_amount_mismatch`, `adjustment_before_original`, `original_reversed` (a correction
of a posting already reversed) and `invalid_correction` (the corrected posting would not
fit its schema). Reversals and corrections apply in loan order: a second correction restates
the first one's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from lending_core.errors import EventValidationError
from lending_core.events import Correction, Reversal, validate_payload
from lending_core.money import describe_money
from lending_core.state.adjustment_facts import CorrectionNote
from lending_core.state.model import CHINA_TZ, LoanEvent

__all__ = ["ADJUSTING_TYPES", "JudgedEvent", "effective"]

ADJUSTING_TYPES = frozenset({"reversal", "correction"})

_CORRECTED_FIELD = {  # where each corrected field lives in each original's payload
    "repayment_received": {"value_date": "value_date", "amount": "amount",
                           "allocation": "allocation"},
    "disbursement": {"value_date": "value_date", "amount": "amount"},
    "fee_charged": {"value_date": "charged_on", "amount": "amount"},
}


@dataclass(frozen=True)
class JudgedEvent(LoanEvent):
    """A reversal or correction with the outcome `effective` found for it.

    `outcome` is `"applied"` or a finding code; the transition raises that code."""

    outcome: str = "applied"
    detail: str = ""


def _loan_key(event: LoanEvent) -> tuple[datetime, int]:
    return (event.occurred_at, event.seq)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _judge(
    event: LoanEvent, model: Reversal | Correction, original: LoanEvent | None,
    reversed_by: dict[str, str],
) -> tuple[str, str]:
    """`("applied", "")` or a finding code and what was expected and found."""
    oid = model.original_event_id
    if original is None:
        return ("unknown_original",
                f"expected original event {oid} of this loan, found none (yet)")
    if original.type != model.original_type:
        return ("original_type_mismatch",
                f"expected {oid} to be a {model.original_type}, found a {original.type}")
    if _loan_key(original) >= _loan_key(event):
        return ("adjustment_before_original",
                (f"expected {event.type} after its original {oid} "
                 f"({original.occurred_at.isoformat()}), found it at "
                 f"{event.occurred_at.isoformat()}"))
    if oid in reversed_by:
        code = "already_reversed" if isinstance(model, Reversal) else "original_reversed"
        return (code, f"expected {oid} not reversed, found it reversed by {reversed_by[oid]}")
    return ("applied", "")


def effective(events: Sequence[LoanEvent]) -> tuple[list[LoanEvent], tuple[CorrectionNote, ...]]:
    """The events to fold (in the order given, which is loan order) and notes on reversals
    and corrections (see the module docstring)."""
    by_id: dict[str, LoanEvent] = {}
    for e in events:
        by_id.setdefault(e.event_id, e)
    if not any(e.type in ADJUSTING_TYPES for e in events):
        return list(events), ()
    current: dict[str, LoanEvent] = {}  # original id -> its corrected form
    reversed_by: dict[str, str] = {}
    judged: dict[str, JudgedEvent] = {}
    notes: list[CorrectionNote] = []
    for e in events:
        if e.type not in ADJUSTING_TYPES or e.event_id in judged:
            continue
        try:
            model = validate_payload(e.type, e.payload)
        except EventValidationError:
            continue  # the fold records the schema error as it is
        assert isinstance(model, Reversal | Correction)
        oid = model.original_event_id
        original = current.get(oid) or by_id.get(oid)
        outcome, detail = _judge(e, model, original, reversed_by)
        changed: tuple[tuple[str, str, str], ...] = ()
        if outcome == "applied" and original is not None and isinstance(model, Reversal):
            if model.amount != _amount(original):
                outcome = "reversal_amount_mismatch"
                detail = (f"expected the amount of {oid}, {describe_money(_amount(original))}, "
                          f"found {describe_money(model.amount)}")
            else:
                reversed_by[oid] = e.event_id
        elif outcome == "applied" and original is not None and isinstance(model, Correction):
            corrected, changed, problem = _corrected(original, model, e)
            if problem:
                outcome, detail = "invalid_correction", problem
            else:
                current[oid] = corrected
        judged[e.event_id] = JudgedEvent(
            e.event_id, e.loan_id, e.type, e.occurred_at, e.payload, seq=e.seq,
            received_at=e.received_at, derived=e.derived, outcome=outcome, detail=detail)
        on = model.reversed_on if isinstance(model, Reversal) else model.corrected_on
        # e.type, as the type its model was validated as
        kind: Literal["reversal", "correction"] = (
            "reversal" if isinstance(model, Reversal) else "correction")
        notes.append(CorrectionNote(kind, e.event_id, e.occurred_at, oid,
                                    model.original_type, outcome, model.reason, detail,
                                    changed, on))
    folded: list[LoanEvent] = []
    for e in events:
        if e.event_id in reversed_by:
            continue
        folded.append(judged.get(e.event_id) or current.get(e.event_id) or e)
    if any(e.event_id in current for e in events):
        folded.sort(key=_loan_key)
    return folded, tuple(notes)


def _amount(event: LoanEvent) -> Decimal:
    return Decimal(str(event.payload.get("amount", "0")))


def _corrected(
    original: LoanEvent, model: Correction, correction: LoanEvent
) -> tuple[LoanEvent, tuple[tuple[str, str, str], ...], str]:
    """The original restated, what changed, and why it cannot be (empty when it can)."""
    fields = _CORRECTED_FIELD[original.type]
    given = model.corrected.model_dump(mode="json", exclude_none=True)
    payload = dict(original.payload)
    changed = []
    for name, value in given.items():
        key = fields.get(name)
        if key is None:
            return original, (), f"expected no {name} for a {original.type}, found one"
        changed.append((key, _text(payload.get(key, "")), _text(value)))
        payload[key] = value
    try:
        validate_payload(original.type, payload)
    except EventValidationError as exc:
        wrong = "; ".join(f"{x['field']}: {x['message']}" for x in exc.errors)
        return original, (), f"expected the corrected {original.type} to fit its schema: {wrong}"
    when = original.occurred_at
    day = payload.get(fields["value_date"])
    if isinstance(day, str) and day > original.occurred_at.astimezone(CHINA_TZ).date().isoformat():
        when = max(when, correction.occurred_at)  # the later date is known only from then
    return replace(original, payload=payload, occurred_at=when), tuple(changed), ""
