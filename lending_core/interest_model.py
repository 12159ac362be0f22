"""The values the arrears computation reads and writes: terms, cash flows, the statement.

Inputs are the contract terms that matter for interest (`LoanTerms`), the disbursements,
the repayments and any costs (`Charge`) a contract lets the lender recover. The output is
an `ArrearsStatement`: balances as of a date, a computation table of `ComputationRow`s a
judge can follow line by line (base × days × daily rate = amount, with the contract clause),
how each repayment was allocated, and what keeps accruing each day after the date.
The arithmetic lives in `lending_core.interest`; everything here is a frozen dataclass.

Allocation order. By default a repayment pays costs, then penalty and compound interest,
then contractual interest, then principal (费用 → 罚息、复利 → 利息 → 本金), the order
Chinese banks write into their loan contracts and which courts apply when the contract is
silent (cf. 《最高人民法院关于适用〈中华人民共和国民法典〉合同编通则若干问题的解释》 art. 56 and
民法典 art. 561: 实现债权的有关费用 → 利息 → 主债务). A contract may say otherwise, so
`LoanTerms.allocation_order` takes any order of the five `Bucket`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from lending_core.errors import ArrearsInputError
from lending_core.money import MAX_MONEY, ZERO, round_fen
from lending_core.schedule import MAX_ANNUAL_RATE, MAX_TERM_MONTHS, RateChange, RepaymentMethod

__all__ = [
    "ANNUAL_COST_CEILING",
    "DEFAULT_ALLOCATION_ORDER",
    "DEFAULT_PENALTY_MARKUP",
    "MAX_PENALTY_MARKUP",
    "AccrualKind",
    "Allocation",
    "AllocationSource",
    "ArrearsStatement",
    "Bucket",
    "Charge",
    "ChargeStatus",
    "ComputationRow",
    "ContinuingAccrual",
    "Disbursement",
    "LoanTerms",
    "Repayment",
]

DEFAULT_PENALTY_MARKUP = Decimal("0.5")
"""罚息利率 = 合同利率 × (1 + 50 %): the top of the 30-50 % band of 银发〔2003〕251号 art. 3."""

MAX_PENALTY_MARKUP = Decimal(1)
"""Highest markup accepted (100 %); more is a data error."""

ANNUAL_COST_CEILING = Decimal("0.24")
"""24 % a year: the ceiling courts apply to the sum of interest, compound interest, penalty
interest and other costs of a financial loan (《全国法院民商事审判工作会议纪要》(九民纪要)
art. 51). For private lending the ceiling is four times the one-year LPR at contract date
(法释〔2020〕17号 art. 25); pass that as `ceiling` when it applies."""


class Bucket(StrEnum):
    """What a repayment can pay."""

    COSTS = "costs"
    PENALTY = "penalty"
    COMPOUND = "compound"
    INTEREST = "interest"
    PRINCIPAL = "principal"


DEFAULT_ALLOCATION_ORDER: tuple[Bucket, ...] = (
    Bucket.COSTS,
    Bucket.PENALTY,
    Bucket.COMPOUND,
    Bucket.INTEREST,
    Bucket.PRINCIPAL,
)
"""费用 → 罚息 → 复利 → 利息 → 本金, the usual order in Chinese bank loan contracts."""


class AccrualKind(StrEnum):
    """The kinds of row in the computation table, by their names in a judgment."""

    INTEREST = "期内利息"
    PENALTY = "罚息"
    COMPOUND = "复利"


class AllocationSource(StrEnum):
    REPAYMENT = "还款"
    CREDIT = "溢缴款冲抵"
    """An earlier overpayment applied to amounts that fell due later."""


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """The contract terms the arrears computation needs, with the clauses that grant them."""

    principal: Decimal
    annual_rate: Decimal
    method: RepaymentMethod
    term_months: int
    due_day: int | None = None
    penalty_markup: Decimal = DEFAULT_PENALTY_MARKUP
    compound_allowed: bool = False
    interest_clause: str = ""
    penalty_clause: str = ""
    compound_clause: str = ""
    acceleration_clause: str = ""
    allocation_order: tuple[Bucket, ...] = DEFAULT_ALLOCATION_ORDER
    first_due_date: date | None = None
    """The contract's first due date (首期还款日); see `lending_core.loan_schedule`."""
    rate_changes: tuple[RateChange, ...] = ()
    """A floating rate's resets (重定价), in date order: `annual_rate` is the rate until the
    first; each applies to interest, penalty and compound interest from its date on."""

    def __post_init__(self) -> None:
        _check_amount("principal", self.principal)
        if not isinstance(self.annual_rate, Decimal) or not (
            ZERO <= self.annual_rate <= MAX_ANNUAL_RATE
        ):
            raise ArrearsInputError(
                f"expected annual_rate in [0, {MAX_ANNUAL_RATE}], found {self.annual_rate!r}"
            )
        if not isinstance(self.penalty_markup, Decimal) or not (
            ZERO <= self.penalty_markup <= MAX_PENALTY_MARKUP
        ):
            raise ArrearsInputError(
                f"expected penalty_markup in [0, {MAX_PENALTY_MARKUP}], "
                f"found {self.penalty_markup!r}"
            )
        if not isinstance(self.term_months, int) or not 1 <= self.term_months <= MAX_TERM_MONTHS:
            raise ArrearsInputError(
                f"expected term_months in [1, {MAX_TERM_MONTHS}], found {self.term_months!r}"
            )
        if sorted(self.allocation_order) != sorted(Bucket):
            raise ArrearsInputError(
                f"expected allocation_order to list each of {[b.value for b in Bucket]} once, "
                f"found {[str(b) for b in self.allocation_order]}"
            )
        days = [c.effective_date for c in self.rate_changes]
        if days != sorted(set(days)) or not all(
            isinstance(c.annual_rate, Decimal) and ZERO <= c.annual_rate <= MAX_ANNUAL_RATE
            for c in self.rate_changes
        ):
            raise ArrearsInputError(
                f"expected rate_changes one per date, in date order, rates in "
                f"[0, {MAX_ANNUAL_RATE}], found "
                f"{[(str(c.effective_date), str(c.annual_rate)) for c in self.rate_changes]}"
            )

    @property
    def penalty_rate(self) -> Decimal:
        """罚息利率: contract rate × (1 + markup); also the rate of compound interest."""
        return self.annual_rate * (1 + self.penalty_markup)

    def rate_on(self, day: date) -> Decimal:
        """The contract rate in force on `day` (the last reset on or before it)."""
        rate = self.annual_rate
        for change in self.rate_changes:
            if change.effective_date <= day:
                rate = change.annual_rate
        return rate

    def penalty_rate_on(self, day: date) -> Decimal:
        """罚息利率 in force on `day`: the rate in force × (1 + markup)."""
        return self.rate_on(day) * (1 + self.penalty_markup)


