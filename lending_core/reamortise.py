"""Prepayment (提前还款): a schedule cut on the prepayment date and rebuilt for what is left.

`prepay(schedule, value_date, principal, full=..., rule=...)` returns the schedule as it
stands after a prepayment, with the same conventions as `lending_core.schedule`:

* Installments falling due on or before the value date V stay as they were (paid or not:
  what is overdue stays overdue).
* The period running on V is cut at V (结息): its interest, opening balance × annual / 360 ×
  actual days from the period's start to V, falls due on V together with the principal
  prepaid (`by_days` row). A full prepayment (提前结清) makes the whole opening balance due
  on V; a partial one at most that.
* What remains, B' = opening balance − principal prepaid, is re-amortised from V by the
  same method and rate, its first installment on the cut period's own due date (so that
  period's interest from V is by actual days too, the usual broken first period), then
  monthly on the schedule's due day:
  - `lower_installment` (期限不变，减少月供): over the same remaining number of periods,
    so the maturity does not move;
  - `shorten_term` (月供不变，缩短期限): over the fewest periods whose installment (等额本息)
    or principal share (等额本金) is no more than before, so the maturity comes earlier.
    For 按月付息到期还本 there is no installment to keep and both rules keep the term.
* Principal still sums exactly to the schedule's principal; installments keep their
  period numbers (the cut period and the rebuilt first period share one number).

Pure: no clock, no I/O. A prepayment after the last due date changes nothing here (the
money is then an ordinary repayment of what is overdue).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal, localcontext
from typing import Literal

from lending_core.errors import ScheduleError
from lending_core.money import DAYS_PER_YEAR, ZERO, monthly_rate, round_fen
from lending_core.schedule import (
    Installment,
    RateChange,
    RateSegment,
    RepaymentMethod,
    RepaymentSchedule,
    build_schedule,
)

__all__ = ["PREPAYMENT_RULE_ZH", "PrepaymentRule", "annuity", "prepay", "rebuilt_schedules"]

PrepaymentRule = Literal["lower_installment", "shorten_term"]
"""How a partial prepayment re-amortises (see the module docstring); the one definition,
which the contract and prepayment payloads (`lending_core.events`) use too."""

PREPAYMENT_RULE_ZH: dict[PrepaymentRule, str] = {  # 提前还款方式 as a Chinese reader names it
    "lower_installment": "期限不变、减少月供", "shorten_term": "月供不变、缩短期限"}

_WORK_PRECISION = 40


def annuity(principal: Decimal, annual_rate: Decimal, periods: int) -> Decimal:
    """等额本息 installment, rounded half up to the fen (as `schedule.equal_installment`)."""
    r = monthly_rate(annual_rate)
    with localcontext() as ctx:
        ctx.prec = _WORK_PRECISION
        if r == 0:
            return round_fen(principal / periods)
        factor = (1 + r) ** periods
        return round_fen(principal * r * factor / (factor - 1))


def _periods(method: RepaymentMethod, opening: Decimal, left: Decimal, rate: Decimal,
             periods: int, rule: PrepaymentRule) -> int:
    """How many periods repay `left` under `rule`, `periods` being what `opening` had left."""
    if rule == "lower_installment" or method is RepaymentMethod.INTEREST_ONLY:
        return periods
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        share = round_fen(opening / periods)
        return next(m for m in range(1, periods + 1) if m * share >= left)
    before = annuity(opening, rate, periods)
    return next(m for m in range(1, periods + 1) if annuity(left, rate, m) <= before)


def _rate_on(schedule: RepaymentSchedule, inst: Installment, day: date) -> Decimal:
    """The rate in force on `day` inside `inst`'s period (a floating loan's resets)."""
    for seg in inst.segments:
        if seg.start <= day < seg.end:
            return seg.annual_rate
    if inst.segments and day >= inst.segments[-1].end:
        return inst.segments[-1].annual_rate
    return inst.annual_rate if inst.annual_rate is not None else schedule.annual_rate


def _later_changes(schedule: RepaymentSchedule, day: date) -> tuple[RateChange, ...]:
    """The floating rate's resets after `day`, read back from the schedule's periods."""
    changes: list[RateChange] = []
    rate = None
    for inst in schedule.installments:
        parts = inst.segments or (RateSegment(inst.period_start, inst.due_date,
                                              inst.annual_rate or schedule.annual_rate, ZERO),)
        for seg in parts:
            if rate is not None and seg.annual_rate != rate and seg.start > day:
                changes.append(RateChange(seg.start, seg.annual_rate))
            rate = seg.annual_rate
    return tuple(changes)


def prepay(
    schedule: RepaymentSchedule,
    value_date: date,
    principal: Decimal,
    *,
    full: bool = False,
    rule: PrepaymentRule = "lower_installment",
    label: str = "",
) -> RepaymentSchedule:
    """The schedule after prepaying `principal` on `value_date` (see the module docstring).

    Raises `ScheduleError` for a non-positive principal or a date before the schedule's
    start."""
    if principal <= 0 or principal != round_fen(principal):
        raise ScheduleError(f"expected a prepaid principal above 0 to the fen, found {principal}")
    if value_date < schedule.start:
        raise ScheduleError(
            f"expected a prepayment on or after the schedule's start {schedule.start}, "
            f"found {value_date}"
        )
    kept = [i for i in schedule.installments if i.due_date <= value_date]
    rest = [i for i in schedule.installments if i.due_date > value_date]
    if not rest:
        return schedule
    current = rest[0]
    opening = current.opening_balance
    paid = opening if full else min(principal, opening)
    left = opening - paid
    floating = any(i.annual_rate is not None for i in schedule.installments)
    rate = _rate_on(schedule, current, value_date)
    days = (value_date - current.period_start).days
    # A reset inside the cut part keeps its parts (分段计息), each rounded as the schedule's.
    segments = tuple(
        RateSegment(seg.start, min(seg.end, value_date), seg.annual_rate,
                    round_fen(opening * seg.annual_rate
                              * (min(seg.end, value_date) - seg.start).days
                              / DAYS_PER_YEAR))
        for seg in current.segments if seg.start < value_date
    )
    if len(segments) < 2:
        segments = ()
    interest = (sum((seg.interest for seg in segments), ZERO) if segments
                else round_fen(opening * rate * days / DAYS_PER_YEAR))
    what = "提前结清" if left == 0 else f"提前还款本金{paid}元"
    cut = Installment(
        no=current.no, due_date=value_date, period_start=current.period_start,
        principal=paid, interest=interest, payment=paid + interest, remaining=left,
        by_days=True,
        note=f"第{current.no}期于提前还款日{value_date.isoformat()}结息，按实际天数计（{what}）",
        annual_rate=rate if floating else None, segments=segments,
    )
    rows = [*kept, cut]
    if left > 0:
        periods = _periods(schedule.method, opening, left, rate, len(rest), rule)
        due_day = schedule.due_day if schedule.due_day is not None else current.due_date.day
        rebuilt = build_schedule(schedule.method, left, rate, periods, value_date, due_day,
                                 current.due_date, _later_changes(schedule, value_date))
        for k, inst in enumerate(rebuilt.installments):
            no = current.no + k
            by_days = k == 0 and rebuilt.broken_first_period
            note = f"第{no}期（提前还款后重新计算，{PREPAYMENT_RULE_ZH[rule]}）" if k == 0 else ""
            if by_days:
                note += f"，自{value_date.isoformat()}起按实际天数计息"
            elif note:
                note += f"，按月利率计（年利率{(rate * 100).normalize():f}%÷12）"
            kept_rate = inst.annual_rate if inst.annual_rate is not None else rate
            rows.append(replace(inst, no=no, by_days=by_days, note=note,
                                annual_rate=kept_rate if floating else None))
    if label:
        rows = [replace(r, note=f"{label}{r.note}") if r.note else r for r in rows]
    return RepaymentSchedule(
        method=schedule.method,
        principal=schedule.principal,
        annual_rate=rate,
        term_months=len({r.no for r in rows}),
        start=schedule.start,
        due_day=schedule.due_day,
        installments=tuple(rows),
        first_due_date=schedule.first_due_date,
    )


def total_principal(schedule: RepaymentSchedule) -> Decimal:
    """The sum of a schedule's principal parts (equal to its principal, by construction)."""
    return sum((i.principal for i in schedule.installments), ZERO)


def rebuilt_schedules(
    schedules: tuple[RepaymentSchedule, ...],
    prepayments: list[tuple[date, Decimal, bool, PrepaymentRule]],
) -> tuple[RepaymentSchedule, ...]:
    """`schedules` (one per disbursement, oldest first) after each prepayment in date order.

    A prepayment's principal goes to the oldest receipt (借据) with principal not yet due,
    then the next; each `(value_date, principal, full, rule)`. A full prepayment settles
    every receipt."""
    result = list(schedules)
    for value_date, principal, full, rule in sorted(prepayments, key=lambda p: p[0]):
        left = principal
        for n, sch in enumerate(result):
            running = [i for i in sch.installments if i.due_date > value_date]
            if not running or (left <= 0 and not full):
                continue
            opening = running[0].opening_balance
            take = opening if full else min(left, opening)
            result[n] = prepay(sch, value_date, take, full=full or take == opening, rule=rule)
            left -= take
    return tuple(result)
