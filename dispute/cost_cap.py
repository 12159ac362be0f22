"""The 24 % total-cost test of 法发〔2017〕22号 第2条, and the claim lowered to it.

《最高人民法院关于进一步加强金融审判工作的若干意见》(法发〔2017〕22号) 第2条: when a
lender claims 利息、复利、罚息、违约金和其他费用 together and the borrower asks that the part
of the total exceeding 24 % a year be reduced, the court supports it. The test is therefore on
the total cost over the actual period, not on a rate at one point in time:

    total cost = 期内利息 + 复利 + 罚息 + 违约金 (+ fees such as 律师费, when counted)
    cap        = Σ over the period of unpaid principal × 24 % ÷ 360 × days

The period runs from the first disbursement to 暂计至 (算头不算尾), split where the unpaid
principal changes (a disbursement or principal repaid); the cost is everything charged over
it, paid or not, since the cap is on what the borrower bears in total. Whether fees (律师费,
公告费...) count is a court-practice setting (`include_fees`); the default counts them, as
法发〔2017〕22号 第2条 names 其他费用. 违约金 always counts.

When the total exceeds the cap, the excess is taken off the amounts still claimed in the
order of `REDUCTION_ORDER` (fees, then 违约金, 罚息, 复利, 期内利息): the charges that most
resemble a penalty go first and the contract interest last. What was already paid is not
reduced here; an excess larger than what is still claimed is reported as `unabsorbed`.

`total_cost_cap` is pure arithmetic; `cost_cap_for` reads its inputs from an
`ArrearsStatement`. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dispute.errors import DisputeError
from lending_core.interest_model import AccrualKind, ArrearsStatement, Disbursement
from lending_core.money import DAYS_PER_YEAR, ZERO, format_money, round_fen

__all__ = [
    "ANNUAL_CAP",
    "AUTHORITY",
    "COST_KINDS",
    "REDUCTION_ORDER",
    "CostCapError",
    "CostCapResult",
    "PrincipalSpan",
    "cost_cap_for",
    "principal_spans",
    "total_cost_cap",
]

ANNUAL_CAP = Decimal("0.24")
AUTHORITY = "《最高人民法院关于进一步加强金融审判工作的若干意见》（法发〔2017〕22号）第2条"

COST_KINDS: Mapping[str, str] = {
    "interest": "期内利息", "compound": "复利", "penalty": "罚息",
    "liquidated_damages": "违约金", "fees": "费用",
}
"""The cost components, keyed as in `CostCapResult`, with their names in the claim."""

REDUCTION_ORDER: tuple[str, ...] = ("fees", "liquidated_damages", "penalty", "compound",
                                    "interest")
"""The order the excess is taken off the claimed amounts: penalty-like charges first."""


class CostCapError(DisputeError):
    """The inputs of the 24 % test are inconsistent (a negative amount, a bad span...)."""


@dataclass(frozen=True, slots=True)
class PrincipalSpan:
    """Unpaid principal `principal` from `from_date` for `days` days (算头不算尾)."""

    from_date: date
    to_date: date
    principal: Decimal

    @property
    def days(self) -> int:
        return (self.to_date - self.from_date).days


@dataclass(frozen=True, slots=True)
class CostCapResult:
    """The test's figures. `charged` is each component over the period (paid or not),
    `claimed` what is still claimed, `reduction` what the cap takes off each claimed
    component and `capped` what remains claimed. Every mapping has the `COST_KINDS` keys."""

    annual_cap: Decimal
    include_fees: bool
    spans: tuple[PrincipalSpan, ...]
    span_amounts: tuple[Decimal, ...]
    cap: Decimal
    charged: Mapping[str, Decimal]
    claimed: Mapping[str, Decimal]
    total_cost: Decimal
    excess: Decimal
    reduction: Mapping[str, Decimal]
    capped: Mapping[str, Decimal]
    unabsorbed: Decimal

    @property
    def exceeded(self) -> bool:
        return self.excess > 0

    @property
    def total_reduction(self) -> Decimal:
        return sum(self.reduction.values(), ZERO)

    @property
    def counted(self) -> tuple[str, ...]:
        """The components the total cost counts, in the formula's order."""
        return tuple(k for k in COST_KINDS if k != "fees" or self.include_fees)

    def formula(self) -> str:
        """The computation in words and figures, as the case file prints it."""
        rate = f"{(self.annual_cap * 100).normalize():f}%"
        parts = [f"{format_money(s.principal)}元×{rate}÷360×{s.days}天"
                 f"（{s.from_date.isoformat()}至{s.to_date.isoformat()}）"
                 for s in self.spans if s.days > 0 and s.principal > 0]
        cap = (f"上限=未还本金×年利率{rate}÷360×实际天数="
               + ("＋".join(parts) if parts else "0") + f"={format_money(self.cap)}元")
        terms = "＋".join(f"{COST_KINDS[k]}{format_money(self.charged[k])}元"
                         for k in self.counted)
        cost = f"综合成本={terms}={format_money(self.total_cost)}元"
        fees = ("律师费等费用计入综合成本" if self.include_fees
                else f"律师费等费用{format_money(self.charged['fees'])}元不计入综合成本")
        if not self.exceeded:
            verdict = (f"综合成本未超过上限，不予调减（{AUTHORITY}）")
        else:
            cut = "、".join(f"{COST_KINDS[k]}{format_money(v)}元"
                           for k in REDUCTION_ORDER if (v := self.reduction[k]) > 0)
            verdict = (f"综合成本超过上限{format_money(self.excess)}元，"
                       f"按年利率{rate}上限调减{format_money(self.total_reduction)}元"
                       f"（依次调减{cut or '无'}；{AUTHORITY}）")
            if self.unabsorbed > 0:
                verdict += (f"；另有{format_money(self.unabsorbed)}元超出部分已由借款人"
                            f"清偿，本请求未予抵扣")
        return f"{cap}；{cost}（{fees}）；{verdict}。"


