"""Post-loan monitoring rules (贷后监控): days past due, five-category classification, early
warnings and dispute candidates, all as of a date the caller passes in.

Payments are matched to installments in due-date order: the money received by a day covers
the earliest installments first, at their scheduled payment (principal plus interest).
Penalty and compound interest are left out on purpose: these rules answer "is the borrower
keeping to the schedule", which must not drift as penalties accrue; the amounts owed come
from `lending_core.interest.compute_arrears`. After an acceleration on A every installment
due later counts as due on A for its principal (its interest after A is cancelled).

Classification follows the overdue-days practice of 《贷款风险分类指引》(银监发〔2007〕54号)
as banks apply it to small-business loans: 0 days 正常, 1-90 关注, 91-180 次级, 181-360 可疑,
over 360 损失. (《商业银行金融资产风险分类办法》(2023) moves the 可疑 floor to 270 days;
the thresholds are named constants so a bank can adopt it.) Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from lending_core.errors import LendingError
from lending_core.interest_model import Repayment
from lending_core.money import ZERO
from lending_core.schedule import RepaymentSchedule, add_months

__all__ = [
    "DISPUTE_MIN_DPD",
    "DOUBTFUL_MIN_DPD",
    "LOSS_MIN_DPD",
    "REPEATED_LATENESS_COUNT",
    "REPEATED_LATENESS_WINDOW_MONTHS",
    "SPECIAL_MENTION_MIN_DPD",
    "SUBSTANDARD_MIN_DPD",
    "EarlyWarning",
    "InstallmentStatus",
    "MonitoringReport",
    "RiskCategory",
    "WarningKind",
    "assess",
    "classify",
    "days_past_due",
    "early_warnings",
    "installment_statuses",
    "is_dispute_candidate",
]

SPECIAL_MENTION_MIN_DPD = 1
"""关注 from the first day past due."""
SUBSTANDARD_MIN_DPD = 91
"""次级 from 91 days past due (overdue more than 90 days)."""
DOUBTFUL_MIN_DPD = 181
"""可疑 from 181 days past due (overdue more than 180 days)."""
LOSS_MIN_DPD = 361
"""损失 from 361 days past due (overdue more than 360 days)."""

DISPUTE_MIN_DPD = 91
"""A loan more than 90 days past due is a candidate for notarization, arbitration or suit."""

REPEATED_LATENESS_COUNT = 3
"""Late installments within the window that raise a repeated-lateness warning."""
REPEATED_LATENESS_WINDOW_MONTHS = 6
"""The look-back window for repeated lateness, in months before `as_of`."""


class RiskCategory(StrEnum):
    """The five categories (五级分类), by their Chinese names."""

    NORMAL = "正常"
    SPECIAL_MENTION = "关注"
    SUBSTANDARD = "次级"
    DOUBTFUL = "可疑"
    LOSS = "损失"


class WarningKind(StrEnum):
    MISSED_PAYMENT = "missed_payment"
    """An installment past due with nothing paid towards it."""
    PARTIAL_PAYMENT = "partial_payment"
    """An installment past due and only partly paid."""
    REPEATED_LATENESS = "repeated_lateness"
    """At least `REPEATED_LATENESS_COUNT` installments late within the window."""


@dataclass(frozen=True, slots=True)
class InstallmentStatus:
    """How one installment stands on `as_of` (`due_date` is after any acceleration)."""

    no: int
    due_date: date
    amount_due: Decimal
    paid_by_due_date: Decimal
    paid_by_as_of: Decimal
    paid_in_full_on: date | None
    days_past_due: int

    @property
    def late(self) -> bool:
        """Paid in full after its due date, or still unpaid after it."""
        if self.paid_in_full_on is not None:
            return self.paid_in_full_on > self.due_date
        return self.days_past_due > 0


@dataclass(frozen=True, slots=True)
class EarlyWarning:
    kind: WarningKind
    installment_no: int | None
    due_date: date | None
    detail: str


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    as_of: date
    days_past_due: int
    category: RiskCategory
    overdue_amount: Decimal
    accelerated_on: date | None
    warnings: tuple[EarlyWarning, ...]
    dispute_candidate: bool
    dispute_reasons: tuple[str, ...]


def classify(dpd: int) -> RiskCategory:
    """五级分类 by days past due (see the module docstring for the thresholds' source)."""
    if isinstance(dpd, bool) or not isinstance(dpd, int) or dpd < 0:
        raise LendingError(f"expected days past due as a non-negative int, found {dpd!r}")
    if dpd >= LOSS_MIN_DPD:
        return RiskCategory.LOSS
    if dpd >= DOUBTFUL_MIN_DPD:
        return RiskCategory.DOUBTFUL
    if dpd >= SUBSTANDARD_MIN_DPD:
        return RiskCategory.SUBSTANDARD
    if dpd >= SPECIAL_MENTION_MIN_DPD:
        return RiskCategory.SPECIAL_MENTION
    return RiskCategory.NORMAL


def is_dispute_candidate(dpd: int, accelerated: bool) -> bool:
    """More than 90 days past due, or the loan has been accelerated."""
    return accelerated or dpd >= DISPUTE_MIN_DPD


def installment_statuses(
    schedule: RepaymentSchedule,
    repayments: Sequence[Repayment],
    as_of: date,
    *,
    accelerated_on: date | None = None,
) -> tuple[InstallmentStatus, ...]:
    """Each installment's state on `as_of`; repayments after `as_of` are ignored."""
    accel = accelerated_on if accelerated_on is not None and accelerated_on <= as_of else None
    cash = sorted((r for r in repayments if r.value_date <= as_of), key=lambda r: r.value_date)

    def paid_by(day: date) -> Decimal:
        return sum((r.amount for r in cash if r.value_date <= day), ZERO)

    statuses: list[InstallmentStatus] = []
    covered_before = ZERO  # scheduled amounts of the earlier installments
    for inst in schedule.installments:
        if accel is not None and inst.due_date > accel:
            due, amount = accel, inst.principal
        else:
            due, amount = inst.due_date, inst.payment
        covered_after = covered_before + amount

        def share(
            paid: Decimal, before: Decimal = covered_before, cap: Decimal = amount
        ) -> Decimal:
            return min(max(paid - before, ZERO), cap)

        full_on = None
        running = ZERO
        for r in cash:
            running += r.amount
            if running >= covered_after:
                full_on = r.value_date
                break
        by_as_of = share(paid_by(as_of))
        dpd = (as_of - due).days if by_as_of < amount and due < as_of else 0
        statuses.append(
            InstallmentStatus(
                no=inst.no,
                due_date=due,
                amount_due=amount,
                paid_by_due_date=share(paid_by(due)),
                paid_by_as_of=by_as_of,
                paid_in_full_on=full_on if amount > 0 else due,
                days_past_due=dpd,
            )
        )
        covered_before = covered_after
    return tuple(statuses)


def days_past_due(
    schedule: RepaymentSchedule,
    repayments: Sequence[Repayment],
    as_of: date,
    *,
    accelerated_on: date | None = None,
) -> int:
    """Days since the earliest installment still unpaid fell due (0 if none is past due)."""
    statuses = installment_statuses(schedule, repayments, as_of, accelerated_on=accelerated_on)
    return max((s.days_past_due for s in statuses), default=0)


def early_warnings(
    schedule: RepaymentSchedule,
    repayments: Sequence[Repayment],
    as_of: date,
    *,
    accelerated_on: date | None = None,
    late_count: int = REPEATED_LATENESS_COUNT,
    window_months: int = REPEATED_LATENESS_WINDOW_MONTHS,
) -> tuple[EarlyWarning, ...]:
    """Missed and partial payments now past due, and repeated lateness within the window."""
    statuses = installment_statuses(schedule, repayments, as_of, accelerated_on=accelerated_on)
    return _warnings(statuses, as_of, late_count, window_months)


def assess(
    schedule: RepaymentSchedule,
    repayments: Sequence[Repayment],
    as_of: date,
    *,
    accelerated_on: date | None = None,
) -> MonitoringReport:
    """Everything the monitoring rules say about one loan on `as_of`."""
    statuses = installment_statuses(schedule, repayments, as_of, accelerated_on=accelerated_on)
    dpd = max((s.days_past_due for s in statuses), default=0)
    accel = accelerated_on if accelerated_on is not None and accelerated_on <= as_of else None
    reasons: list[str] = []
    if dpd >= DISPUTE_MIN_DPD:
        reasons.append(f"逾期{dpd}天，超过{DISPUTE_MIN_DPD - 1}天")
    if accel is not None:
        reasons.append(f"已于{accel.isoformat()}宣布提前到期")
    overdue = sum((s.amount_due - s.paid_by_as_of for s in statuses if s.days_past_due > 0), ZERO)
    return MonitoringReport(
        as_of=as_of,
        days_past_due=dpd,
        category=classify(dpd),
        overdue_amount=overdue,
        accelerated_on=accel,
        warnings=_warnings(
            statuses, as_of, REPEATED_LATENESS_COUNT, REPEATED_LATENESS_WINDOW_MONTHS
        ),
        dispute_candidate=is_dispute_candidate(dpd, accel is not None),
        dispute_reasons=tuple(reasons),
    )


def _warnings(
    statuses: Sequence[InstallmentStatus], as_of: date, late_count: int, window_months: int
) -> tuple[EarlyWarning, ...]:
    if late_count < 1 or window_months < 1:
        raise LendingError(
            f"expected late_count and window_months of at least 1, "
            f"found {late_count} and {window_months}"
        )
    warnings: list[EarlyWarning] = []
    for s in statuses:
        if s.days_past_due == 0:
            continue
        if s.paid_by_as_of == 0:
            kind, detail = WarningKind.MISSED_PAYMENT, f"第{s.no}期应还{s.amount_due}，未还"
        else:
            kind, detail = (
                WarningKind.PARTIAL_PAYMENT,
                f"第{s.no}期应还{s.amount_due}，已还{s.paid_by_as_of}",
            )
        warnings.append(EarlyWarning(kind, s.no, s.due_date, f"{detail}，逾期{s.days_past_due}天"))
    window_start = add_months(as_of, -window_months)
    late = [s for s in statuses if window_start < s.due_date <= as_of and s.late]
    if len(late) >= late_count:
        warnings.append(
            EarlyWarning(
                WarningKind.REPEATED_LATENESS,
                None,
                None,
                f"近{window_months}个月内{len(late)}期逾期还款（第"
                + "、".join(str(s.no) for s in late)
                + "期）",
            )
        )
    return tuple(warnings)
