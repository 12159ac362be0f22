"""Repayment schedules: 等额本息, 等额本金 and 按月付息到期还本, period by period, to the fen.

Conventions (one set, used by every method and by `lending_core.interest`):

* Due dates. Period k falls due in the k-th month after the value date of the disbursement
  (放款起息日), on `due_day` if given, else on the value date's own day; a day that the month
  lacks becomes the month's last day (31 January -> 28/29 February -> 31 March: each date
  is derived from the start, so the day never drifts). A contract that names its first
  due date (`first_due_date`, 首期还款日) has period 1 fall due on that date and period k
  k-1 months later, on `due_day` (default: that date's day).
* Interest, monthly-rate convention (按月利率计息): a regular period bears opening balance
  x annual rate / 12, whatever its number of days. This is how Chinese banks compute
  等额本息 and 等额本金 instalments.
* Broken first period (首期不足/超过一个月): only when the first due date is not one month
  to the day after the value date is the first period irregular; its interest is then
  opening balance x annual / 360 x actual days (`lending_core.money.DAYS_PER_YEAR`). Its
  principal part is what it would have been in a regular period, so the rest of the
  schedule is unchanged.
* Floating rate (LPR + spread, `RateChange`): `annual_rate` is the rate in force at the
  start; a reset inside a period cuts it (分段计息), each part bearing opening balance x its
  rate / 360 x its actual days; a reset on a due date starts the next period at the new
  rate. From the reset on, 等额本息 is re-amortised: the balance at the period's start over
  the periods left (this one included) at the new rate, so a cut period's principal part is
  what a regular period at the new rate would repay. 等额本金 keeps its principal parts.
* Rounding: each period's interest and principal are rounded half up to the fen
  (`lending_core.money.round_fen`); the last period takes whatever principal remains, so the
  principal parts sum exactly to the principal.

All functions are pure and return a frozen `RepaymentSchedule`.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from itertools import pairwise

from lending_core.errors import ScheduleError
from lending_core.money import DAYS_PER_YEAR, MAX_MONEY, ZERO, monthly_rate, round_fen

__all__ = [
    "MAX_ANNUAL_RATE",
    "MAX_TERM_MONTHS",
    "Installment",
    "RateChange",
    "RateSegment",
    "RepaymentMethod",
    "RepaymentSchedule",
    "add_months",
    "build_schedule",
    "due_dates",
    "equal_installment",
    "equal_principal",
    "interest_only",
]

MAX_TERM_MONTHS = 360
"""Longest term accepted (30 years)."""

MAX_ANNUAL_RATE = Decimal(1)
"""Highest annual rate accepted (100 %); anything above is a data error, not a loan."""

_PrincipalRule = Callable[[Decimal, Decimal], Decimal]
"""Principal part of a regular period, from the opening balance and its regular interest."""

_WORK_PRECISION = 40
"""Decimal digits for the annuity factor, well above what 360 periods of compounding need."""


class RepaymentMethod(StrEnum):
    """How principal is repaid. Values are the names used in payloads."""

    EQUAL_INSTALLMENT = "equal_installment"
    """等额本息: the same payment every period (the last absorbs rounding)."""
    EQUAL_PRINCIPAL = "equal_principal"
    """等额本金: the same principal every period, interest on the falling balance."""
    INTEREST_ONLY = "interest_only"
    """按月付息、到期还本: interest monthly, all principal in the last period."""

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]


_LABELS_ZH = {
    RepaymentMethod.EQUAL_INSTALLMENT: "等额本息",
    RepaymentMethod.EQUAL_PRINCIPAL: "等额本金",
    RepaymentMethod.INTEREST_ONLY: "按月付息到期还本",
}


@dataclass(frozen=True, slots=True)
class RateChange:
    """A floating rate reset (重定价): `annual_rate` applies from `effective_date` on."""

    effective_date: date
    annual_rate: Decimal


@dataclass(frozen=True, slots=True)
class RateSegment:
    """Part of a period a repricing cuts: from `start` to the day before `end`, at one rate,
    interest by actual days (balance × rate × days / 360, rounded to the fen)."""

    start: date
    end: date
    annual_rate: Decimal
    interest: Decimal

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True, slots=True)
class Installment:
    """One period of a schedule: what falls due on `due_date`.

    `period_start` is the first day of the interest period and `due_date` the day after its
    last (算头不算尾), so the period has ``(due_date - period_start).days`` days.
    `remaining` is the principal still owed after this period's principal is paid.
    """

    no: int
    due_date: date
    period_start: date
    principal: Decimal
    interest: Decimal
    payment: Decimal
    remaining: Decimal
    by_days: bool = False
    """Interest by actual days (a cut at prepayment, a rebuilt broken period), not monthly."""
    note: str = ""
    """What the computation table says of this period, when not the usual words."""
    annual_rate: Decimal | None = None
    """The rate of the period's interest (a floating loan's rate in force; None: the
    schedule's `annual_rate`). For a period a repricing cuts, the rate after the cut."""
    segments: tuple[RateSegment, ...] = ()
    """A period a repricing cuts (分段计息): its parts, whose interests sum to `interest`."""

    @property
    def opening_balance(self) -> Decimal:
        """Principal owed during the period, before this period's principal is paid."""
        return self.principal + self.remaining

    @property
    def days(self) -> int:
        return (self.due_date - self.period_start).days


