"""What the loan's records make owed: the terms in force and the inputs of the arrears.

`loan_terms(state)` reads the terms in force (the contract's, or the latest restructuring's
or extension's from its effective date), the disbursements, the repayments and the
acceleration date; `arrears_inputs(state)` adds each prepayment's re-amortised schedule and
the fees posted; `arrears_in_force(state, as_of)` is the `ArrearsStatement` every view that
shows arrears uses, so the loan view, monitoring and the claim state the same figures.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from dispute.errors import DisputeError
from dispute.rates import rate_changes
from dispute.records import StoredRecord, loan_state
from lending_core.events.adjustments import DEFAULT_PREPAYMENT_RULE
from lending_core.interest import compute_arrears, schedules_for
from lending_core.interest_model import (
    ArrearsStatement,
    Charge,
    Disbursement,
    LoanTerms,
    Repayment,
)
from lending_core.reamortise import PrepaymentRule, rebuilt_schedules
from lending_core.schedule import RepaymentMethod, RepaymentSchedule
from lending_core.state import LoanState

__all__ = [
    "ArrearsInputs",
    "ClaimError",
    "arrears_for",
    "arrears_in_force",
    "arrears_inputs",
    "loan_terms",
    "statement",
]


class ClaimError(DisputeError):
    """The claim cannot be computed from the records (no contract, no disbursement...)."""


def loan_terms(state: LoanState) -> tuple[LoanTerms, list[Disbursement], list[Repayment],
                                          date | None]:
    """The terms in force, the disbursements, repayments and acceleration date to replay.

    After a restructuring or an extension (展期), whichever took effect last, its principal
    is replayed as one disbursement on its effective date, on its terms (an extension keeps
    the rate and method in force unless it restates them); before it, as follows.
    Prepayments count as repayments (their schedules are rebuilt by `arrears_inputs`).
    After a restructuring the restructured principal is replayed as one disbursement on
    the agreement's effective date, on the new terms, with the repayments from that date on.
    """
    if state.contract is None:
        raise ClaimError("expected a contract_signed record, found none")
    if not state.disbursements:
        raise ClaimError("expected at least one disbursement record, found none")
    c = state.contract.payload
    accel = state.acceleration.payload if state.acceleration else None

    def terms_from(since: date, principal: Decimal, annual_rate: Decimal, method: str,
                   term_months: int, due_day: int | None,
                   first_due_date: date | None) -> LoanTerms:
        """Terms on these figures, with the contract's penalty and compound clauses."""
        return LoanTerms(principal=principal, annual_rate=annual_rate,
                         method=RepaymentMethod(method), term_months=term_months,
                         due_day=due_day, first_due_date=first_due_date,
                         rate_changes=rate_changes(state, since),
                         penalty_markup=c.penalty.markup,
                         compound_allowed=c.compound_interest.allowed,
                         interest_clause=f"借款合同{c.contract_no}",
                         penalty_clause=f"合同第{c.penalty.clause_no}条",
                         compound_clause=f"合同第{c.compound_interest.clause_no}条",
                         acceleration_clause=f"合同第{accel.clause_no}条" if accel else "")

    repayments = [Repayment(f.payload.amount, f.payload.value_date) for f in state.repayments]
    repayments += [Repayment(f.payload.amount, f.payload.value_date)
                   for f in state.adjustments.prepayments]  # money received all the same
    agreement = _agreement_in_force(state)
    if agreement is not None:
        q = agreement
        terms = terms_from(q.effective_date, q.principal, q.annual_rate,
                           str(q.repayment_method), q.term_months, q.first_due_date.day,
                           q.first_due_date)
        start = q.effective_date
        repayments = [r for r in repayments if r.value_date >= start]
        accelerated = accel.accelerated_on if accel and accel.accelerated_on >= start else None
        return terms, [Disbursement(q.principal, start)], repayments, accelerated
    due_day = c.due_day or (c.first_due_date.day if c.first_due_date else None)
    terms = terms_from(min(f.payload.value_date for f in state.disbursements), c.amount,
                       c.annual_rate, str(c.repayment_method), c.term_months, due_day,
                       c.first_due_date)
    disbursements = [Disbursement(f.payload.amount, f.payload.value_date)
                     for f in state.disbursements]
    return terms, disbursements, repayments, accel.accelerated_on if accel else None


