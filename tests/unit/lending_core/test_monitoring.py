"""Monitoring rules: days past due, 五级分类 boundaries, early warnings, dispute candidates.

The loan: 100,000.00 at 4.35 %, 等额本息 over 12 months from 15 Jan 2024, 8530.99 a month
due on the 15th (the last, 15 Jan 2025, is 8531.01).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending_core.errors import LendingError
from lending_core.interest_model import Repayment
from lending_core.money import FEN
from lending_core.monitoring import (
    DOUBTFUL_MIN_DPD,
    LOSS_MIN_DPD,
    SPECIAL_MENTION_MIN_DPD,
    SUBSTANDARD_MIN_DPD,
    RiskCategory,
    WarningKind,
    assess,
    classify,
    days_past_due,
    early_warnings,
    installment_statuses,
    is_dispute_candidate,
)
from lending_core.schedule import equal_installment

D = Decimal
SCHEDULE = equal_installment(D("100000.00"), D("0.0435"), 12, date(2024, 1, 15))
PAY = D("8530.99")


@pytest.mark.parametrize(
    ("dpd", "category"),
    [
        (0, RiskCategory.NORMAL),
        (1, RiskCategory.SPECIAL_MENTION),
        (90, RiskCategory.SPECIAL_MENTION),
        (91, RiskCategory.SUBSTANDARD),
        (180, RiskCategory.SUBSTANDARD),
        (181, RiskCategory.DOUBTFUL),
        (360, RiskCategory.DOUBTFUL),
        (361, RiskCategory.LOSS),
        (5000, RiskCategory.LOSS),
    ],
)
def test_classification_boundaries(dpd: int, category: RiskCategory) -> None:
    assert classify(dpd) is category


def test_threshold_constants() -> None:
    assert (SPECIAL_MENTION_MIN_DPD, SUBSTANDARD_MIN_DPD, DOUBTFUL_MIN_DPD, LOSS_MIN_DPD) == (
        1,
        91,
        181,
        361,
    )
    assert RiskCategory.SUBSTANDARD == "次级"


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_classify_rejects(bad: object) -> None:
    with pytest.raises(LendingError, match="found"):
        classify(bad)  # type: ignore[arg-type]


def test_no_payment_due_yet_is_normal() -> None:
    report = assess(SCHEDULE, [], date(2024, 2, 15))  # due today, not yet past due
    assert report.days_past_due == 0 and report.category is RiskCategory.NORMAL
    assert report.warnings == () and not report.dispute_candidate


def test_missed_payment() -> None:
    report = assess(SCHEDULE, [], date(2024, 2, 16))
    assert report.days_past_due == 1
    assert report.category is RiskCategory.SPECIAL_MENTION
    (warning,) = report.warnings
    assert warning.kind is WarningKind.MISSED_PAYMENT and warning.installment_no == 1
    assert report.overdue_amount == PAY


def test_dpd_counts_from_the_oldest_unpaid_installment() -> None:
    """First paid, second missed (due 15 Mar): on 14 Jun dpd = 91 (16 Mar .. 14 Jun)."""
    paid = [Repayment(PAY, date(2024, 2, 15))]
    assert days_past_due(SCHEDULE, paid, date(2024, 6, 13)) == 90
    report = assess(SCHEDULE, paid, date(2024, 6, 14))
    assert report.days_past_due == 91
    assert report.category is RiskCategory.SUBSTANDARD
    assert report.dispute_candidate and "逾期91天" in report.dispute_reasons[0]
    assert report.overdue_amount == PAY * 3  # periods 2-4; period 5 falls due 15 Jun


def test_partial_payment_and_repeated_lateness() -> None:
    """Periods 1 and 2 paid 5 and 3 days late, period 3 only 4,000.00 paid."""
    cash = [
        Repayment(PAY, date(2024, 2, 20)),
        Repayment(PAY, date(2024, 3, 18)),
        Repayment(D("4000.00"), date(2024, 4, 16)),
    ]
    report = assess(SCHEDULE, cash, date(2024, 5, 1))
    assert report.days_past_due == 16
    kinds = [w.kind for w in report.warnings]
    assert kinds == [WarningKind.PARTIAL_PAYMENT, WarningKind.REPEATED_LATENESS]
    assert "已还4000.00" in report.warnings[0].detail
    assert report.overdue_amount == PAY - D("4000.00")
    statuses = installment_statuses(SCHEDULE, cash, date(2024, 5, 1))
    assert statuses[0].paid_in_full_on == date(2024, 2, 20) and statuses[0].late
    assert statuses[0].paid_by_due_date == 0
    assert statuses[2].paid_by_as_of == D("4000.00") and statuses[2].paid_in_full_on is None


def test_two_late_payments_are_not_yet_repeated_lateness() -> None:
    cash = [Repayment(PAY, date(2024, 2, 20)), Repayment(PAY, date(2024, 3, 18))]
    assert early_warnings(SCHEDULE, cash, date(2024, 4, 1)) == ()
    # A stricter bank can lower the count.
    (w,) = early_warnings(SCHEDULE, cash, date(2024, 4, 1), late_count=2)
    assert w.kind is WarningKind.REPEATED_LATENESS


def test_lateness_outside_the_window_is_forgotten() -> None:
    cash = [
        Repayment(PAY, date(2024, 2, 20)),
        Repayment(PAY, date(2024, 3, 18)),
        Repayment(PAY, date(2024, 4, 18)),
    ]
    cash += [Repayment(PAY, date(2024, m, 15)) for m in range(5, 13)]
    assert [w.kind for w in early_warnings(SCHEDULE, cash, date(2024, 5, 1))] == [
        WarningKind.REPEATED_LATENESS
    ]
    assert early_warnings(SCHEDULE, cash, date(2024, 11, 1)) == ()


def test_on_time_and_prepaid_borrower_has_no_warnings() -> None:
    cash = [Repayment(PAY * 3, date(2024, 2, 1))]
    report = assess(SCHEDULE, cash, date(2024, 4, 20))
    assert report.days_past_due == 0 and report.warnings == ()


def test_acceleration_makes_everything_due_and_a_dispute_candidate() -> None:
    cash = [Repayment(PAY, date(2024, 2, 15))]
    report = assess(SCHEDULE, cash, date(2024, 4, 30), accelerated_on=date(2024, 4, 20))
    assert report.dispute_candidate and report.accelerated_on == date(2024, 4, 20)
    assert report.days_past_due == 46  # period 2, due 15 Mar
    # Periods 2-3 in full, plus the principal of periods 4-12 (75,405.59).
    assert report.overdue_amount == PAY * 2 + D("75405.59")
    before = assess(SCHEDULE, cash, date(2024, 4, 19), accelerated_on=date(2024, 4, 20))
    assert before.accelerated_on is None


def test_dispute_candidate_rule() -> None:
    assert not is_dispute_candidate(90, accelerated=False)
    assert is_dispute_candidate(91, accelerated=False)
    assert is_dispute_candidate(0, accelerated=True)


def test_rejects_bad_window() -> None:
    with pytest.raises(LendingError, match="at least 1"):
        early_warnings(SCHEDULE, [], date(2024, 3, 1), late_count=0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(1, 2_000_000).map(lambda f: D(f) * FEN)),
        max_size=10,
    ),
    st.integers(0, 600),
    st.integers(1, 60),
)
def test_dpd_grows_day_by_day_without_payments(
    flows: list[tuple[int, Decimal]], offset: int, step: int
) -> None:
    """Absent new repayments, dpd either grows by the days elapsed or is reset by nothing."""
    cash = [Repayment(a, date(2024, 1, 15) + timedelta(days=d)) for d, a in flows]
    as_of = date(2024, 1, 15) + timedelta(days=offset)
    later = as_of + timedelta(days=step)
    cash_known = [r for r in cash if r.value_date <= as_of]
    a = days_past_due(SCHEDULE, cash_known, as_of)
    b = days_past_due(SCHEDULE, cash_known, later)
    assert b >= a and (a == 0 or b == a + step)
    assert classify(b).value in {c.value for c in RiskCategory}
