"""Arrears on any date: contractual interest, penalty and compound interest, allocation.

`compute_arrears` replays a loan from its disbursements to `as_of` and returns an
`ArrearsStatement`. Rules (each row of the statement names the clause it rests on):

* 期内利息. Each disbursement has its own schedule (`lending_core.schedule`, monthly-rate
  convention); a period's interest falls due, unpaid, on its due date.
* 罚息. Principal due and unpaid accrues penalty interest at contract rate × (1 + markup)
  (`LoanTerms.penalty_rate`) per day, from the day after its due date until paid
  (银发〔2003〕251号 art. 3: "从逾期之日起 … 按罚息利率计收利息，直至清偿本息为止").
* 复利. Only where the contract allows it: contractual interest due and unpaid accrues
  compound interest at the penalty rate, from the day after its due date ("对不能按时支付的
  利息，按罚息利率计收复利", same notice). Penalty interest itself bears no compound interest.
* Day count. Daily rate = annual / 360. A day accrues on the base as it stood when the day
  began: a repayment with value date R still leaves day R on the old base, and the base it
  reduces stops accruing from R + 1; an amount due on D starts accruing on D + 1. Over a
  whole overdue spell that is R − D days, the usual 算头不算尾 count.
* Rows. A row closes, and is rounded half up to the fen, at every date the base can change
  (a due date, a repayment, an acceleration) and at `as_of`; `as_of` itself is accrued.
* Acceleration (宣布提前到期) on A: installments due after A are replaced by one amount due
  on A: all their principal, plus the interest accrued in the current period up to A
  (opening balance × annual / 360 × days). From A + 1 all principal bears penalty interest.
* Allocation. Repayments pay buckets in `LoanTerms.allocation_order` (default 费用 → 罚息 →
  复利 → 利息 → 本金, see `lending_core.interest_model`), oldest item first within a bucket.
  Only amounts already due are paid; a surplus is held as credit (溢缴款) and applied to
  the next amounts as they fall due, never to principal that is not yet due.

* Prepayment (提前还款). The schedules may be given already rebuilt
  (`lending_core.reamortise`): the period running on the prepayment date is cut there, its
  interest by actual days falling due with the principal prepaid, and the rest
  re-amortised; such periods carry their own note in the table.

Repayments, charges and an acceleration dated after `as_of` are ignored: the statement
says what was known on `as_of`. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from lending_core.errors import ArrearsInputError
from lending_core.interest_model import (
    ANNUAL_COST_CEILING,
    AccrualKind,
    Allocation,
    AllocationSource,
    ArrearsStatement,
    Bucket,
    Charge,
    ChargeStatus,
    ComputationRow,
    ContinuingAccrual,
    Disbursement,
    LoanTerms,
    Repayment,
)
from lending_core.loan_schedule import schedule_for
from lending_core.money import DAYS_PER_YEAR, ZERO, daily_rate, round_fen
from lending_core.schedule import RepaymentSchedule

__all__ = ["MAX_CASH_FLOWS", "MAX_DISBURSEMENTS", "accrue", "compute_arrears", "schedules_for"]

MAX_DISBURSEMENTS = 100
"""Most disbursements (借据) under one contract accepted."""

MAX_CASH_FLOWS = 10_000
"""Most repayments plus charges accepted in one computation."""

_ONE_DAY = timedelta(days=1)


def accrue(base: Decimal, annual_rate: Decimal, days: int) -> Decimal:
    """round_fen(base × annual_rate × days / 360): one row's amount, never negative."""
    if base < 0 or annual_rate < 0 or days < 0:
        raise ArrearsInputError(
            f"expected non-negative base, rate and days, found {base}, {annual_rate}, {days}"
        )
    return round_fen(base * annual_rate * days / DAYS_PER_YEAR)


