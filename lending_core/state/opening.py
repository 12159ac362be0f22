"""Transitions of the events that open a loan: decision, contract, security, disbursement."""

from __future__ import annotations

from dataclasses import replace

from lending_core.errors import ProductTermsError, UnknownProduct
from lending_core.events import ContractSigned, CreditDecision, Disbursement, Security
from lending_core.products import Catalogue
from lending_core.state.model import CHINA_TZ, Fact, LoanEvent, LoanState, LoanStatus, Terms
from lending_core.state.rules import (
    Reject,
    clearing,
    instant_not_after,
    money,
    not_after,
    require,
)


def on_credit_decision(
    state: LoanState, event: LoanEvent, p: CreditDecision, _: Catalogue | None
) -> LoanState:
    ids = {d.payload.decision_id for d in state.credit_decisions}
    require(
        p.decision_id not in ids,
        "duplicate_decision",
        f"expected a new decision_id, found {p.decision_id} again",
    )
    instant_not_after(event, p.decided_at, "decided_at")
    status = LoanStatus.APPROVED if p.outcome == "approved" else LoanStatus.DECLINED
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, status=status, credit_decisions=(*state.credit_decisions, fact))


def on_contract_signed(
    state: LoanState, event: LoanEvent, p: ContractSigned, catalogue: Catalogue | None
) -> LoanState:
    signed_on = p.e_signature.signed_at.astimezone(CHINA_TZ).date()
    instant_not_after(event, p.e_signature.signed_at, "e_signature.signed_at")
    decision = state.credit_decision
    if p.decision_id is not None:
        decision = next(
            (d for d in state.credit_decisions if d.payload.decision_id == p.decision_id), None
        )
        require(
            decision is not None,
            "unknown_decision",
            f"expected decision_id of a posted credit decision, found {p.decision_id}",
        )
    if decision is not None:
        d = decision.payload
        require(
            d.outcome == "approved",
            "contract_after_decline",
            f"expected an approved credit decision, found {d.decision_id} declined",
        )
        require(
            d.product_code == p.product_code,
            "product_mismatch",
            f"expected product {d.product_code} as approved, found {p.product_code}",
        )
        borrower = p.party("borrower").credit_code
        require(
            d.applicant_credit_code == borrower,
            "borrower_mismatch",
            f"expected borrower {d.applicant_credit_code} as approved, found {borrower}",
        )
        assert d.limit is not None
        require(
            p.amount <= d.limit,
            "over_limit",
            f"expected amount at most the approved limit {money(d.limit)}, found {money(p.amount)}",
        )
        require(
            d.valid_until is None or signed_on <= d.valid_until,
            "decision_expired",
            f"expected signing by {d.valid_until}, found {signed_on}",
        )
    if catalogue is not None:
        try:
            catalogue.get(p.product_code).check_terms(
                p.amount,
                p.term_months,
                p.annual_rate,
                p.repayment_method,
                penalty_markup=p.penalty.markup,
                compound_interest=p.compound_interest.allowed,
            )
        except UnknownProduct as exc:
            raise Reject("unknown_product", str(exc)) from exc
        except ProductTermsError as exc:
            raise Reject("terms_outside_product", str(exc)) from exc
    terms = Terms(
        principal=p.amount,
        term_months=p.term_months,
        annual_rate=p.annual_rate,
        repayment_method=str(p.repayment_method),
        first_due_date=p.first_due_date,
        due_day=p.due_day,
        penalty_markup=p.penalty.markup,
        compound_interest_allowed=p.compound_interest.allowed,
        since=signed_on,
        agreed_by=p.contract_no,
    )
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, status=LoanStatus.CONTRACTED, contract=fact, terms=terms)


def on_security(state: LoanState, event: LoanEvent, p: Security, _: Catalogue | None) -> LoanState:
    ids = {s.payload.security_id for s in state.securities}
    require(
        p.security_id not in ids,
        "duplicate_security",
        f"expected a new security_id, found {p.security_id} again",
    )
    instant_not_after(event, p.signed_at, "signed_at")
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, securities=(*state.securities, fact))


def on_disbursement(
    state: LoanState, event: LoanEvent, p: Disbursement, _: Catalogue | None
) -> LoanState:
    assert state.contract is not None and state.terms is not None
    require(
        state.status not in (LoanStatus.ACCELERATED, LoanStatus.WRITTEN_OFF),
        "disbursement_not_allowed",
        f"expected a performing loan, found {state.status}",
    )
    receipts = {d.payload.receipt_no for d in state.disbursements}
    require(
        p.receipt_no not in receipts,
        "duplicate_receipt",
        f"expected a new receipt_no, found {p.receipt_no} again",
    )
    refs = clearing(state, p.clearing_ref)
    require(
        p.value_date >= state.terms.since,
        "disbursement_before_contract",
        f"expected value_date on or after signing on {state.terms.since}, found {p.value_date}",
    )
    not_after(event, p.value_date, "value_date")
    total = state.disbursed_total + p.amount
    limit = state.contract.payload.amount
    require(
        total <= limit,
        "over_disbursement",
        f"expected total disbursed at most the contract amount {money(limit)}, "
        f"found {money(total)}",
    )
    status = LoanStatus.DISBURSED if state.status == LoanStatus.CONTRACTED else state.status
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(
        state,
        status=status,
        disbursements=(*state.disbursements, fact),
        disbursed_total=total,
        _clearing_refs=refs,
    )
