"""Repayment schedules: hand-worked golden cases for every method, and properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending_core.errors import ScheduleError
from lending_core.money import FEN
from lending_core.schedule import (
    RepaymentMethod,
    add_months,
    build_schedule,
    due_dates,
    equal_installment,
    equal_principal,
    interest_only,
)

D = Decimal


def test_equal_installment_golden_100k_435_12m() -> None:
    """100,000.00 at 4.35 % for 12 months, 等额本息.

    r = 0.0435 / 12 = 0.003625; (1 + r)^12 = 1.0443778468...;
    payment = 100000 × 0.003625 × 1.0443778 / 0.0443778 = 8530.9900... → 8530.99.
    Period 1: interest 100000 × 0.003625 = 362.50, principal 8530.99 − 362.50 = 8168.49.
    Period 2: interest 91831.51 × 0.003625 = 332.889 → 332.89, principal 8198.10.
    Period 12 takes the remaining 8500.20 with interest 8500.20 × 0.003625 = 30.813 → 30.81,
    so it pays 8531.01 (2 fen of accumulated rounding). Total interest 11 × 8530.99 +
    8531.01 − 100000 = 2371.90.
    """
    s = equal_installment(D("100000.00"), D("0.0435"), 12, date(2024, 1, 15))
    rows = s.installments
    assert [r.payment for r in rows[:11]] == [D("8530.99")] * 11
    assert (rows[0].interest, rows[0].principal, rows[0].remaining) == (
        D("362.50"),
        D("8168.49"),
        D("91831.51"),
    )
    assert (rows[1].interest, rows[1].principal) == (D("332.89"), D("8198.10"))
    assert (rows[11].principal, rows[11].interest, rows[11].payment) == (
        D("8500.20"),
        D("30.81"),
        D("8531.01"),
    )
    assert rows[11].remaining == 0
    assert s.total_principal == D("100000.00")
    assert s.total_interest == D("2371.90")
    assert rows[0].period_start == date(2024, 1, 15)
    assert rows[0].due_date == date(2024, 2, 15)
    assert rows[0].days == 31
    assert s.maturity == date(2025, 1, 15)
    assert not s.broken_first_period


def test_equal_principal_golden() -> None:
    """120,000.00 at 4.35 % for 12 months, 等额本金: principal 10,000.00 a period.

    Interest k = (120000 − 10000 (k − 1)) × 0.003625: 435.00, 398.75, ..., 36.25;
    total = 0.003625 × 10000 × (12 + 11 + ... + 1) = 36.25 × 78 = 2827.50.
    """
    s = equal_principal(D("120000.00"), D("0.0435"), 12, date(2024, 3, 10))
    assert all(r.principal == D("10000.00") for r in s.installments)
    assert s.installments[0].interest == D("435.00")
    assert s.installments[1].interest == D("398.75")
    assert s.installments[-1].interest == D("36.25")
    assert s.total_interest == D("2827.50")
    assert s.installments[0].payment == D("10435.00")


def test_equal_principal_last_absorbs_rounding() -> None:
    """100,000.00 / 12 = 8333.333... → 8333.33 × 11, last 100000 − 91666.63 = 8333.37."""
    s = equal_principal(D("100000.00"), D("0.0435"), 12, date(2024, 1, 31))
    assert [r.principal for r in s.installments[:11]] == [D("8333.33")] * 11
    assert s.installments[-1].principal == D("8333.37")
    assert s.total_principal == D("100000.00")


def test_interest_only_golden() -> None:
    """按月付息到期还本: 100,000.00 × 0.003625 = 362.50 a month, principal at the end."""
    s = interest_only(D("100000.00"), D("0.0435"), 3, date(2024, 1, 15))
    assert [r.interest for r in s.installments] == [D("362.50")] * 3
    assert [r.principal for r in s.installments] == [D("0.00"), D("0.00"), D("100000.00")]
    assert s.installments[-1].payment == D("100362.50")


def test_broken_first_period_by_actual_days() -> None:
    """Value date 20 Jan, due day 5: first period 20 Jan - 5 Feb = 16 days,
    interest 100000 × 0.0435 × 16 / 360 = 193.333 → 193.33; later periods monthly."""
    s = interest_only(D("100000.00"), D("0.0435"), 3, date(2024, 1, 20), due_day=5)
    assert s.broken_first_period
    first, second = s.installments[0], s.installments[1]
    assert (first.period_start, first.due_date, first.days) == (
        date(2024, 1, 20),
        date(2024, 2, 5),
        16,
    )
    assert first.interest == D("193.33")
    assert second.interest == D("362.50")


def test_broken_first_period_keeps_equal_installment_principal() -> None:
    """The principal part of a broken first period is the regular one (8168.49)."""
    regular = equal_installment(D("100000.00"), D("0.0435"), 12, date(2024, 1, 15))
    broken = equal_installment(D("100000.00"), D("0.0435"), 12, date(2024, 1, 15), due_day=25)
    assert broken.installments[0].principal == regular.installments[0].principal
    # 15 Jan - 25 Feb = 41 days: 100000 × 0.0435 × 41 / 360 = 495.416 → 495.42
    assert broken.installments[0].interest == D("495.42")
    assert broken.installments[1].payment == D("8530.99")


def test_due_day_equal_to_value_day_is_regular() -> None:
    s = equal_installment(D("1000.00"), D("0.05"), 2, date(2024, 1, 15), due_day=15)
    assert not s.broken_first_period


def test_month_end_dates_do_not_drift() -> None:
    assert due_dates(date(2024, 1, 31), 4) == (
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    )
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert add_months(date(2024, 1, 15), -1) == date(2023, 12, 15)


def test_zero_rate() -> None:
    s = equal_installment(D("1000.00"), D("0"), 3, date(2024, 1, 1))
    assert [r.principal for r in s.installments] == [D("333.33"), D("333.33"), D("333.34")]
    assert s.total_interest == 0


def test_tiny_principal_never_overpays() -> None:
    """3.00 over 360 months rounds the payment up to 0.01; principal stops at 3.00."""
    s = equal_installment(D("3.00"), D("0"), 360, date(2024, 1, 1))
    assert s.total_principal == D("3.00")
    assert all(r.principal >= 0 and r.remaining >= 0 for r in s.installments)


def test_build_schedule_dispatches() -> None:
    s = build_schedule(
        RepaymentMethod.EQUAL_PRINCIPAL, D("1200.00"), D("0.12"), 12, date(2024, 1, 1)
    )
    assert s.method is RepaymentMethod.EQUAL_PRINCIPAL
    assert RepaymentMethod.EQUAL_INSTALLMENT.label_zh == "等额本息"
    with pytest.raises(ScheduleError, match="expected a repayment method"):
        build_schedule("balloon", D("1.00"), D("0.1"), 1, date(2024, 1, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("principal", "rate", "term", "due_day", "match"),
    [
        (D("0"), D("0.04"), 12, None, "principal"),
        (D("-1.00"), D("0.04"), 12, None, "principal"),
        (D("100.001"), D("0.04"), 12, None, "principal"),
        (D("100.00"), D("-0.01"), 12, None, "annual_rate"),
        (D("100.00"), D("4.35"), 12, None, "annual_rate"),
        (D("100.00"), D("0.04"), 0, None, "term_months"),
        (D("100.00"), D("0.04"), 361, None, "term_months"),
        (D("100.00"), D("0.04"), 12, 32, "due_day"),
        (D("100.00"), D("0.04"), 12, 0, "due_day"),
    ],
)
def test_rejects_bad_inputs(
    principal: Decimal, rate: Decimal, term: int, due_day: int | None, match: str
) -> None:
    with pytest.raises(ScheduleError, match=match) as err:
        equal_installment(principal, rate, term, date(2024, 1, 1), due_day)
    assert "found" in str(err.value)


def test_schedule_is_frozen() -> None:
    s = interest_only(D("100.00"), D("0.1"), 1, date(2024, 1, 1))
    with pytest.raises(AttributeError):
        s.installments[0].interest = D("0")  # type: ignore[misc]


methods = st.sampled_from(list(RepaymentMethod))
principals = st.integers(min_value=1, max_value=10**11).map(lambda f: Decimal(f) * FEN)
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: Decimal(bp) / 10000)
terms = st.integers(min_value=1, max_value=360)
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
due_days = st.none() | st.integers(min_value=1, max_value=31)


@settings(max_examples=300, deadline=None)
@given(methods, principals, rates, terms, starts, due_days)
def test_schedule_properties(
    method: RepaymentMethod,
    principal: Decimal,
    rate: Decimal,
    term: int,
    start: date,
    due_day: int | None,
) -> None:
    s = build_schedule(method, principal, rate, term, start, due_day)
    rows = s.installments
    assert len(rows) == term
    assert s.total_principal == principal  # exactly, to the fen
    assert rows[-1].remaining == 0
    previous_remaining = principal
    previous_due = start
    for r in rows:
        assert r.principal >= 0 and r.interest >= 0 and r.payment >= 0 and r.remaining >= 0
        assert r.payment == r.principal + r.interest
        assert r.remaining == previous_remaining - r.principal
        assert r.period_start == previous_due < r.due_date
        for amount in (r.principal, r.interest, r.payment, r.remaining):
            assert amount == amount.quantize(FEN)
        previous_remaining, previous_due = r.remaining, r.due_date
    regular = rows[1:-1] if s.broken_first_period else rows[:-1]
    if method is RepaymentMethod.EQUAL_INSTALLMENT and all(r.remaining > 0 for r in regular):
        # Same payment every period but the last, unless a tiny principal ran out early.
        assert len({r.payment for r in regular}) <= 1