def schedules_for(
    terms: LoanTerms, disbursements: Sequence[Disbursement]
) -> tuple[RepaymentSchedule, ...]:
    """One schedule per disbursement, in value-date order, on the contract's terms."""
    return tuple(
        schedule_for(terms, d.amount, d.value_date)
        for d in sorted(disbursements, key=lambda d: d.value_date)
    )


@dataclass(slots=True)
class _Item:
    """Something owed, while the replay runs: a row, a principal amount or a charge."""

    amount: Decimal
    paid: Decimal = ZERO
    row: ComputationRow | None = None
    charge: Charge | None = None

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid


@dataclass(slots=True)
class _Book:
    """What is owed and what was paid, bucket by bucket, while the replay runs."""

    buckets: dict[Bucket, list[_Item]] = field(default_factory=lambda: {b: [] for b in Bucket})
    allocations: list[Allocation] = field(default_factory=list)
    credit: Decimal = ZERO

    def owed(self, bucket: Bucket) -> Decimal:
        return sum((i.outstanding for i in self.buckets[bucket]), ZERO)


@dataclass(frozen=True, slots=True)
class _Due:
    """Principal and interest falling due on one date under one disbursement."""

    due_date: date
    principal: Decimal
    interest_row: ComputationRow | None


def compute_arrears(
    terms: LoanTerms,
    disbursements: Sequence[Disbursement],
    repayments: Sequence[Repayment],
    as_of: date,
    *,
    accelerated_on: date | None = None,
    charges: Sequence[Charge] = (),
    ceiling: Decimal = ANNUAL_COST_CEILING,
    schedules: Sequence[RepaymentSchedule] | None = None,
) -> ArrearsStatement:
    """Replay the loan to `as_of` and state what is owed (see the module docstring).

    `schedules` replaces `schedules_for(terms, disbursements)` when a schedule was rebuilt
    mid-life (a prepayment: `lending_core.reamortise`)."""
    _check_inputs(terms, disbursements, repayments, charges, as_of, accelerated_on)
    if not isinstance(ceiling, Decimal) or not ZERO < ceiling <= 1:
        raise ArrearsInputError(f"expected ceiling as a Decimal in (0, 1], found {ceiling!r}")
    accel = accelerated_on if accelerated_on is not None and accelerated_on <= as_of else None
    dues = _dues(terms, disbursements, accel, schedules)
    # A charge can be paid only once incurred; it never changes an accrual base, so its
    # date is not a row boundary: it joins the costs at the first event on or after it.
    pending = sorted((c for c in charges if c.incurred_on <= as_of), key=lambda c: c.incurred_on)
    cash = sorted((r for r in repayments if r.value_date <= as_of), key=lambda r: r.value_date)
    accrued_to = min(d.value_date for d in disbursements)
    # A floating rate: a row of 罚息/复利 closes the day before each reset, so every row has
    # one rate (the reset's day accrues at the new rate).
    resets = {c.effective_date - _ONE_DAY for c in terms.rate_changes}
    dates = sorted(
        {d.due_date for d in dues if d.due_date <= as_of}
        | {r.value_date for r in cash}
        | {d for d in resets if accrued_to < d < as_of}
        | {as_of}
    )
    book = _Book()
    for day in dates:
        _accrue_rows(terms, book, accrued_to, day)
        accrued_to = day
        while pending and pending[0].incurred_on <= day:
            charge = pending.pop(0)
            book.buckets[Bucket.COSTS].append(_Item(charge.amount, charge=charge))
        for due in dues:
            if due.due_date == day:
                if due.interest_row is not None:
                    book.buckets[Bucket.INTEREST].append(
                        _Item(due.interest_row.amount, row=due.interest_row)
                    )
                if due.principal > 0:
                    book.buckets[Bucket.PRINCIPAL].append(_Item(due.principal))
        if book.credit > 0:
            book.credit = _allocate(terms, book, AllocationSource.CREDIT, book.credit, day)
        for r in cash:
            if r.value_date == day:
                book.credit += _allocate(terms, book, AllocationSource.REPAYMENT, r.amount, day)
    return _statement(terms, disbursements, as_of, accel, ceiling, book)