@dataclass(frozen=True)
class _Agreement:
    """The terms a restructuring (重组) or an extension (展期) puts in force."""

    agreement_no: str
    kind: str  # "restructuring" | "extension"
    effective_date: date
    principal: Decimal
    annual_rate: Decimal
    repayment_method: str
    term_months: int
    first_due_date: date


def _agreement_in_force(state: LoanState) -> _Agreement | None:
    """The latest restructuring or extension (by effective date, then event time)."""
    found: list[tuple[date, Any, _Agreement]] = [
        (f.payload.effective_date, f.occurred_at, _Agreement(
            f.payload.agreement_no, "restructuring", f.payload.effective_date,
            f.payload.principal, f.payload.annual_rate, str(f.payload.repayment_method),
            f.payload.term_months, f.payload.first_due_date))
        for f in state.restructurings]
    found += [
        (r.fact.payload.effective_date, r.fact.occurred_at, _Agreement(
            r.fact.payload.agreement_no, "extension", r.fact.payload.effective_date,
            r.fact.payload.principal, r.annual_rate, r.repayment_method,
            r.fact.payload.term_months, r.fact.payload.first_due_date))
        for r in state.adjustments.extensions]
    return max(found, key=lambda x: (x[0], x[1]))[2] if found else None


@dataclass(frozen=True)
class ArrearsInputs:
    """Everything `compute_arrears` needs for a loan's state, schedules rebuilt and fees."""

    terms: LoanTerms
    disbursements: tuple[Disbursement, ...]
    repayments: tuple[Repayment, ...]
    accelerated_on: date | None
    schedules: tuple[RepaymentSchedule, ...]
    charges: tuple[Charge, ...]


def arrears_inputs(state: LoanState) -> ArrearsInputs:
    """`loan_terms`, plus each prepayment's re-amortisation (`lending_core.reamortise`) and
    the fees posted (`fee_charged`, prepayment fees) as recoverable costs.

    Prepayments before the terms in force (a later restructuring or extension restates the
    debt) and on or after an acceleration (everything is due: the money is a repayment)
    re-amortise nothing."""
    terms, disbursements, repayments, accelerated = loan_terms(state)
    start = min(d.value_date for d in disbursements)
    assert state.contract is not None  # loan_terms checked
    contract_rule = state.contract.payload.prepayment_rule
    prepayments: list[tuple[date, Decimal, bool, PrepaymentRule]] = []
    charges: list[Charge] = []
    for f in state.adjustments.prepayments:
        p = f.payload
        if p.fee > 0 and p.value_date >= start:
            charges.append(Charge(p.fee, p.value_date, "提前还款违约金",
                                  f"合同第{p.fee_clause_no}条"))
        if p.value_date < start or (accelerated is not None and p.value_date >= accelerated):
            continue
        rule: PrepaymentRule = p.rule or contract_rule or DEFAULT_PREPAYMENT_RULE
        prepayments.append((p.value_date, p.principal, p.kind == "full", rule))
    for fee in state.adjustments.fees:
        q = fee.payload
        if q.charged_on >= start:
            charges.append(Charge(q.amount, q.charged_on, q.description, f"合同第{q.clause_no}条"))
    schedules = rebuilt_schedules(schedules_for(terms, disbursements), prepayments)
    return ArrearsInputs(terms, tuple(disbursements), tuple(repayments), accelerated,
                         schedules, tuple(charges))


def arrears_in_force(state: LoanState, as_of: date,
                     charges: Sequence[Charge] = ()) -> ArrearsStatement:
    """The `ArrearsStatement` of `state` on `as_of`: the claim's figures (any view that
    shows arrears calls this, so its figures are the claim's)."""
    return statement(arrears_inputs(state), as_of, charges)


def statement(i: ArrearsInputs, as_of: date, charges: Sequence[Charge] = ()) -> ArrearsStatement:
    """`compute_arrears` on inputs already worked out (the claim works them out once)."""
    return compute_arrears(i.terms, i.disbursements, i.repayments, as_of,
                           accelerated_on=i.accelerated_on, charges=(*i.charges, *charges),
                           schedules=i.schedules)


def arrears_for(records: Sequence[StoredRecord], as_of: date,
                charges: Sequence[Charge] = ()) -> ArrearsStatement:
    """The `ArrearsStatement` the claim states, for the loan in `records` on `as_of`."""
    return arrears_in_force(loan_state(records), as_of, charges)