def _check_amounts(name: str, values: Mapping[str, Decimal]) -> None:
    if set(values) != set(COST_KINDS):
        raise CostCapError(f"expected {name} keys {sorted(COST_KINDS)}, found {sorted(values)}")
    for k, v in values.items():
        if not v.is_finite() or v < 0:
            raise CostCapError(f"expected {name}[{k!r}] a non-negative amount, found {v}")


def total_cost_cap(
    charged: Mapping[str, Decimal],
    claimed: Mapping[str, Decimal],
    spans: Sequence[PrincipalSpan],
    *,
    include_fees: bool = True,
    annual_cap: Decimal = ANNUAL_CAP,
) -> CostCapResult:
    """The total cost over the period against `annual_cap` a year on the unpaid principal,
    and the claimed components lowered to the cap (see the module docstring).

    `charged`: each `COST_KINDS` component over the period (paid or not); `claimed`: what
    is still claimed of each (not more than charged); `spans`: the unpaid principal over
    the period, consecutive. `include_fees`: whether fees such as 律师费 count (court
    practice; 法发〔2017〕22号 第2条 names 其他费用, so the default counts them).
    Raises `CostCapError` on negative or inconsistent inputs.
    """
    _check_amounts("charged", charged)
    _check_amounts("claimed", claimed)
    for k in COST_KINDS:
        if claimed[k] > charged[k]:
            raise CostCapError(f"expected claimed[{k!r}] at most charged {charged[k]}, "
                               f"found {claimed[k]}")
    if not (annual_cap.is_finite() and 0 < annual_cap < 1):
        raise CostCapError(f"expected annual_cap a fraction in (0, 1), found {annual_cap}")
    for i, s in enumerate(spans):
        if s.days < 0 or s.principal < 0:
            raise CostCapError(f"expected span {i} non-negative days and principal, found "
                               f"{s.days} days on {s.principal}")
        if i and spans[i - 1].to_date != s.from_date:
            raise CostCapError(f"expected span {i} to start on {spans[i - 1].to_date}, "
                               f"found {s.from_date}")
    span_amounts = tuple(s.principal * annual_cap * s.days / DAYS_PER_YEAR for s in spans)
    cap = round_fen(sum(span_amounts, ZERO))
    counted = [k for k in COST_KINDS if k != "fees" or include_fees]
    total = sum((charged[k] for k in counted), ZERO)
    excess = max(total - cap, ZERO)
    left = excess
    reduction = {k: ZERO for k in COST_KINDS}
    for k in REDUCTION_ORDER:
        if k in counted and left > 0:
            reduction[k] = min(left, claimed[k])
            left -= reduction[k]
    return CostCapResult(
        annual_cap=annual_cap, include_fees=include_fees, spans=tuple(spans),
        span_amounts=span_amounts, cap=cap, charged=dict(charged), claimed=dict(claimed),
        total_cost=total, excess=excess, reduction=reduction,
        capped={k: claimed[k] - reduction[k] for k in COST_KINDS}, unabsorbed=left)


def principal_spans(disbursements: Sequence[Disbursement],
                    principal_repaid: Sequence[tuple[date, Decimal]],
                    until: date) -> tuple[PrincipalSpan, ...]:
    """The unpaid principal from the first disbursement to `until`, split where it changes.

    A disbursement counts from its value date, principal repaid stops counting from its
    value date (the day counts as in the interest rows: 算头不算尾)."""
    if not disbursements:
        raise CostCapError("expected at least one disbursement, found none")
    changes: dict[date, Decimal] = {}
    for d in disbursements:
        changes[d.value_date] = changes.get(d.value_date, ZERO) + d.amount
    for day, amount in principal_repaid:
        changes[day] = changes.get(day, ZERO) - amount
    start = min(changes)
    if until < start:
        return ()
    spans: list[PrincipalSpan] = []
    balance = ZERO
    days = sorted(d for d in changes if d <= until)
    for i, day in enumerate(days):
        balance += changes[day]
        end = days[i + 1] if i + 1 < len(days) else until
        if end > day:
            spans.append(PrincipalSpan(day, end, balance))
    return tuple(spans)


def _is_liquidated_damages(description: str) -> bool:
    return "违约金" in description


def cost_cap_for(s: ArrearsStatement, disbursements: Sequence[Disbursement], *,
                 include_fees: bool = True,
                 annual_cap: Decimal = ANNUAL_CAP) -> CostCapResult:
    """`total_cost_cap` on a statement: the rows and charges up to `s.as_of` (paid or not)
    against the unpaid principal from the first disbursement to `s.as_of`."""
    kind_key = {AccrualKind.INTEREST: "interest", AccrualKind.PENALTY: "penalty",
                AccrualKind.COMPOUND: "compound"}
    charged = {k: ZERO for k in COST_KINDS}
    claimed = {k: ZERO for k in COST_KINDS}
    for r in s.rows:
        charged[kind_key[r.kind]] += r.amount
        claimed[kind_key[r.kind]] += r.outstanding
    for c in s.charges:
        k = "liquidated_damages" if _is_liquidated_damages(c.charge.description) else "fees"
        charged[k] += c.charge.amount
        claimed[k] += c.outstanding
    repaid = [(a.value_date, a.principal) for a in s.allocations if a.principal > 0]
    spans = principal_spans([d for d in disbursements if d.value_date <= s.as_of], repaid,
                            s.as_of)
    return total_cost_cap(charged, claimed, spans, include_fees=include_fees,
                          annual_cap=annual_cap)