def _dues(
    terms: LoanTerms,
    disbursements: Sequence[Disbursement],
    accel: date | None,
    schedules: Sequence[RepaymentSchedule] | None = None,
) -> list[_Due]:
    dues: list[_Due] = []
    if schedules is None:
        schedules = schedules_for(terms, disbursements)
    for n, schedule in enumerate(schedules, start=1):
        label = f"借据{n}" if len(disbursements) > 1 else ""
        for inst in schedule.installments:
            if accel is not None and inst.due_date > accel:
                parts = _rate_parts(terms, inst.period_start, accel)
                for k, (a, b, rate) in enumerate(parts):
                    amount = accrue(inst.opening_balance, rate, (b - a).days)
                    row = _interest_row(
                        terms,
                        inst.opening_balance,
                        a,
                        b,
                        amount,
                        f"{label}第{inst.no}期于提前到期日{accel.isoformat()}结息，按实际天数计"
                        f"（{terms.acceleration_clause or '提前到期'}）"
                        + (f"；重定价分段{k + 1}，年利率{_pct(rate)}" if len(parts) > 1 else ""),
                        daily=True,
                        rate=rate,
                    )
                    principal = inst.opening_balance if k == 0 else ZERO
                    dues.append(_Due(accel, principal, row if amount > 0 else None))
                break
            if inst.segments:  # a repricing cuts the period: one row per rate (分段计息)
                for k, seg in enumerate(inst.segments):
                    row = _interest_row(
                        terms,
                        inst.opening_balance,
                        seg.start,
                        seg.end,
                        seg.interest,
                        f"{label}第{inst.no}期重定价分段计息（{k + 1}/{len(inst.segments)}），"
                        f"年利率{_pct(seg.annual_rate)}，按实际天数计",
                        daily=True,
                        rate=seg.annual_rate,
                    )
                    principal = inst.principal if k == 0 else ZERO
                    dues.append(_Due(inst.due_date, principal, row if seg.interest > 0 else None))
                continue
            period_rate = inst.annual_rate if inst.annual_rate is not None else schedule.annual_rate
            regular = not (inst.by_days or (inst.no == 1 and schedule.broken_first_period))
            note = (
                f"{label}{inst.note}"
                if inst.note
                else f"{label}第{inst.no}期，按月利率计（年利率{_pct(period_rate)}÷12）"
                if regular
                else f"{label}第{inst.no}期（首期不足/超过一个月），按实际天数计息"
            )
            row = _interest_row(
                terms,
                inst.opening_balance,
                inst.period_start,
                inst.due_date,
                inst.interest,
                note,
                daily=not regular,
                rate=period_rate,
            )
            dues.append(_Due(inst.due_date, inst.principal, row if inst.interest > 0 else None))
    dues.sort(key=lambda d: d.due_date)
    return dues


def _interest_row(
    terms: LoanTerms,
    base: Decimal,
    start: date,
    end: date,
    amount: Decimal,
    note: str,
    *,
    daily: bool,
    rate: Decimal | None = None,
) -> ComputationRow:
    last_day = end - _ONE_DAY
    annual = terms.annual_rate if rate is None else rate
    return ComputationRow(
        kind=AccrualKind.INTEREST,
        base=base,
        from_date=start,
        to_date=last_day,
        days=(end - start).days,
        annual_rate=annual,
        daily_rate=daily_rate(annual) if daily else None,
        amount=amount,
        paid=ZERO,
        outstanding=amount,
        clause=terms.interest_clause,
        note=note,
    )


