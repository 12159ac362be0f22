"""The structured claim (`case/claim.json`): the fields of the 要素式 complaint form.

`build_claim(records, venue, as_of)` rebuilds the loan from its stored records, computes
what is owed with `lending_core.interest.compute_arrears` as of `as_of`, and returns a
JSON-serialisable dict with the elements the courts' 要素式起诉状 for 金融借款合同纠纷 asks
for: the parties (lender; borrower and guarantors with their unified social credit codes),
the contract (number, signing, amount, term, rate, repayment method, penalty and compound
clauses), the disbursements, the repayments made, the principal owed, 期内利息, 罚息 and
复利 each with its method of calculation and the rows of the computation table, the
acceleration, the security rights, costs, the total 暂计至 `as_of` and what keeps accruing
each day after it, the 24 % flag, and the dispute-resolution clause. The same dict serves
an arbitration application and a notary's execution-certificate application: the keys are
neutral (`claimant`, `respondents`) and the case file labels them per venue.

Money is a decimal string with two places, rates decimal strings (`"0.0435"`), dates ISO.
Fields the records cannot give (a legal representative, the lender's domicile, pre-suit
preservation) are listed under `to_complete` rather than invented. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dispute.errors import DisputeError
from dispute.rates import missing_repricings, pricing_block, rate_changes, rate_periods
from dispute.selection import VENUES, StoredRecord, Venue, loan_state
from lending_core.events import ContractSigned, Party
from lending_core.events.adjustments import DEFAULT_PREPAYMENT_RULE
from lending_core.interest import compute_arrears, schedules_for
from lending_core.interest_model import (
    AccrualKind,
    ArrearsStatement,
    Charge,
    ComputationRow,
    Disbursement,
    LoanTerms,
    Repayment,
)
from lending_core.money import ZERO, format_money, round_fen
from lending_core.reamortise import PrepaymentRule, rebuilt_schedules
from lending_core.schedule import RepaymentMethod, RepaymentSchedule
from lending_core.state import LoanState

__all__ = [
    "CASE_TYPE",
    "CLAIM_SCHEMA",
    "ArrearsInputs",
    "ClaimError",
    "arrears_for",
    "arrears_in_force",
    "arrears_inputs",
    "build_claim",
    "loan_terms",
]

CLAIM_SCHEMA = "cunzheng.claim/v1"
CASE_TYPE = "金融借款合同纠纷"

_METHOD_ZH = {
    "equal_installment": "等额本息",
    "equal_principal": "等额本金",
    "interest_only": "按月付息、到期还本",
}
_SECURITY_ZH = {"guarantee": "保证", "mortgage": "抵押", "pledge": "质押"}
_LIABILITY_ZH = {"joint_and_several": "连带保证", "general": "一般保证"}


class ClaimError(DisputeError):
    """The claim cannot be computed from the records (no contract, no disbursement...)."""


def _m(value: Decimal) -> str:
    return format_money(value)


def _r(rate: Decimal) -> str:
    text = format(rate.normalize(), "f")
    return text if "." in text else text + ".0"


def _daily(rate: Decimal) -> str:
    """A daily rate to ten places: enough for a judge to redo the sum to the fen."""
    return _r(rate.quantize(Decimal("1e-10")))


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


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
    clauses = {
        "interest_clause": f"借款合同{c.contract_no}",
        "penalty_clause": f"合同第{c.penalty.clause_no}条",
        "compound_clause": f"合同第{c.compound_interest.clause_no}条",
        "acceleration_clause": f"合同第{accel.clause_no}条" if accel else "",
    }
    common = {"penalty_markup": c.penalty.markup,
              "compound_allowed": c.compound_interest.allowed, **clauses}
    repayments = [Repayment(f.payload.amount, f.payload.value_date) for f in state.repayments]
    repayments += [Repayment(f.payload.amount, f.payload.value_date)
                   for f in state.adjustments.prepayments]  # money received all the same
    agreement = _agreement_in_force(state)
    if agreement is not None:
        q = agreement
        terms = LoanTerms(principal=q.principal, annual_rate=q.annual_rate,
                          method=RepaymentMethod(str(q.repayment_method)),
                          term_months=q.term_months, due_day=q.first_due_date.day,
                          first_due_date=q.first_due_date,
                          rate_changes=rate_changes(state, q.effective_date),
                          **common)  # type: ignore[arg-type]
        start = q.effective_date
        repayments = [r for r in repayments if r.value_date >= start]
        accelerated = accel.accelerated_on if accel and accel.accelerated_on >= start else None
        return terms, [Disbursement(q.principal, start)], repayments, accelerated
    due_day = c.due_day or (c.first_due_date.day if c.first_due_date else None)
    terms = LoanTerms(principal=c.amount, annual_rate=c.annual_rate,
                      method=RepaymentMethod(str(c.repayment_method)),
                      term_months=c.term_months, due_day=due_day,
                      first_due_date=c.first_due_date,
                      rate_changes=rate_changes(state, min(f.payload.value_date
                                                           for f in state.disbursements)),
                      **common)  # type: ignore[arg-type]
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
        rule: PrepaymentRule = p.rule or contract_rule or DEFAULT_PREPAYMENT_RULE  # type: ignore[assignment]
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
    i = arrears_inputs(state)
    return compute_arrears(i.terms, i.disbursements, i.repayments, as_of,
                           accelerated_on=i.accelerated_on, charges=(*i.charges, *charges),
                           schedules=i.schedules)


def arrears_for(records: Sequence[StoredRecord], as_of: date,
                charges: Sequence[Charge] = ()) -> ArrearsStatement:
    """The `ArrearsStatement` the claim states, for the loan in `records` on `as_of`."""
    return arrears_in_force(loan_state(records), as_of, charges)


def _party(p: Party, address: str | None = None) -> dict[str, Any]:
    return {"role": p.role, "kind": p.kind, "name": p.name, "credit_code": p.credit_code,
            "identity_ref": p.identity_ref, "address": address,
            "legal_representative": None}


def _row(i: int, row: ComputationRow) -> dict[str, Any]:
    return {
        "no": i, "kind": str(row.kind), "base": _m(row.base),
        "from": row.from_date.isoformat(), "to": row.to_date.isoformat(), "days": row.days,
        "annual_rate": _r(row.annual_rate),
        "daily_rate": _daily(row.daily_rate) if row.daily_rate is not None else None,
        "amount": _m(row.amount), "paid": _m(row.paid), "outstanding": _m(row.outstanding),
        "clause": row.clause, "note": row.note,
    }


def _component(kind: AccrualKind, s: ArrearsStatement, rows: list[dict[str, Any]],
               outstanding: Decimal, method: str) -> dict[str, Any]:
    mine = [r for r in rows if r["kind"] == str(kind)]
    return {
        "amount": _m(outstanding),
        "accrued": _m(sum((Decimal(r["amount"]) for r in mine), ZERO)),
        "paid": _m(sum((Decimal(r["paid"]) for r in mine), ZERO)),
        "method": method,
        "rows": [r["no"] for r in mine],
        "to": s.as_of.isoformat(),
    }


def _methods(c: ContractSigned, terms: LoanTerms, s: ArrearsStatement) -> dict[str, str]:
    to = _zh(s.as_of)
    floating = bool(terms.rate_changes) or c.pricing is not None
    rate_zh = (f"合同年利率{_pct(terms.annual_rate)}" if not floating
               else "各期执行利率（浮动利率，重定价后按新利率，见利率分段表）")
    interest = (f"以各期期初本金余额为基数，按{rate_zh}逐期计算"
                f"（整期按月利率=年利率÷12，不足一期按日利率=年利率÷360乘实际天数）"
                f"{'；重定价日所在期以重定价日为界分段按实际天数计' if floating else ''}"
                f"，扣除已还利息后为欠付期内利息")
    if s.accelerated_on:
        interest += f"；提前到期日{_zh(s.accelerated_on)}当期利息按实际天数计至该日"
    penalty = (f"以逾期本金为基数，按罚息利率年{_pct(s.penalty_rate)}（合同利率"
               f"{_pct(terms.annual_rate)}×(1+{_pct(terms.penalty_markup)})，{terms.penalty_clause}）"
               if not floating else
               f"以逾期本金为基数，按罚息利率（各期执行利率×(1+{_pct(terms.penalty_markup)})，"
               f"{terms.penalty_clause}；现为年{_pct(s.penalty_rate)}，见利率分段表）"
               f"，日利率=年利率÷360，自各笔本金逾期之次日起按实际天数计至{to}")
    if terms.compound_allowed:
        compound = (f"以欠付期内利息为基数，按罚息利率"
                    f"{'（随执行利率调整）' if floating else ''}年{_pct(s.penalty_rate)}"
                    f"（{terms.compound_clause}），日利率=年利率÷360，自各期利息逾期之次日起"
                    f"按实际天数计至{to}；罚息不计复利")
    else:
        compound = f"合同第{c.compound_interest.clause_no}条未约定计收复利，不主张"
    return {"interest": interest, "penalty": penalty, "compound": compound}


def _continuing(s: ArrearsStatement) -> list[dict[str, Any]]:
    start = s.as_of + timedelta(days=1)
    base_zh = {AccrualKind.PENALTY: "逾期本金", AccrualKind.COMPOUND: "欠付期内利息"}
    return [
        {"kind": str(c.kind), "base": _m(c.base), "annual_rate": _r(c.annual_rate),
         "daily_rate": _daily(c.daily_rate), "daily_amount": _m(round_fen(c.daily_amount)),
         "from": start.isoformat(), "clause": c.clause,
         "text": (f"自{_zh(start)}起，以{base_zh.get(c.kind, '')}{_m(c.base)}元为基数，"
                  f"按年利率{_pct(c.annual_rate)}继续计收{c.kind}至实际清偿之日止"
                  f"（每日约{_m(round_fen(c.daily_amount))}元）")}
        for c in s.continuing
    ]


def build_claim(
    records: Sequence[StoredRecord],
    venue: Venue,
    as_of: date,
    *,
    charges: Sequence[Charge] = (),
) -> dict[str, Any]:
    """The claim for `venue` on `as_of` (暂计至), as a JSON-serialisable dict.

    `charges` are costs the contract lets the lender recover (律师费, 公告费...), passed to
    `compute_arrears`. Raises `ClaimError` when the records lack a contract or disbursement.
    """
    if venue not in VENUES:
        raise ClaimError(f"expected venue one of {', '.join(VENUES)}, found {venue!r}")
    state = loan_state(records)
    inputs = arrears_inputs(state)
    terms, disbursements = inputs.terms, list(inputs.disbursements)
    s = arrears_in_force(state, as_of, charges)
    assert state.contract is not None  # loan_terms checked
    c = state.contract.payload
    dr = c.dispute_resolution
    rows = [_row(i, r) for i, r in enumerate(s.rows, start=1)]
    methods = _methods(c, terms, s)
    principal = s.outstanding_principal if s.accelerated_on else s.overdue_principal
    total = principal + s.interest_due + s.penalty_interest + s.compound_interest + s.costs_due
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
            "amount": _m(c.amount),
            "term_months": c.term_months,
            "start_date": min(d.value_date for d in disbursements).isoformat(),
            "end_date": maturity.isoformat(),
            "annual_rate": _r(c.annual_rate),
            "pricing": pricing_block(state),
            "repayment_method": {"code": str(c.repayment_method),
                                 "label": _METHOD_ZH[str(c.repayment_method)]},
            "due_day": terms.due_day,
            "penalty": {"markup": _r(c.penalty.markup), "penalty_rate": _r(s.penalty_rate),
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
            {"receipt_no": f.payload.receipt_no, "amount": _m(f.payload.amount),
             "value_date": f.payload.value_date.isoformat(),
             "clearing_ref": f.payload.clearing_ref, "account": f.payload.account,
             "event_id": f.event_id}
            for f in state.disbursements
        ],
        "disbursed_total": _m(state.disbursed_total),
        "repayments": [
            {"value_date": f.payload.value_date.isoformat(), "amount": _m(f.payload.amount),
             "payer": f.payload.payer, "clearing_ref": f.payload.clearing_ref,
             "counted": f.payload.value_date <= as_of, "event_id": f.event_id}
            for f in state.repayments
        ],
        "allocations": [
            {"value_date": a.value_date.isoformat(), "source": str(a.source),
             "amount": _m(a.amount), "costs": _m(a.costs), "penalty": _m(a.penalty),
             "compound": _m(a.compound), "interest": _m(a.interest),
             "principal": _m(a.principal), "unapplied": _m(a.unapplied)}
            for a in s.allocations
        ],
        "repaid": {k: _m(sum((getattr(a, k) for a in s.allocations), ZERO))
                   for k in ("amount", "costs", "penalty", "compound", "interest", "principal")},
        "defaults": [
            {"installment_no": m.installment_no, "due_date": m.fact.payload.due_date.isoformat(),
             "amount_due": _m(m.fact.payload.amount_due), "resolution": m.resolution,
             "event_id": m.fact.event_id}
            for m in state.missed
        ],
        "acceleration": None if acc is None else {
            "accelerated_on": acc.accelerated_on.isoformat(), "clause_no": acc.clause_no,
            "amount_declared_due": _m(acc.amount_declared_due), "reason": acc.reason,
            "notice_id": acc.notice_id, "counted": s.accelerated_on is not None},
        "security": [
            {"kind": g.kind, "label": _SECURITY_ZH[g.kind], "contract_no": g.contract_no,
             "provider": _party(g.provider), "secured_amount": _m(g.secured_amount),
             "liability": g.liability,
             "collateral": None if g.collateral is None else {
                 "description": g.collateral.description,
                 "registration_ref": g.collateral.registration_ref,
                 "appraised_value": (_m(g.collateral.appraised_value)
                                     if g.collateral.appraised_value is not None else None)}}
            for g in guarantors
        ],
        "amounts": {
            "principal": _m(principal),
            "outstanding_principal": _m(s.outstanding_principal),
            "overdue_principal": _m(s.overdue_principal),
            "not_yet_due_principal": _m(s.not_yet_due_principal),
            "interest": _component(AccrualKind.INTEREST, s, rows, s.interest_due,
                                   methods["interest"]),
            "penalty_interest": _component(AccrualKind.PENALTY, s, rows, s.penalty_interest,
                                           methods["penalty"]),
            "compound_interest": _component(AccrualKind.COMPOUND, s, rows,
                                            s.compound_interest, methods["compound"]),
            "costs": {"amount": _m(s.costs_due), "items": [
                {"description": cs.charge.description, "incurred_on":
                 cs.charge.incurred_on.isoformat(), "amount": _m(cs.charge.amount),
                 "paid": _m(cs.paid), "outstanding": _m(cs.outstanding),
                 "clause": cs.charge.clause} for cs in s.charges]},
            "unapplied_credit": _m(s.unapplied_credit),
            "total": _m(total),
            "total_due": _m(s.total_due),
            "total_outstanding": _m(s.total_outstanding),
        },
        "continuing": _continuing(s),
        "daily_accrual": _m(s.daily_accrual),
        "ceiling": {"annual_rate": _r(s.ceiling), "combined_annual_rate":
                    _r(s.combined_annual_rate.quantize(Decimal("0.000001"))),
                    "penalty_rate": _r(s.penalty_rate), "exceeds_24pct": s.exceeds_24pct},
        "computation": rows,
        "rate_periods": rate_periods(state, terms, min(d.value_date for d in disbursements),
                                     as_of),
        "repricing_missing": [d.isoformat() for d in
                              missing_repricings(state, min(as_of, maturity))],
        "adjustments": _adjustments(state, as_of),
        "dispute_resolution": {"venue": dr.venue, "institution": dr.institution,
                               "clause_no": dr.clause_no, "matches_venue": dr.venue == venue},
        "to_complete": _to_complete(venue, guarantors),
    }
    claim["requests"] = _requests(claim, venue)
    return claim


def _to_complete(venue: Venue, guarantors: Sequence[Any]) -> list[str]:
    """Form fields the records do not hold: the legal team fills them in."""
    fields = ["parties.claimant.address", "parties.claimant.legal_representative",
              "parties.respondents[*].legal_representative"]
    if venue == "court":
        fields.append("pre_suit_preservation")
    if any(g.kind == "guarantee" for g in guarantors):
        fields.append("security[*].guarantee_period")
    return fields


def _requests(claim: dict[str, Any], venue: Venue) -> list[str]:
    """The numbered requests (诉讼请求 / 仲裁请求 / 申请事项) in words."""
    a = claim["amounts"]
    to = claim["accrued_to_label"]
    lines = [f"偿还借款本金{a['principal']}元"]
    parts = [f"期内利息{a['interest']['amount']}元", f"罚息{a['penalty_interest']['amount']}元"]
    if claim["contract"]["compound_interest"]["allowed"]:
        parts.append(f"复利{a['compound_interest']['amount']}元")
    line = "支付" + "、".join(parts) + f"（{to}）"
    if claim["continuing"]:
        line += "；" + "；".join(c["text"] for c in claim["continuing"])
    lines.append(line)
    if Decimal(a["costs"]["amount"]) > 0:
        lines.append(f"支付实现债权的费用{a['costs']['amount']}元")
    for sec in claim["security"]:
        name = sec["provider"]["name"]
        if sec["kind"] == "guarantee":
            lines.append(f"{name}对上述债务在{sec['secured_amount']}元范围内承担"
                         f"{_LIABILITY_ZH.get(sec['liability'] or '', '保证')}责任")
        else:
            lines.append(f"对{name}提供的{sec['label']}财产折价或拍卖、变卖所得价款在"
                         f"{sec['secured_amount']}元范围内优先受偿")
    lines.append({"court": "本案诉讼费用由被告承担", "arbitration": "本案仲裁费用由被申请人承担",
                  "notary": "公证费用由被申请人承担"}[venue])
    return lines


_REASON_ZH = {"wrong_value_date": "起息日错误", "wrong_amount": "金额错误",
              "wrong_allocation": "还款冲抵顺序错误", "other": "其他"}
_TYPE_ZH = {"repayment_received": "还款", "disbursement": "放款", "fee_charged": "费用",
            "prepayment": "提前还款"}
_RULE_ZH = {"lower_installment": "期限不变、减少月供", "shorten_term": "月供不变、缩短期限"}


def _adjustments(state: LoanState, as_of: date) -> dict[str, Any]:
    """Reversals, corrections, prepayments, extensions and fees, as the court reads them.

    A reversed posting is not in `repayments`/`disbursements` (nor in the computation); it
    is listed here with the reversal, so nobody is surprised by a record in the package
    that the figures leave out."""
    notes = [n for n in state.corrections if hasattr(n, "outcome")]
    contract_rule = state.contract.payload.prepayment_rule if state.contract else None
    out: dict[str, Any] = {
        "reversals": [
            {"event_id": n.event_id, "original_event_id": n.original_event_id,
             "original_type": n.original_type, "reversed_on": n.on.isoformat() if n.on else None,
             "reason": n.reason, "applied": n.applied, "finding": None if n.applied else n.outcome,
             "text": (f"{n.on.isoformat() if n.on else ''}冲正{_TYPE_ZH.get(n.original_type, '')}"
                      f"记录{n.original_event_id}（{n.reason}），原记录保留、不计入计算"
                      if n.applied else f"冲正记录{n.event_id}未生效：{n.detail}")}
            for n in notes if n.kind == "reversal"],
        "corrections": [
            {"event_id": n.event_id, "original_event_id": n.original_event_id,
             "original_type": n.original_type, "corrected_on": n.on.isoformat() if n.on else None,
             "reason": n.reason, "applied": n.applied, "finding": None if n.applied else n.outcome,
             "changed": [{"field": f, "from": a, "to": b} for f, a, b in n.changed],
             "text": (f"{n.on.isoformat() if n.on else ''}调账：{_TYPE_ZH.get(n.original_type, '')}"
                      f"记录{n.original_event_id}" + "；".join(
                          f"{f}由{a}更正为{b}" for f, a, b in n.changed) + f"（{n.reason}）"
                      if n.applied else f"调账记录{n.event_id}未生效：{n.detail}")}
            for n in notes if n.kind == "correction"],
        "prepayments": [
            {"event_id": f.event_id, "kind": f.payload.kind,
             "value_date": f.payload.value_date.isoformat(), "amount": _m(f.payload.amount),
             "principal": _m(f.payload.principal), "interest": _m(f.payload.interest),
             "fee": _m(f.payload.fee), "clearing_ref": f.payload.clearing_ref,
             "rule": f.payload.rule or contract_rule or DEFAULT_PREPAYMENT_RULE,
             "counted": f.payload.value_date <= as_of,
             "text": (f"{f.payload.value_date.isoformat()}"
                      f"{'提前结清' if f.payload.kind == 'full' else '部分提前还款'}"
                      f"{_m(f.payload.amount)}元（本金{_m(f.payload.principal)}元、利息"
                      f"{_m(f.payload.interest)}元、提前还款违约金{_m(f.payload.fee)}元）"
                      + ("" if f.payload.kind == "full" else "，剩余本金按"
                         f"{_RULE_ZH[f.payload.rule or contract_rule or DEFAULT_PREPAYMENT_RULE]}"
                         "重新计算还款计划"))}
            for f in state.adjustments.prepayments],
        "extensions": [
            {"event_id": r.fact.event_id, "agreement_no": r.fact.payload.agreement_no,
             "effective_date": r.fact.payload.effective_date.isoformat(),
             "original_maturity": r.fact.payload.original_maturity.isoformat(),
             "new_maturity": r.fact.payload.new_maturity.isoformat(),
             "principal": _m(r.fact.payload.principal), "annual_rate": _r(r.annual_rate),
             "repayment_method": r.repayment_method, "term_months": r.fact.payload.term_months,
             "exceeds_limit": r.exceeds_limit,
             "text": (f"依展期协议{r.fact.payload.agreement_no}，贷款到期日由"
                      f"{r.fact.payload.original_maturity.isoformat()}展期至"
                      f"{r.fact.payload.new_maturity.isoformat()}，自"
                      f"{r.fact.payload.effective_date.isoformat()}起本金"
                      f"{_m(r.fact.payload.principal)}元按年利率{_pct(r.annual_rate)}、"
                      f"{_METHOD_ZH.get(r.repayment_method, r.repayment_method)}分"
                      f"{r.fact.payload.term_months}期重新计算还款计划"
                      + (f"（注意：{r.exceeds_limit}）" if r.exceeds_limit else ""))}
            for r in state.adjustments.extensions],
        "fees": [
            {"event_id": f.event_id, "fee_id": f.payload.fee_id, "kind": f.payload.kind,
             "amount": _m(f.payload.amount), "charged_on": f.payload.charged_on.isoformat(),
             "description": f.payload.description, "clause_no": f.payload.clause_no}
            for f in state.adjustments.fees],
    }
    return out
