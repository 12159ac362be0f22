"""`schedule_for`: the one schedule of every view honours the contract's first due date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from lending_core.errors import ScheduleError
from lending_core.interest import schedules_for
from lending_core.interest_model import Disbursement, LoanTerms
from lending_core.loan_schedule import schedule_for
from lending_core.schedule import RepaymentMethod, due_dates
from lending_core.state import Terms


def _terms(first: date | None, day: int | None) -> Terms:
    return Terms(principal=D("120000.00"), term_months=6, annual_rate=D("0.0360"),
                 repayment_method="equal_principal", first_due_date=first, due_day=day,
                 penalty_markup=D("0.5"), compound_interest_allowed=True,
                 since=date(2024, 1, 5), agreed_by="C-1")


def test_first_due_date_two_months_out_is_period_one() -> None:
    # value date 8 January, first due date 20 March (a grace month), no due day
    s = schedule_for(_terms(date(2024, 3, 20), None), D("120000.00"), date(2024, 1, 8))
    assert [i.due_date for i in s.installments] == [
        date(2024, 3, 20), date(2024, 4, 20), date(2024, 5, 20), date(2024, 6, 20),
        date(2024, 7, 20), date(2024, 8, 20)]
    # broken first period: 72 days by actual days, 120,000 × 3.6 % × 72 / 360 = 864.00
    assert s.broken_first_period and s.installments[0].days == 72
    assert s.installments[0].interest == D("864.00")
    # later periods: monthly rate on the falling balance, 20,000 principal each
    assert s.installments[1].interest == D("300.00") and s.installments[1].principal == D(
        "20000.00")
    assert s.total_principal == D("120000.00")


def test_first_due_date_on_the_month_day_is_a_regular_period() -> None:
    s = schedule_for(_terms(date(2024, 2, 8), None), D("120000.00"), date(2024, 1, 8))
    assert not s.broken_first_period and s.installments[0].interest == D("360.00")
    assert s.installments[-1].due_date == date(2024, 7, 8)


def test_due_day_wins_after_a_month_end_first_due_date() -> None:
    dates = due_dates(date(2024, 1, 10), 3, 31, date(2024, 2, 29))
    assert dates == (date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30))
    with pytest.raises(ScheduleError, match="first_due_date after 2024-01-10"):
        due_dates(date(2024, 1, 10), 3, None, date(2024, 1, 10))


def test_the_claim_uses_the_same_function() -> None:
    terms = LoanTerms(principal=D("120000.00"), annual_rate=D("0.0360"),
                      method=RepaymentMethod.EQUAL_PRINCIPAL, term_months=6, due_day=20,
                      first_due_date=date(2024, 3, 20))
    first, second = schedules_for(terms, [Disbursement(D("60000.00"), date(2024, 1, 8)),
                                          Disbursement(D("60000.00"), date(2024, 4, 2))])
    assert first.installments[0].due_date == date(2024, 3, 20)
    # a later drawdown after the first due date: its own first month, on the due day
    assert second.installments[0].due_date == date(2024, 5, 20)
    state_view = schedule_for(_terms(date(2024, 3, 20), 20), D("60000.00"), date(2024, 1, 8))
    assert state_view.installments == first.installments