def _rate_parts(terms: LoanTerms, start: date, end: date) -> list[tuple[date, date, Decimal]]:
    """[start, end) cut at each reset inside it: (first day, day after the last, rate)."""
    cuts = [c.effective_date for c in terms.rate_changes if start < c.effective_date < end]
    bounds = [start, *cuts, end]
    return [(a, b, terms.rate_on(a)) for a, b in pairwise(bounds)]


def _accrue_rows(terms: LoanTerms, book: _Book, accrued_to: date, day: date) -> None:
    """Close the spell (accrued_to, day] of penalty and compound interest on today's bases."""
    days = (day - accrued_to).days
    if days <= 0:
        return
    rate = terms.penalty_rate_on(day)  # one rate: spells close the day before each reset
    contract = f"执行利率{_pct(terms.rate_on(day))}" if terms.rate_changes else "合同利率"
    spells = [
        (
            AccrualKind.PENALTY,
            book.owed(Bucket.PRINCIPAL),
            Bucket.PENALTY,
            terms.penalty_clause,
            f"逾期本金×罚息利率（{contract}×(1+{_pct(terms.penalty_markup)})）",
        ),
    ]
    if terms.compound_allowed:
        spells.append(
            (
                AccrualKind.COMPOUND,
                book.owed(Bucket.INTEREST),
                Bucket.COMPOUND,
                terms.compound_clause,
                "欠付期内利息×罚息利率",
            ),
        )
    # Both bases are read before either row is added, so the order here does not matter.
    for kind, base, bucket, clause, note in spells:
        amount = accrue(base, rate, days) if base > 0 else ZERO
        if amount <= 0:
            continue
        row = ComputationRow(
            kind=kind,
            base=base,
            from_date=accrued_to + _ONE_DAY,
            to_date=day,
            days=days,
            annual_rate=rate,
            daily_rate=daily_rate(rate),
            amount=amount,
            paid=ZERO,
            outstanding=amount,
            clause=clause,
            note=note,
        )
        book.buckets[bucket].append(_Item(amount, row=row))


def _allocate(
    terms: LoanTerms, book: _Book, source: AllocationSource, amount: Decimal, value_date: date
) -> Decimal:
    """Pay `amount` into the buckets in contract order, oldest first; return the rest."""
    left = amount
    paid: dict[Bucket, Decimal] = {b: ZERO for b in Bucket}
    for bucket in terms.allocation_order:
        for item in book.buckets[bucket]:
            take = min(left, item.outstanding)
            if take > 0:
                item.paid += take
                left -= take
                paid[bucket] += take
    if left == amount and source is AllocationSource.CREDIT:
        return left  # nothing fell due: no allocation line for an idle credit
    book.allocations.append(
        Allocation(
            value_date=value_date,
            source=source,
            amount=amount,
            costs=paid[Bucket.COSTS],
            penalty=paid[Bucket.PENALTY],
            compound=paid[Bucket.COMPOUND],
            interest=paid[Bucket.INTEREST],
            principal=paid[Bucket.PRINCIPAL],
            unapplied=left,
        )
    )
    return left


