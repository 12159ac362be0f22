"""The claim's figures: the computation table, each kind of interest and how it is computed.

From an `ArrearsStatement` (`dispute.arrears`): the rows of the interest computation
table, 期内利息, 罚息 and 复利 each with the rows it sums and its method of calculation in
words a judge can redo, costs, totals, what keeps accruing each day after 暂计至, and the
total-cost test against the 24 % line (`dispute.cost_cap`), with the claimed components
lowered to the cap when it is exceeded (each component's `cap_reduction`). Money is a
decimal string with two places, rates decimal strings (`"0.0435"`), daily rates to ten
places.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from dispute.cost_cap import AUTHORITY, COST_KINDS, CostCapResult
from dispute.wording import pct, zh_date
from lending_core.events import ContractSigned
from lending_core.interest_model import AccrualKind, ArrearsStatement, ComputationRow, LoanTerms
from lending_core.money import ZERO, format_money, round_fen

__all__ = ["amounts_block", "ceiling_block", "computation_row", "continuing", "daily_rate_text",
           "money", "rate_text"]


def money(value: Decimal) -> str:
    return format_money(value)


def rate_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def daily_rate_text(value: Decimal) -> str:
    """A daily rate to ten places: enough for a judge to redo the sum to the fen."""
    return rate_text(value.quantize(Decimal("1e-10")))


def computation_row(i: int, row: ComputationRow) -> dict[str, Any]:
    return {
        "no": i, "kind": str(row.kind), "base": money(row.base),
        "from": row.from_date.isoformat(), "to": row.to_date.isoformat(), "days": row.days,
        "annual_rate": rate_text(row.annual_rate),
        "daily_rate": daily_rate_text(row.daily_rate) if row.daily_rate is not None else None,
        "amount": money(row.amount), "paid": money(row.paid), "outstanding": money(row.outstanding),
        "clause": row.clause, "note": row.note,
    }


def component(kind: AccrualKind, s: ArrearsStatement, rows: list[dict[str, Any]],
              outstanding: Decimal, method: str, reduction: Decimal = ZERO) -> dict[str, Any]:
    """One kind of interest: `amount` is what is claimed, after `cap_reduction`."""
    mine = [r for r in rows if r["kind"] == str(kind)]
    return {
        "amount": money(outstanding - reduction),
        "before_cap": money(outstanding),
        "cap_reduction": money(reduction),
        "accrued": money(sum((Decimal(r["amount"]) for r in mine), ZERO)),
        "paid": money(sum((Decimal(r["paid"]) for r in mine), ZERO)),
        "method": method,
        "rows": [r["no"] for r in mine],
        "to": s.as_of.isoformat(),
    }


def methods(c: ContractSigned, terms: LoanTerms, s: ArrearsStatement) -> dict[str, str]:
    to = zh_date(s.as_of)
    floating = bool(terms.rate_changes) or c.pricing is not None
    rate_zh = (f"合同年利率{pct(terms.annual_rate)}" if not floating
               else "各期执行利率（浮动利率，重定价后按新利率，见利率分段表）")
    interest = (f"以各期期初本金余额为基数，按{rate_zh}逐期计算"
                f"（整期按月利率=年利率÷12，不足一期按日利率=年利率÷360乘实际天数）"
                f"{'；重定价日所在期以重定价日为界分段按实际天数计' if floating else ''}"
                f"，扣除已还利息后为欠付期内利息")
    if s.accelerated_on:
        interest += f"；提前到期日{zh_date(s.accelerated_on)}当期利息按实际天数计至该日"
    penalty = (f"以逾期本金为基数，按罚息利率年{pct(s.penalty_rate)}（合同利率"
               f"{pct(terms.annual_rate)}×(1+{pct(terms.penalty_markup)})，{terms.penalty_clause}）"
               if not floating else
               f"以逾期本金为基数，按罚息利率（各期执行利率×(1+{pct(terms.penalty_markup)})，"
               f"{terms.penalty_clause}；现为年{pct(s.penalty_rate)}，见利率分段表）"
               f"，日利率=年利率÷360，自各笔本金逾期之次日起按实际天数计至{to}")
    if terms.compound_allowed:
        compound = (f"以欠付期内利息为基数，按罚息利率"
                    f"{'（随执行利率调整）' if floating else ''}年{pct(s.penalty_rate)}"
                    f"（{terms.compound_clause}），日利率=年利率÷360，自各期利息逾期之次日起"
                    f"按实际天数计至{to}；罚息不计复利")
    else:
        compound = f"合同第{c.compound_interest.clause_no}条未约定计收复利，不主张"
    return {"interest": interest, "penalty": penalty, "compound": compound}


def continuing(s: ArrearsStatement) -> list[dict[str, Any]]:
    start = s.as_of + timedelta(days=1)
    base_zh = {AccrualKind.PENALTY: "逾期本金", AccrualKind.COMPOUND: "欠付期内利息"}
    return [
        {"kind": str(c.kind), "base": money(c.base), "annual_rate": rate_text(c.annual_rate),
         "daily_rate": daily_rate_text(c.daily_rate),
         "daily_amount": money(round_fen(c.daily_amount)),
         "from": start.isoformat(), "clause": c.clause,
         "text": (f"自{zh_date(start)}起，以{base_zh.get(c.kind, '')}{money(c.base)}元为基数，"
                  f"按年利率{pct(c.annual_rate)}继续计收{c.kind}至实际清偿之日止"
                  f"（每日约{money(round_fen(c.daily_amount))}元）")}
        for c in s.continuing
    ]


def amounts_block(c: ContractSigned, terms: LoanTerms, s: ArrearsStatement,
                  cap: CostCapResult | None = None) -> tuple[list[dict[str, Any]],
                                                            dict[str, Any]]:
    """The computation table's rows and the claim's `amounts`: principal claimed, each kind
    of interest with its rows and method, costs, and the totals.

    With `cap` (the 24 % total-cost test), each component is lowered by its reduction and
    the totals by their sum (`cap_reduction`); `total` stays the sum of the parts."""
    rows = [computation_row(i, r) for i, r in enumerate(s.rows, start=1)]
    m = methods(c, terms, s)
    cut = {k: (cap.reduction[k] if cap else ZERO) for k in COST_KINDS}
    cut_costs = cut["fees"] + cut["liquidated_damages"]
    cut_total = sum(cut.values(), ZERO)
    principal = s.outstanding_principal if s.accelerated_on else s.overdue_principal
    total = (principal + s.interest_due + s.penalty_interest + s.compound_interest
             + s.costs_due - cut_total)
    return rows, {
        "principal": money(principal),
        "outstanding_principal": money(s.outstanding_principal),
        "overdue_principal": money(s.overdue_principal),
        "not_yet_due_principal": money(s.not_yet_due_principal),
        "interest": component(AccrualKind.INTEREST, s, rows, s.interest_due, m["interest"],
                              cut["interest"]),
        "penalty_interest": component(AccrualKind.PENALTY, s, rows, s.penalty_interest,
                                      m["penalty"], cut["penalty"]),
        "compound_interest": component(AccrualKind.COMPOUND, s, rows,
                                       s.compound_interest, m["compound"], cut["compound"]),
        "costs": {"amount": money(s.costs_due - cut_costs), "before_cap": money(s.costs_due),
                  "cap_reduction": money(cut_costs), "items": [
            {"description": cs.charge.description, "incurred_on":
             cs.charge.incurred_on.isoformat(), "amount": money(cs.charge.amount),
             "paid": money(cs.paid), "outstanding": money(cs.outstanding),
             "clause": cs.charge.clause} for cs in s.charges]},
        "unapplied_credit": money(s.unapplied_credit),
        "cap_reduction": money(cut_total),
        "total": money(total),
        "total_due": money(s.total_due - cut_total),
        "total_outstanding": money(s.total_outstanding - cut_total),
    }


def ceiling_block(s: ArrearsStatement, cap: CostCapResult) -> dict[str, Any]:
    """The 24 % total-cost test (法发〔2017〕22号 第2条) with its computation: the cap on the
    unpaid principal over the period, each cost component charged over it, whether fees such
    as 律师费 count, the excess and what was taken off each claimed component."""
    return {
        "annual_rate": rate_text(cap.annual_cap),
        "penalty_rate": rate_text(s.penalty_rate),
        "test": "total_cost_over_period",
        "authority": AUTHORITY,
        "period": {"from": cap.spans[0].from_date.isoformat() if cap.spans else None,
                   "to": s.as_of.isoformat(),
                   "days": sum(sp.days for sp in cap.spans)},
        "principal_spans": [
            {"from": sp.from_date.isoformat(), "to": sp.to_date.isoformat(), "days": sp.days,
             "principal": money(sp.principal), "cap_amount": money(round_fen(a))}
            for sp, a in zip(cap.spans, cap.span_amounts, strict=True)],
        "cap": money(cap.cap),
        "fees_included": cap.include_fees,
        "charged": {k: money(v) for k, v in cap.charged.items()},
        "counted": list(cap.counted),
        "total_cost": money(cap.total_cost),
        "exceeds_24pct": cap.exceeded,
        "excess": money(cap.excess),
        "reduction": {k: money(v) for k, v in cap.reduction.items()},
        "total_reduction": money(cap.total_reduction),
        "unabsorbed": money(cap.unabsorbed),
        "text": cap.formula(),
        # Transitional: the old point-in-time figure, read only by a template not yet
        # updated to `text`; not a test of the cap.
        "combined_annual_rate": rate_text(s.combined_annual_rate.quantize(Decimal("0.000001"))),
    }