@dataclass(frozen=True, slots=True)
class Disbursement:
    """Money paid out under the contract (放款), from its value date (起息日)."""

    amount: Decimal
    value_date: date

    def __post_init__(self) -> None:
        _check_amount("disbursement amount", self.amount)


@dataclass(frozen=True, slots=True)
class Repayment:
    """Money received from the borrower, effective on its value date."""

    amount: Decimal
    value_date: date

    def __post_init__(self) -> None:
        _check_amount("repayment amount", self.amount)


@dataclass(frozen=True, slots=True)
class Charge:
    """A cost the contract lets the lender recover (notice fees, 诉讼费, 律师费...)."""

    amount: Decimal
    incurred_on: date
    description: str
    clause: str = ""

    def __post_init__(self) -> None:
        _check_amount("charge amount", self.amount)


@dataclass(frozen=True, slots=True)
class ComputationRow:
    """One line of the computation table: amount = round_fen(base × annual rate × days / 360)
    for 罚息 and 复利 and for broken interest periods; for a regular 期内利息 period the amount
    is base × annual rate / 12 and `daily_rate` is None (see `lending_core.schedule`).

    `from_date` and `to_date` are both included, so ``days == (to_date - from_date).days + 1``.
    `paid` is what repayments allocated to this row by `as_of`; `outstanding` the rest.
    """

    kind: AccrualKind
    base: Decimal
    from_date: date
    to_date: date
    days: int
    annual_rate: Decimal
    daily_rate: Decimal | None
    amount: Decimal
    paid: Decimal
    outstanding: Decimal
    clause: str
    note: str


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one repayment (or an earlier overpayment) was applied, bucket by bucket."""

    value_date: date
    source: AllocationSource
    amount: Decimal
    costs: Decimal
    penalty: Decimal
    compound: Decimal
    interest: Decimal
    principal: Decimal
    unapplied: Decimal


@dataclass(frozen=True, slots=True)
class ChargeStatus:
    charge: Charge
    paid: Decimal
    outstanding: Decimal


@dataclass(frozen=True, slots=True)
class ContinuingAccrual:
    """What keeps accruing each day after `as_of` until paid (…至实际清偿之日止)."""

    kind: AccrualKind
    base: Decimal
    annual_rate: Decimal
    daily_rate: Decimal
    daily_amount: Decimal
    clause: str


@dataclass(frozen=True, slots=True)
class ArrearsStatement:
    """Balances on `as_of` (暂计至 as_of), the computation table and the allocations.

    `total_due` is what is payable now (overdue principal plus everything else unpaid);
    `total_outstanding` adds principal not yet due (they coincide after acceleration).
    `combined_annual_rate` is the annual cost now borne by the debt: the rate on principal
    (penalty rate when principal is overdue, else the contract rate) plus compound interest
    re-expressed per unit of that principal (penalty rate × unpaid interest / principal).
    `exceeds_24pct` is set when that, or a penalty rate actually charged, exceeds `ceiling`.
    """

    as_of: date
    accelerated_on: date | None
    disbursed: Decimal
    outstanding_principal: Decimal
    overdue_principal: Decimal
    interest_due: Decimal
    penalty_interest: Decimal
    compound_interest: Decimal
    costs_due: Decimal
    unapplied_credit: Decimal
    rows: tuple[ComputationRow, ...]
    allocations: tuple[Allocation, ...]
    charges: tuple[ChargeStatus, ...]
    continuing: tuple[ContinuingAccrual, ...]
    penalty_rate: Decimal
    combined_annual_rate: Decimal
    ceiling: Decimal
    exceeds_24pct: bool

    @property
    def not_yet_due_principal(self) -> Decimal:
        return self.outstanding_principal - self.overdue_principal

    @property
    def total_due(self) -> Decimal:
        return (
            self.overdue_principal
            + self.interest_due
            + self.penalty_interest
            + self.compound_interest
            + self.costs_due
        )

    @property
    def total_outstanding(self) -> Decimal:
        return self.total_due + self.not_yet_due_principal

    @property
    def daily_accrual(self) -> Decimal:
        """Penalty plus compound interest per day after `as_of`, rounded to the fen."""
        return round_fen(sum((c.daily_amount for c in self.continuing), ZERO))

    @property
    def accrued_to_label(self) -> str:
        """``暂计至2024年3月15日``: the words a claim uses for amounts still accruing."""
        d = self.as_of
        return f"暂计至{d.year}年{d.month}月{d.day}日"


def _check_amount(name: str, amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ArrearsInputError(f"expected {name} as a finite Decimal, found {amount!r}")
    if amount <= 0 or amount > MAX_MONEY or amount != round_fen(amount):
        raise ArrearsInputError(
            f"expected {name} in (0, {MAX_MONEY}] rounded to the fen, found {amount}"
        )
