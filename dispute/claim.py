"""The structured claim (`case/claim.json`): the fields of the 要素式 complaint form.

`build_claim(records, venue, as_of)` rebuilds the loan from its stored records, computes
what is owed with `lending_core.interest.compute_arrears` as of `as_of`, and returns a
JSON-serialisable dict with the elements the courts' 要素式起诉状 for 金融借款合同纠纷 asks
for: the parties (lender; borrower and guarantors with their unified social credit codes),
the contract (number, signing, amount, term, rate, repayment method, penalty and compound
clauses), the disbursements, the repayments made, the principal owed, 期内利息, 罚息 and
复利 each with its method of calculation and the rows of the computation table, the
acceleration, the security rights, costs, the total 暂计至 `as_of` and what keeps accruing
each day after it, the 24 % total-cost test (`dispute.cost_cap`: interest, 复利, 罚息,
违约金 and fees over the period against 24 % a year on the unpaid principal, the claim
lowered to the cap when exceeded), and the dispute-resolution clause. The same dict serves
an arbitration application and a notary's execution-certificate application: the keys are
neutral (`claimant`, `respondents`) and the case file labels them per venue.

Money is a decimal string with two places, rates decimal strings (`"0.0435"`), dates ISO.
Fields the records cannot give (a legal representative, the lender's domicile, pre-suit
preservation) are listed under `to_complete` rather than invented. Pure: no clock, no I/O.

`claim_for(loan, venue, as_of)` reads a loan folded once (`dispute.records.FoldedLoan`);
the figures come from `dispute.arrears` (worked out once per claim) and
`dispute.claim_amounts`, the requests and explanations from `dispute.claim_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from dispute.arrears import (
    ArrearsInputs,
    ClaimError,
    arrears_for,
    arrears_in_force,
    arrears_inputs,
    loan_terms,
    statement,
)
from dispute.claim_amounts import amounts_block, ceiling_block, continuing, money, rate_text
from dispute.claim_text import adjustments, requests, to_complete
from dispute.cost_cap import cost_cap_for
from dispute.evidence import VENUES, Venue
from dispute.rates import missing_repricings, pricing_block, rate_periods
from dispute.records import FoldedLoan, StoredRecord
from dispute.wording import METHOD_ZH
from lending_core.events import Party
from lending_core.interest_model import Charge
from lending_core.money import ZERO

__all__ = [
    "CASE_TYPE",
    "CLAIM_SCHEMA",
    "ArrearsInputs",
    "ClaimError",
    "arrears_for",
    "arrears_in_force",
    "arrears_inputs",
    "build_claim",
    "claim_for",
    "loan_terms",
]

CLAIM_SCHEMA = "cunzheng.claim/v1"
CASE_TYPE = "金融借款合同纠纷"

_SECURITY_ZH = {"guarantee": "保证", "mortgage": "抵押", "pledge": "质押"}


def _check_venue(venue: str) -> None:
    if venue not in VENUES:
        raise ClaimError(f"expected venue one of {', '.join(VENUES)}, found {venue!r}")


def _party(p: Party, address: str | None = None) -> dict[str, Any]:
    return {"role": p.role, "kind": p.kind, "name": p.name, "credit_code": p.credit_code,
            "identity_ref": p.identity_ref, "address": address,
            "legal_representative": None}


def build_claim(
    records: Sequence[StoredRecord],
    venue: Venue,
    as_of: date,
    *,
    charges: Sequence[Charge] = (),
    include_fees: bool = True,
) -> dict[str, Any]:
    """The claim for `venue` on `as_of` (暂计至), as a JSON-serialisable dict.

    `charges` are costs the contract lets the lender recover (律师费, 公告费...), passed to
    `compute_arrears`. `include_fees`: whether such fees count in the 24 % total-cost test
    (court practice; default counts them, as 法发〔2017〕22号 第2条 names 其他费用).
    Raises `ClaimError` when the records lack a contract or disbursement.
    """
    _check_venue(venue)
    return claim_for(FoldedLoan.fold(records), venue, as_of, charges=charges,
                     include_fees=include_fees)


def claim_for(
    loan: FoldedLoan,
    venue: Venue,
    as_of: date,
    *,
    charges: Sequence[Charge] = (),
    include_fees: bool = True,
) -> dict[str, Any]:
    """`build_claim` for a loan already folded (the case composition folds it once)."""
    _check_venue(venue)
    state = loan.state
    inputs = arrears_inputs(state)
    terms, disbursements = inputs.terms, list(inputs.disbursements)
    s = statement(inputs, as_of, charges)
    assert state.contract is not None  # loan_terms checked
    c = state.contract.payload
    dr = c.dispute_resolution
    cap = cost_cap_for(s, disbursements, include_fees=include_fees)
    rows, amounts = amounts_block(c, terms, s, cap)
    maturity = max(sch.installments[-1].due_date for sch in inputs.schedules)
    borrower = c.party("borrower")
    guarantors = [f.payload for f in state.securities]
    respondents = [_party(borrower, c.service_address.address)]
    respondents += [_party(g.provider) for g in guarantors
                    if g.provider.role != "borrower"]
    acc = state.acceleration.payload if state.acceleration else None
    claim: dict[str, Any] = {
        "schema": CLAIM_SCHEMA,
        "case_type": CASE_TYPE,
        "venue": venue,
        "loan_id": state.loan_id,
        "as_of": as_of.isoformat(),
        "accrued_to_label": s.accrued_to_label,
        "parties": {"claimant": _party(c.party("lender")), "respondents": respondents},
        "contract": {
            "contract_no": c.contract_no,
            "name": "借款合同",
            "product_code": c.product_code,
            "signed_at": c.e_signature.signed_at.isoformat(),
            "signing_method": "电子签名",
            "certificate_serial": c.e_signature.certificate_serial,
            "amount": money(c.amount),
            "term_months": c.term_months,
            "start_date": min(d.value_date for d in disbursements).isoformat(),
            "end_date": maturity.isoformat(),
            "annual_rate": rate_text(c.annual_rate),
            "pricing": pricing_block(state),
            "repayment_method": {"code": str(c.repayment_method),
                                 "label": METHOD_ZH[str(c.repayment_method)]},
            "due_day": terms.due_day,
            "penalty": {"markup": rate_text(c.penalty.markup),
                        "penalty_rate": rate_text(s.penalty_rate),
                        "clause_no": c.penalty.clause_no},
            "compound_interest": {"allowed": c.compound_interest.allowed,
                                  "clause_no": c.compound_interest.clause_no},
            "service_address": {"address": c.service_address.address,
                                "channels": [{"channel": str(ch.channel), "address": ch.address}
                                             for ch in c.service_address.channels],
                                "clause_no": c.service_address.clause_no},
            "restructured_by": [f.payload.agreement_no for f in state.restructurings],
            "extended_by": [r.fact.payload.agreement_no for r in state.adjustments.extensions],
        },
        "disbursements": [
            {"receipt_no": f.payload.receipt_no, "amount": money(f.payload.amount),
             "value_date": f.payload.value_date.isoformat(),
             "clearing_ref": f.payload.clearing_ref, "account": f.payload.account,
             "event_id": f.event_id}
            for f in state.disbursements
        ],
        "disbursed_total": money(state.disbursed_total),
        "repayments": [
            {"value_date": f.payload.value_date.isoformat(), "amount": money(f.payload.amount),
             "payer": f.payload.payer, "clearing_ref": f.payload.clearing_ref,
             "counted": f.payload.value_date <= as_of, "event_id": f.event_id}
            for f in state.repayments
        ],
        "allocations": [
            {"value_date": a.value_date.isoformat(), "source": str(a.source),
             "amount": money(a.amount), "costs": money(a.costs), "penalty": money(a.penalty),
             "compound": money(a.compound), "interest": money(a.interest),
             "principal": money(a.principal), "unapplied": money(a.unapplied)}
            for a in s.allocations
        ],
        "repaid": {k: money(sum((getattr(a, k) for a in s.allocations), ZERO))
                   for k in ("amount", "costs", "penalty", "compound", "interest", "principal")},
        "defaults": [
            {"installment_no": m.installment_no, "due_date": m.fact.payload.due_date.isoformat(),
             "amount_due": money(m.fact.payload.amount_due), "resolution": m.resolution,
             "event_id": m.fact.event_id}
            for m in state.missed
        ],
        "acceleration": None if acc is None else {
            "accelerated_on": acc.accelerated_on.isoformat(), "clause_no": acc.clause_no,
            "amount_declared_due": money(acc.amount_declared_due), "reason": acc.reason,
            "notice_id": acc.notice_id, "counted": s.accelerated_on is not None},
        "security": [
            {"kind": g.kind, "label": _SECURITY_ZH[g.kind], "contract_no": g.contract_no,
             "provider": _party(g.provider), "secured_amount": money(g.secured_amount),
             "liability": g.liability,
             "collateral": None if g.collateral is None else {
                 "description": g.collateral.description,
                 "registration_ref": g.collateral.registration_ref,
                 "appraised_value": (money(g.collateral.appraised_value)
                                     if g.collateral.appraised_value is not None else None)}}
            for g in guarantors
        ],
        "amounts": amounts,
        "continuing": continuing(s),
        "daily_accrual": money(s.daily_accrual),
        "ceiling": ceiling_block(s, cap),
        "computation": rows,
        "rate_periods": rate_periods(state, terms, min(d.value_date for d in disbursements),
                                     as_of),
        "repricing_missing": [d.isoformat() for d in
                              missing_repricings(state, min(as_of, maturity))],
        "adjustments": adjustments(state, as_of),
        "dispute_resolution": {"venue": dr.venue, "institution": dr.institution,
                               "clause_no": dr.clause_no, "matches_venue": dr.venue == venue},
        "to_complete": to_complete(venue, guarantors),
    }
    claim["requests"] = requests(claim, venue)
    return claim