def _statement(
    terms: LoanTerms,
    disbursements: Sequence[Disbursement],
    as_of: date,
    accel: date | None,
    ceiling: Decimal,
    book: _Book,
) -> ArrearsStatement:
    disbursed = sum((d.amount for d in disbursements), ZERO)
    outstanding = disbursed - sum((a.principal for a in book.allocations), ZERO)
    overdue = book.owed(Bucket.PRINCIPAL)
    interest_due = book.owed(Bucket.INTEREST)
    rate = terms.penalty_rate_on(as_of)
    continuing = [
        ContinuingAccrual(kind, base, rate, daily_rate(rate), base * daily_rate(rate), clause)
        for kind, base, clause, applies in (
            (AccrualKind.PENALTY, overdue, terms.penalty_clause, True),
            (AccrualKind.COMPOUND, interest_due, terms.compound_clause, terms.compound_allowed),
        )
        if applies and base > 0
    ]
    # The annual cost now borne: the rate on principal, plus compound interest expressed
    # per unit of that principal (see ArrearsStatement).
    principal_base = overdue if overdue > 0 else outstanding
    principal_rate = rate if overdue > 0 else (terms.rate_on(as_of) if outstanding > 0 else ZERO)
    compound_part = (
        rate * interest_due / principal_base
        if terms.compound_allowed and principal_base > 0
        else ZERO
    )
    combined = principal_rate + compound_part
    penalty_charged = bool(book.buckets[Bucket.PENALTY] or book.buckets[Bucket.COMPOUND])
    # A floating rate: the highest penalty rate any row charged, not only today's.
    charged_rate = max(
        (i.row.annual_rate for b in (Bucket.PENALTY, Bucket.COMPOUND) for i in book.buckets[b]
         if i.row is not None),
        default=rate,
    )
    accrued = [
        i for b in (Bucket.INTEREST, Bucket.PENALTY, Bucket.COMPOUND) for i in book.buckets[b]
    ]
    rows = sorted(
        (replace(i.row, paid=i.paid, outstanding=i.outstanding) for i in accrued if i.row),
        key=lambda r: (r.from_date, _KIND_ORDER[r.kind]),
    )
    costs = book.buckets[Bucket.COSTS]
    return ArrearsStatement(
        as_of=as_of,
        accelerated_on=accel,
        disbursed=disbursed,
        outstanding_principal=outstanding,
        overdue_principal=overdue,
        interest_due=interest_due,
        penalty_interest=book.owed(Bucket.PENALTY),
        compound_interest=book.owed(Bucket.COMPOUND),
        costs_due=book.owed(Bucket.COSTS),
        unapplied_credit=book.credit,
        rows=tuple(rows),
        allocations=tuple(book.allocations),
        charges=tuple(ChargeStatus(i.charge, i.paid, i.outstanding) for i in costs if i.charge),
        continuing=tuple(continuing),
        penalty_rate=rate,
        combined_annual_rate=combined,
        ceiling=ceiling,
        exceeds_24pct=combined > ceiling or (penalty_charged and charged_rate > ceiling),
    )


_KIND_ORDER = {AccrualKind.INTEREST: 0, AccrualKind.PENALTY: 1, AccrualKind.COMPOUND: 2}


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _check_inputs(
    terms: LoanTerms,
    disbursements: Sequence[Disbursement],
    repayments: Sequence[Repayment],
    charges: Sequence[Charge],
    as_of: date,
    accelerated_on: date | None,
) -> None:
    if not disbursements:
        raise ArrearsInputError("expected at least one disbursement, found none")
    if len(disbursements) > MAX_DISBURSEMENTS:
        raise ArrearsInputError(
            f"expected at most {MAX_DISBURSEMENTS} disbursements, found {len(disbursements)}"
        )
    if len(repayments) + len(charges) > MAX_CASH_FLOWS:
        raise ArrearsInputError(
            f"expected at most {MAX_CASH_FLOWS} repayments and charges, "
            f"found {len(repayments) + len(charges)}"
        )
    disbursed = sum((d.amount for d in disbursements), ZERO)
    if disbursed > terms.principal:
        raise ArrearsInputError(
            f"expected disbursements totalling at most the contract principal "
            f"{terms.principal}, found {disbursed}"
        )
    first = min(d.value_date for d in disbursements)
    if as_of < first:
        raise ArrearsInputError(
            f"expected as_of on or after the first disbursement {first}, found {as_of}"
        )
    early = [r.value_date for r in repayments if r.value_date < first]
    if early:
        raise ArrearsInputError(
            f"expected repayments on or after the first disbursement {first}, found {early[0]}"
        )
    if accelerated_on is not None:
        last = max(d.value_date for d in disbursements)
        if accelerated_on < last:
            raise ArrearsInputError(
                f"expected acceleration on or after the last disbursement {last}, "
                f"found {accelerated_on}"
            )
