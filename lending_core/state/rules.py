"""Helpers shared by the transitions: the rejection they raise and the checks they repeat."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from lending_core.events import Extension, Restructuring
from lending_core.money import describe_money
from lending_core.state.model import LoanEvent, LoanState, LoanStatus

INTRINSIC: frozenset[str] = frozenset({"future_dated", "due_before_effective", "invalid_event"})
"""Codes of what is false whatever arrives later: refused at ingestion. Every other code is
a finding (the event is recorded; see `lending_core.state.fold`)."""


class Reject(Exception):
    """Raised by a transition; `apply` adds the event's identity."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def require(condition: bool, code: str, reason: str) -> None:
    if not condition:
        raise Reject(code, reason)


def not_after(event: LoanEvent, day: date, what: str) -> None:
    require(
        day <= event.business_date,
        "future_dated",
        f"expected {what} on or before the event's date {event.business_date}, found {day}",
    )


def instant_not_after(event: LoanEvent, instant: datetime, what: str) -> None:
    require(
        instant <= event.occurred_at,
        "future_dated",
        f"expected {what} at or before occurred_at {event.occurred_at.isoformat()}, "
        f"found {instant.isoformat()}",
    )


def need_disbursed(state: LoanState, what: str) -> date:
    first = state.first_value_date
    require(
        first is not None, "not_disbursed", f"expected a disbursement before {what}, found none"
    )
    assert first is not None
    return first


def performing(state: LoanState) -> LoanStatus:
    return LoanStatus.RESTRUCTURED if state.restructurings else LoanStatus.DISBURSED


def on_agreed_terms(state: LoanState, event: LoanEvent, p: Extension | Restructuring,
                    annual_rate: Decimal, repayment_method: str) -> LoanState:
    """The loan on the terms an extension (展期) or a restructuring agreement sets, from its
    effective date; every missed installment not yet resolved is resolved by it."""
    assert state.terms is not None  # both transitions assert it first
    terms = replace(
        state.terms,
        principal=p.principal,
        term_months=p.term_months,
        annual_rate=annual_rate,
        repayment_method=repayment_method,
        first_due_date=p.first_due_date,
        due_day=p.first_due_date.day,
        since=p.effective_date,
        agreed_by=p.agreement_no,
    )
    missed = tuple(
        replace(m, resolved_by=event.event_id, resolution="restructured")
        if m.resolved_by is None
        else m
        for m in state.missed
    )
    return replace(state, terms=terms, missed=missed)


def money(value: Decimal) -> str:
    return describe_money(value)


def clearing(state: LoanState, ref: str) -> frozenset[str]:
    require(
        ref not in state._clearing_refs,
        "duplicate_clearing_ref",
        f"expected a new clearing_ref, found {ref} already posted for this loan",
    )
    return state._clearing_refs | {ref}