@dataclass(frozen=True, slots=True)
class RepaymentSchedule:
    """A whole schedule and the terms it was computed from."""

    method: RepaymentMethod
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    start: date
    due_day: int | None
    installments: tuple[Installment, ...]
    first_due_date: date | None = None

    @property
    def total_principal(self) -> Decimal:
        return sum((i.principal for i in self.installments), ZERO)

    @property
    def total_interest(self) -> Decimal:
        return sum((i.interest for i in self.installments), ZERO)

    @property
    def broken_first_period(self) -> bool:
        """True when the first due date is not one month to the day after the start (the
        first period then bears interest by actual days)."""
        first = self.first_due_date or add_months(self.start, 1, self.due_day)
        return first != add_months(self.start, 1)

    @property
    def maturity(self) -> date:
        return self.installments[-1].due_date


def add_months(start: date, months: int, day: int | None = None) -> date:
    """The date `months` months after `start`, on `day` (default: start's day), clamped."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day if day is not None else start.day, last))


def due_dates(
    start: date,
    term_months: int,
    due_day: int | None = None,
    first_due_date: date | None = None,
) -> tuple[date, ...]:
    """The `term_months` due dates of a schedule starting on `start` (see module conventions)."""
    _check_term(term_months)
    _check_due_day(due_day)
    if first_due_date is None:
        return tuple(add_months(start, k, due_day) for k in range(1, term_months + 1))
    if first_due_date <= start:
        raise ScheduleError(f"expected first_due_date after {start}, found {first_due_date}")
    day = due_day if due_day is not None else first_due_date.day
    return tuple(add_months(first_due_date, k, day) for k in range(term_months))


def equal_installment(
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    start: date,
    due_day: int | None = None,
    first_due_date: date | None = None,
    rate_changes: Sequence[RateChange] = (),
) -> RepaymentSchedule:
    """等额本息: payment = P·r·(1+r)^n / ((1+r)^n − 1), r = annual / 12, rounded half up.

    Each period: interest = round_fen(opening balance × r); principal = payment − interest;
    the last period pays all remaining principal plus its interest.
    """
    _check_inputs(principal, annual_rate, term_months, due_day)
    payment = _annuity(principal, annual_rate, term_months)
    return _amortise(
        RepaymentMethod.EQUAL_INSTALLMENT,
        principal,
        annual_rate,
        term_months,
        start,
        due_day,
        lambda balance, regular_interest: payment - regular_interest,
        first_due_date,
        rate_changes,
        _annuity_rule,
    )


def equal_principal(
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    start: date,
    due_day: int | None = None,
    first_due_date: date | None = None,
    rate_changes: Sequence[RateChange] = (),
) -> RepaymentSchedule:
    """等额本金: principal per period = round_fen(P / n); interest on the opening balance."""
    _check_inputs(principal, annual_rate, term_months, due_day)
    share = round_fen(principal / term_months)
    return _amortise(
        RepaymentMethod.EQUAL_PRINCIPAL,
        principal,
        annual_rate,
        term_months,
        start,
        due_day,
        lambda balance, regular_interest: share,
        first_due_date,
        rate_changes,
    )


def interest_only(
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    start: date,
    due_day: int | None = None,
    first_due_date: date | None = None,
    rate_changes: Sequence[RateChange] = (),
) -> RepaymentSchedule:
    """按月付息、到期还本: interest every period, the whole principal with the last one."""
    _check_inputs(principal, annual_rate, term_months, due_day)
    return _amortise(
        RepaymentMethod.INTEREST_ONLY,
        principal,
        annual_rate,
        term_months,
        start,
        due_day,
        lambda balance, regular_interest: ZERO,
        first_due_date,
        rate_changes,
    )


def build_schedule(
    method: RepaymentMethod,
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    start: date,
    due_day: int | None = None,
    first_due_date: date | None = None,
    rate_changes: Sequence[RateChange] = (),
) -> RepaymentSchedule:
    """Dispatch on `method`. `rate_changes` are a floating rate's resets after `start`
    (`annual_rate` is the rate in force on `start`)."""
    builders = {
        RepaymentMethod.EQUAL_INSTALLMENT: equal_installment,
        RepaymentMethod.EQUAL_PRINCIPAL: equal_principal,
        RepaymentMethod.INTEREST_ONLY: interest_only,
    }
    try:
        builder = builders[RepaymentMethod(method)]
    except ValueError as exc:
        raise ScheduleError(
            f"expected a repayment method in {[m.value for m in RepaymentMethod]}, found {method!r}"
        ) from exc
    return builder(principal, annual_rate, term_months, start, due_day, first_due_date,
                   rate_changes)


def _amortise(
    method: RepaymentMethod,
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    start: date,
    due_day: int | None,
    principal_part: _PrincipalRule,
    first_due_date: date | None = None,
    rate_changes: Sequence[RateChange] = (),
    reamortise: Callable[[Decimal, Decimal, int], _PrincipalRule] | None = None,
) -> RepaymentSchedule:
    dates = due_dates(start, term_months, due_day, first_due_date)
    broken_first = RepaymentSchedule(
        method, principal, annual_rate, term_months, start, due_day, (), first_due_date
    ).broken_first_period
    changes = _check_rate_changes(rate_changes, start)
    rate = annual_rate  # in force at the current period's start
    balance = principal
    period_start = start
    rows: list[Installment] = []
    for no, due in enumerate(dates, start=1):
        # A repricing cuts the period (分段计息): each part by actual days at its own rate;
        # from the reset on, the remaining principal is re-amortised at the new rate over
        # the remaining periods, this one included.
        cuts = [c for c in changes if period_start < c.effective_date < due]
        starting = [c for c in changes if c.effective_date == period_start]
        period_rate = starting[-1].annual_rate if starting else rate
        segments: tuple[RateSegment, ...] = ()
        new_rate = cuts[-1].annual_rate if cuts else period_rate
        if cuts:
            bounds = [period_start, *(c.effective_date for c in cuts), due]
            rates = [period_rate, *(c.annual_rate for c in cuts)]
            segments = tuple(
                RateSegment(a, b, seg_rate,
                            round_fen(balance * seg_rate * (b - a).days / DAYS_PER_YEAR))
                for (a, b), seg_rate in zip(pairwise(bounds), rates, strict=True)
            )
        if new_rate != rate and reamortise is not None and no < term_months:
            principal_part = reamortise(balance, new_rate, term_months - no + 1)
        rate = new_rate
        regular_interest = round_fen(balance * monthly_rate(rate))
        if segments:
            interest = sum((seg.interest for seg in segments), ZERO)
        elif no == 1 and broken_first:
            days = (due - period_start).days
            interest = round_fen(balance * rate * days / DAYS_PER_YEAR)
        else:
            interest = regular_interest
        if no == term_months:
            paid = balance
        else:
            # Clamped: rounding the payment up must never repay more than is owed.
            paid = min(max(principal_part(balance, regular_interest), ZERO), balance)
        balance -= paid
        rows.append(
            Installment(
                no=no,
                due_date=due,
                period_start=period_start,
                principal=paid,
                interest=interest,
                payment=paid + interest,
                remaining=balance,
                annual_rate=rate if changes else None,
                segments=segments,
            )
        )
        period_start = due
    return RepaymentSchedule(
        method=method,
        principal=principal,
        annual_rate=annual_rate,
        term_months=term_months,
        start=start,
        due_day=due_day,
        installments=tuple(rows),
        first_due_date=first_due_date,
    )


def _annuity(principal: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """等额本息 payment: P·r·(1+r)^n / ((1+r)^n − 1), r = annual / 12, rounded half up."""
    r = monthly_rate(annual_rate)
    with localcontext() as ctx:
        ctx.prec = _WORK_PRECISION
        if r == 0:
            exact = principal / term_months
        else:
            factor = (1 + r) ** term_months
            exact = principal * r * factor / (factor - 1)
    return round_fen(exact)


def _annuity_rule(balance: Decimal, annual_rate: Decimal, periods: int) -> _PrincipalRule:
    """等额本息 re-amortised after a reset: the payment of `balance` over `periods` at the
    new rate; each period's principal is that payment less its regular interest."""
    payment = _annuity(balance, annual_rate, periods)
    return lambda _balance, regular_interest: payment - regular_interest


