"""Transitions of the adjusting events: fee postings, prepayments, extensions, reversals and
corrections.

Reversals and corrections change which events the fold takes (`corrections.effective`);
their own transition records the fact, or raises the finding code `effective` found. Passed
to the strict `apply` without that judgement (a single step on a state), a reversal or
correction is judged against the state itself: its original must have been applied.

A prepayment (提前还款) is money received like a repayment: it counts in `received_total`
and its principal in `principal_repaid`. The schedule it re-amortises is arithmetic, not
state: see `lending_core.reamortise`. An extension (展期) replaces the terms in force from its
effective date, like a restructuring, keeping the rate and method unless it restates them;
beyond the limits of 《贷款通则》 art. 12 it is still applied (the agreement binds the
parties) and flagged in `ExtensionRecord.exceeds_limit`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lending_core.events import Correction, Extension, FeeCharged, Prepayment, Reversal
from lending_core.products import Catalogue
from lending_core.state import intrinsic
from lending_core.state.adjustment_facts import ExtensionRecord
from lending_core.state.model import Fact, LoanEvent, LoanState, LoanStatus
from lending_core.state.pricing import rate_on
from lending_core.state.rules import (
    Reject,
    clearing,
    instant_not_after,
    money,
    need_disbursed,
    not_after,
    on_agreed_terms,
    performing,
    require,
)

__all__ = [
    "INTRINSIC_CODES",
    "extension_limit_problem",
    "on_correction",
    "on_extension",
    "on_fee_charged",
    "on_prepayment",
    "on_reversal",
]

INTRINSIC_CODES: frozenset[str] = frozenset({"self_reference"})
"""Codes no later arrival can change: an adjustment naming itself as its original."""


def _self_reference(event: LoanEvent, p: Any) -> None:
    require(
        p.original_event_id != event.event_id,
        "self_reference",
        f"expected original_event_id of another event, found the event's own {event.event_id}",
    )


def _dates(*paths: str) -> intrinsic.Check:
    def check(event: LoanEvent, p: Any) -> None:
        for path in paths:
            value: Any = p
            for part in path.split("."):
                value = getattr(value, part, None)
            if value is not None:
                not_after(event, value, path)

    return check


intrinsic.register("fee_charged", _dates("charged_on"))
intrinsic.register("prepayment", _dates("value_date"))
intrinsic.register("reversal", _dates("reversed_on"))
intrinsic.register("reversal", _self_reference)
intrinsic.register("correction", _dates("corrected_on", "corrected.value_date"))
intrinsic.register("correction", _self_reference)
intrinsic.register(
    "extension",
    lambda event, p: instant_not_after(event, p.e_signature.signed_at, "e_signature.signed_at"),
)


def on_fee_charged(
    state: LoanState, event: LoanEvent, p: FeeCharged, _: Catalogue | None
) -> LoanState:
    fees = state.adjustments.fees
    require(
        all(f.payload.fee_id != p.fee_id for f in fees),
        "duplicate_fee",
        f"expected a new fee_id, found {p.fee_id} already charged",
    )
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, adjustments=replace(state.adjustments, fees=(*fees, fact)))


def on_prepayment(
    state: LoanState, event: LoanEvent, p: Prepayment, _: Catalogue | None
) -> LoanState:
    first = need_disbursed(state, "a prepayment")
    require(
        p.value_date >= first,
        "prepayment_before_disbursement",
        f"expected value_date on or after the first disbursement on {first}, found {p.value_date}",
    )
    refs = clearing(state, p.clearing_ref)
    require(
        p.principal <= state.principal_outstanding,
        "over_prepayment",
        f"expected principal at most the outstanding {money(state.principal_outstanding)}, "
        f"found {money(p.principal)}",
    )
    fact = Fact(event.event_id, event.occurred_at, p)
    adjustments = replace(state.adjustments, prepayments=(*state.adjustments.prepayments, fact))
    return replace(
        state,
        adjustments=adjustments,
        received_total=state.received_total + p.amount,
        principal_repaid=state.principal_repaid + p.principal,
        _clearing_refs=refs,
    )


def extension_limit_problem(original_term_months: int, extended_months: int) -> str | None:
    """The 《贷款通则》 art. 12 limit that `extended_months` (cumulative) exceeds, if any.

    短期贷款 (term up to one year): at most the original term; 中期 (up to five years): at
    most half of it; 长期: at most three years."""
    if original_term_months <= 12:
        limit, rule = original_term_months, "短期贷款展期累计不得超过原贷款期限"
    elif original_term_months <= 60:
        limit, rule = original_term_months // 2, "中期贷款展期累计不得超过原贷款期限的一半"
    else:
        limit, rule = 36, "长期贷款展期累计不得超过三年"
    if extended_months <= limit:
        return None
    return f"《贷款通则》第十二条：{rule}（{limit}个月），累计展期{extended_months}个月"


def on_extension(
    state: LoanState, event: LoanEvent, p: Extension, _: Catalogue | None
) -> LoanState:
    assert state.terms is not None and state.contract is not None
    first = need_disbursed(state, "an extension")
    require(
        state.status not in (LoanStatus.WRITTEN_OFF, LoanStatus.ACCELERATED),
        "extension_not_allowed",
        f"expected a loan neither accelerated nor written off, found it {state.status}",
    )
    agreements = {r.fact.payload.agreement_no for r in state.adjustments.extensions}
    agreements |= {r.payload.agreement_no for r in state.restructurings}
    require(
        p.agreement_no not in agreements,
        "duplicate_agreement",
        f"expected a new agreement_no, found {p.agreement_no} again",
    )
    require(
        p.effective_date >= first,
        "extension_before_disbursement",
        f"expected effective_date on or after {first}, found {p.effective_date}",
    )
    require(
        p.principal <= state.principal_outstanding,
        "over_extended_principal",
        f"expected principal at most the outstanding {money(state.principal_outstanding)}, "
        f"found {money(p.principal)}",
    )
    # A floating loan keeps the rate in force on the effective date (after any repricing).
    in_force = rate_on(state, p.effective_date)
    rate = p.annual_rate if p.annual_rate is not None else (in_force or state.terms.annual_rate)
    method = str(p.repayment_method or state.terms.repayment_method)
    extended = p.extension_months + sum(
        r.fact.payload.extension_months for r in state.adjustments.extensions)
    record = ExtensionRecord(Fact(event.event_id, event.occurred_at, p), rate, method,
                             extension_limit_problem(state.contract.payload.term_months, extended))
    status = performing(state) if state.status is LoanStatus.OVERDUE else state.status
    adjustments = replace(state.adjustments, extensions=(*state.adjustments.extensions, record))
    return replace(on_agreed_terms(state, event, p, rate, method), status=status,
                   adjustments=adjustments)


def _judged(state: LoanState, event: LoanEvent, original_event_id: str) -> None:
    """Raise the finding `effective` found, or judge against the state in a strict step."""
    outcome = getattr(event, "outcome", None)
    if outcome is None:  # strict `apply`: no judgement over the whole loan was made
        require(
            original_event_id in state.event_ids,
            "unknown_original",
            f"expected original event {original_event_id} applied to this loan, found none",
        )
        earlier = [r.payload.original_event_id for r in state.adjustments.reversals]
        require(
            original_event_id not in earlier,
            "already_reversed" if event.type == "reversal" else "original_reversed",
            f"expected {original_event_id} not reversed, found it reversed",
        )
        return
    if outcome != "applied":
        raise Reject(outcome, getattr(event, "detail", "") or outcome)


def on_reversal(state: LoanState, event: LoanEvent, p: Reversal, _: Catalogue | None) -> LoanState:
    _judged(state, event, p.original_event_id)
    fact = Fact(event.event_id, event.occurred_at, p)
    adjustments = replace(state.adjustments, reversals=(*state.adjustments.reversals, fact))
    return replace(state, adjustments=adjustments)


def on_correction(
    state: LoanState, event: LoanEvent, p: Correction, _: Catalogue | None
) -> LoanState:
    _judged(state, event, p.original_event_id)
    fact = Fact(event.event_id, event.occurred_at, p)
    adjustments = replace(state.adjustments, corrections=(*state.adjustments.corrections, fact))
    return replace(state, adjustments=adjustments)