def _check_rate_changes(changes: Sequence[RateChange], start: date) -> tuple[RateChange, ...]:
    """The resets after `start`, in date order; one per date, rates in range."""
    out = tuple(sorted((c for c in changes if c.effective_date > start),
                       key=lambda c: c.effective_date))
    for c in out:
        if not isinstance(c.annual_rate, Decimal) or not ZERO <= c.annual_rate <= MAX_ANNUAL_RATE:
            raise ScheduleError(
                f"expected a reset rate in [0, {MAX_ANNUAL_RATE}], found {c.annual_rate!r} "
                f"on {c.effective_date}"
            )
    days = [c.effective_date for c in out]
    if len(set(days)) != len(days):
        raise ScheduleError(f"expected one rate reset per date, found {days}")
    return out


def _check_inputs(
    principal: Decimal, annual_rate: Decimal, term_months: int, due_day: int | None
) -> None:
    if not isinstance(principal, Decimal) or not principal.is_finite():
        raise ScheduleError(f"expected principal as a finite Decimal, found {principal!r}")
    if principal <= 0 or principal > MAX_MONEY or principal != round_fen(principal):
        raise ScheduleError(
            f"expected principal in (0, {MAX_MONEY}] rounded to the fen, found {principal}"
        )
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite():
        raise ScheduleError(f"expected annual_rate as a finite Decimal, found {annual_rate!r}")
    if annual_rate < 0 or annual_rate > MAX_ANNUAL_RATE:
        raise ScheduleError(
            f"expected annual_rate in [0, {MAX_ANNUAL_RATE}] (a fraction, 0.0435 for 4.35 %), "
            f"found {annual_rate}"
        )
    _check_term(term_months)
    _check_due_day(due_day)


def _check_term(term_months: int) -> None:
    if isinstance(term_months, bool) or not isinstance(term_months, int):
        raise ScheduleError(f"expected term_months as an int, found {term_months!r}")
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise ScheduleError(f"expected term_months in [1, {MAX_TERM_MONTHS}], found {term_months}")


def _check_due_day(due_day: int | None) -> None:
    if due_day is None:
        return
    if isinstance(due_day, bool) or not isinstance(due_day, int) or not 1 <= due_day <= 31:
        raise ScheduleError(f"expected due_day in [1, 31] or None, found {due_day!r}")
