"""Arrears: hand-worked penalty and compound interest, allocation, acceleration, the 24 %
flag, and properties (never negative, monotone in `as_of` absent repayments).

The common loan: 100,000.00 at 4.35 % a year, 等额本息 over 12 months from 15 Jan 2024
(schedule in test_schedule: 8530.99 a month; period 2 is principal 8198.10 + interest
332.89 due 15 Mar; period 3 is 8227.82 + 303.17 due 15 Apr, leaving 75,405.59).
Penalty rate = 4.35 % × 1.5 = 6.525 % a year; daily 6.525 % / 360 = 0.018125 %.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending_core.errors import ArrearsInputError
from lending_core.interest import accrue, compute_arrears
from lending_core.interest_model import (
    AccrualKind,
    AllocationSource,
    Bucket,
    Charge,
    Disbursement,
    LoanTerms,
    Repayment,
)
from lending_core.money import FEN
from lending_core.schedule import RepaymentMethod

D = Decimal
START = date(2024, 1, 15)
TERMS = LoanTerms(
    principal=D("100000.00"),
    annual_rate=D("0.0435"),
    method=RepaymentMethod.EQUAL_INSTALLMENT,
    term_months=12,
    compound_allowed=True,
    interest_clause="第4.1条",
    penalty_clause="第8.2条",
    compound_clause="第8.3条",
    acceleration_clause="第9.1条",
)
LOAN = (Disbursement(D("100000.00"), START),)
ON_TIME_1 = Repayment(D("8530.99"), date(2024, 2, 15))
PARTIAL = Repayment(D("5000.00"), date(2024, 3, 25))


def rows(statement, kind):  # type: ignore[no-untyped-def]
    return [r for r in statement.rows if r.kind is kind]


def test_on_time_loan_owes_nothing_due() -> None:
    s = compute_arrears(TERMS, LOAN, [ON_TIME_1], date(2024, 3, 1))
    assert s.overdue_principal == s.interest_due == s.penalty_interest == 0
    assert s.compound_interest == 0 and s.total_due == 0
    assert s.outstanding_principal == D("91831.51")
    assert s.continuing == () and s.daily_accrual == 0
    assert not s.exceeds_24pct
    (interest_row,) = s.rows
    assert interest_row.kind is AccrualKind.INTEREST
    assert (interest_row.amount, interest_row.paid, interest_row.outstanding) == (
        D("362.50"),
        D("362.50"),
        D("0.00"),
    )
    assert (interest_row.from_date, interest_row.to_date, interest_row.days) == (
        date(2024, 1, 15),
        date(2024, 2, 14),
        31,
    )
    assert interest_row.daily_rate is None and interest_row.clause == "第4.1条"


def test_due_date_itself_is_not_overdue() -> None:
    s = compute_arrears(TERMS, LOAN, [], date(2024, 2, 15))
    assert s.overdue_principal == D("8168.49") and s.interest_due == D("362.50")
    assert s.penalty_interest == 0 and s.compound_interest == 0
    assert rows(s, AccrualKind.PENALTY) == []


def test_penalty_and_compound_across_a_partial_repayment() -> None:
    """Period 2 (8198.10 + 332.89, due 15 Mar) unpaid; 5,000.00 paid on 25 Mar.

    16-25 Mar (10 days): penalty 8198.10 × 6.525 % × 10 / 360 = 14.8594 → 14.86;
    compound 332.89 × 6.525 % × 10 / 360 = 0.6034 → 0.60.
    5,000.00 pays penalty 14.86, compound 0.60, interest 332.89, principal 4651.65,
    leaving overdue principal 8198.10 − 4651.65 = 3546.45.
    26 Mar - 10 Apr (16 days): penalty 3546.45 × 6.525 % × 16 / 360 = 10.2847 → 10.28.
    """
    s = compute_arrears(TERMS, LOAN, [ON_TIME_1, PARTIAL], date(2024, 4, 10))
    first, second = rows(s, AccrualKind.PENALTY)
    assert (first.base, first.from_date, first.to_date, first.days, first.amount) == (
        D("8198.10"),
        date(2024, 3, 16),
        date(2024, 3, 25),
        10,
        D("14.86"),
    )
    assert first.daily_rate == D("0.06525") / 360 and first.annual_rate == D("0.06525")
    assert (first.paid, first.outstanding, first.clause) == (D("14.86"), 0, "第8.2条")
    assert (second.base, second.from_date, second.to_date, second.days, second.amount) == (
        D("3546.45"),
        date(2024, 3, 26),
        date(2024, 4, 10),
        16,
        D("10.28"),
    )
    (compound,) = rows(s, AccrualKind.COMPOUND)
    assert (compound.base, compound.days, compound.amount, compound.outstanding) == (
        D("332.89"),
        10,
        D("0.60"),
        0,
    )
    allocation = s.allocations[-1]
    assert (allocation.costs, allocation.penalty, allocation.compound) == (0, D("14.86"), D("0.60"))
    assert (allocation.interest, allocation.principal, allocation.unapplied) == (
        D("332.89"),
        D("4651.65"),
        0,
    )
    assert s.overdue_principal == D("3546.45")
    assert s.outstanding_principal == D("87179.86")
    assert (s.interest_due, s.penalty_interest, s.compound_interest) == (0, D("10.28"), 0)
    assert s.total_due == D("3556.73")
    # After as_of: 3546.45 × 6.525 % / 360 = 0.6428 a day.
    (continuing,) = s.continuing
    assert continuing.kind is AccrualKind.PENALTY and continuing.base == D("3546.45")
    assert s.daily_accrual == D("0.64")
    assert s.accrued_to_label == "暂计至2024年4月10日"


def test_no_compound_unless_the_contract_allows_it() -> None:
    terms = LoanTerms(**{**_fields(TERMS), "compound_allowed": False})
    s = compute_arrears(terms, LOAN, [ON_TIME_1, PARTIAL], date(2024, 4, 10))
    assert rows(s, AccrualKind.COMPOUND) == []
    # Without the 0.60 of compound interest, 0.60 more goes to principal.
    assert s.allocations[-1].principal == D("4652.25")


def test_costs_come_first_by_default() -> None:
    charge = Charge(D("200.00"), date(2024, 3, 20), "催收通知费", "第10条")
    s = compute_arrears(TERMS, LOAN, [ON_TIME_1, PARTIAL], date(2024, 4, 10), charges=[charge])
    a = s.allocations[-1]
    assert (a.costs, a.penalty, a.compound, a.interest, a.principal) == (
        D("200.00"),
        D("14.86"),
        D("0.60"),
        D("332.89"),
        D("4451.65"),
    )
    (status,) = s.charges
    assert (status.paid, status.outstanding) == (D("200.00"), 0)


def test_configurable_allocation_order() -> None:
    """Principal first: all 5,000.00 to principal; interest, penalty, compound stay unpaid,
    and compound keeps accruing on 332.89: 26 Mar - 10 Apr, 332.89 × 6.525 % × 16 / 360
    = 0.9654 → 0.97; penalty on 3198.10: × 6.525 % × 16 / 360 = 9.2745 → 9.27."""
    order = (Bucket.PRINCIPAL, Bucket.INTEREST, Bucket.PENALTY, Bucket.COMPOUND, Bucket.COSTS)
    terms = LoanTerms(**{**_fields(TERMS), "allocation_order": order})
    s = compute_arrears(terms, LOAN, [ON_TIME_1, PARTIAL], date(2024, 4, 10))
    assert s.allocations[-1].principal == D("5000.00")
    assert s.overdue_principal == D("3198.10")
    assert s.interest_due == D("332.89")
    assert s.penalty_interest == D("14.86") + D("9.27")
    assert s.compound_interest == D("0.60") + D("0.97")


def test_allocation_order_must_list_each_bucket_once() -> None:
    with pytest.raises(ArrearsInputError, match="allocation_order"):
        LoanTerms(**{**_fields(TERMS), "allocation_order": (Bucket.PRINCIPAL,)})


def test_acceleration() -> None:
    """Accelerated on 20 Apr 2024 (第9.1条), stated on 30 Apr.

    Period 4 began 15 Apr on 75,405.59: interest to 20 Apr = 75405.59 × 4.35 % × 5 / 360
    = 45.5576 → 45.56, due with all 75,405.59 on 20 Apr. Overdue principal is then
    3546.45 + 8227.82 + 75405.59 = 87179.86; 21-30 Apr (10 days) penalty
    87179.86 × 6.525 % × 10 / 360 = 158.0135 → 158.01; compound on 303.17 + 45.56 = 348.73,
    × 6.525 % × 10 / 360 = 0.6321 → 0.63.
    """
    s = compute_arrears(
        TERMS, LOAN, [ON_TIME_1, PARTIAL], date(2024, 4, 30), accelerated_on=date(2024, 4, 20)
    )
    assert s.accelerated_on == date(2024, 4, 20)
    broken = [r for r in rows(s, AccrualKind.INTEREST) if r.daily_rate is not None]
    assert len(broken) == 1
    assert (broken[0].base, broken[0].days, broken[0].amount) == (D("75405.59"), 5, D("45.56"))
    assert broken[0].to_date == date(2024, 4, 19) and "第9.1条" in broken[0].note
    assert s.overdue_principal == s.outstanding_principal == D("87179.86")
    assert s.not_yet_due_principal == 0 and s.total_due == s.total_outstanding
    assert s.interest_due == D("348.73")
    last_penalty = rows(s, AccrualKind.PENALTY)[-1]
    assert (last_penalty.base, last_penalty.from_date, last_penalty.days, last_penalty.amount) == (
        D("87179.86"),
        date(2024, 4, 21),
        10,
        D("158.01"),
    )
    last_compound = rows(s, AccrualKind.COMPOUND)[-1]
    assert (last_compound.base, last_compound.amount) == (D("348.73"), D("0.63"))
    # Nothing of periods 5-12 is charged.
    assert all(r.to_date < date(2024, 4, 20) for r in rows(s, AccrualKind.INTEREST))
    # 13.50 (26 Mar-15 Apr on 3546.45) + 10.67 (16-20 Apr on 11774.27) + 158.01
    assert s.penalty_interest == D("13.50") + D("10.67") + D("158.01")


def test_acceleration_after_as_of_is_ignored() -> None:
    a = compute_arrears(TERMS, LOAN, [], date(2024, 4, 10), accelerated_on=date(2024, 5, 1))
    b = compute_arrears(TERMS, LOAN, [], date(2024, 4, 10))
    assert a == b and a.accelerated_on is None


def test_overpayment_is_held_as_credit_and_applied_when_due() -> None:
    s = compute_arrears(
        TERMS, LOAN, [Repayment(D("10000.00"), date(2024, 2, 15))], date(2024, 3, 20)
    )
    first, second = s.allocations
    assert first.source is AllocationSource.REPAYMENT and first.unapplied == D("1469.01")
    assert second.source is AllocationSource.CREDIT and second.value_date == date(2024, 3, 15)
    assert (second.interest, second.principal) == (D("332.89"), D("1136.12"))
    assert s.unapplied_credit == 0
    assert s.overdue_principal == D("8198.10") - D("1136.12")


def test_repayments_after_as_of_are_ignored() -> None:
    late = Repayment(D("9000.00"), date(2024, 5, 1))
    assert compute_arrears(TERMS, LOAN, [ON_TIME_1, late], date(2024, 4, 10)) == compute_arrears(
        TERMS, LOAN, [ON_TIME_1], date(2024, 4, 10)
    )


def test_two_disbursements_have_their_own_schedules() -> None:
    terms = LoanTerms(**{**_fields(TERMS), "method": RepaymentMethod.INTEREST_ONLY, "due_day": 15})
    loans = (Disbursement(D("60000.00"), START), Disbursement(D("40000.00"), date(2024, 2, 15)))
    s = compute_arrears(terms, loans, [], date(2024, 3, 15))
    # 60000 × 0.003625 = 217.50 twice; 40000 × 0.003625 = 145.00 once.
    assert s.interest_due == D("217.50") * 2 + D("145.00")
    assert any("借据2" in r.note for r in s.rows)


def test_exceeds_24pct_when_penalty_rate_charged_above_ceiling() -> None:
    """18 % × 1.5 = 27 % penalty rate: flagged once penalty is actually charged."""
    terms = LoanTerms(**{**_fields(TERMS), "annual_rate": D("0.18"), "compound_allowed": False})
    paid_up = compute_arrears(terms, LOAN, [], date(2024, 2, 10))
    assert not paid_up.exceeds_24pct and paid_up.combined_annual_rate == D("0.18")
    late = compute_arrears(terms, LOAN, [], date(2024, 2, 20))
    assert late.penalty_rate == D("0.270") and late.exceeds_24pct


def test_exceeds_24pct_through_compound_interest() -> None:
    """Interest-only 10,000.00 at 15 %, nothing paid, stated after maturity (15 Jan 2025).

    Penalty rate 22.5 % alone is under 24 %. Unpaid interest 12 × 125.00 = 1500.00 bears
    compound interest at 22.5 %, i.e. 22.5 % × 1500 / 10000 = 3.375 % of the principal a
    year: combined 25.875 % > 24 %. Without compound interest: 22.5 %, not flagged.
    """
    fields = {
        **_fields(TERMS),
        "principal": D("10000.00"),
        "annual_rate": D("0.15"),
        "method": RepaymentMethod.INTEREST_ONLY,
    }
    loan = (Disbursement(D("10000.00"), START),)
    with_compound = compute_arrears(LoanTerms(**fields), loan, [], date(2025, 2, 1))
    assert with_compound.interest_due == D("1500.00")
    assert with_compound.combined_annual_rate == D("0.25875")
    assert with_compound.exceeds_24pct
    without = compute_arrears(
        LoanTerms(**{**fields, "compound_allowed": False}), loan, [], date(2025, 2, 1)
    )
    assert without.combined_annual_rate == D("0.225") and not without.exceeds_24pct


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"disbursements": ()}, "at least one disbursement"),
        ({"disbursements": (Disbursement(D("100000.01"), START),)}, "contract principal"),
        ({"as_of": date(2024, 1, 14)}, "as_of on or after"),
        ({"repayments": (Repayment(D("1.00"), date(2024, 1, 1)),)}, "repayments on or after"),
        ({"accelerated_on": date(2024, 1, 1)}, "acceleration on or after"),
    ],
)
def test_rejects_inconsistent_inputs(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"disbursements": LOAN, "repayments": (), "as_of": date(2024, 3, 1)}
    args.update(kwargs)
    with pytest.raises(ArrearsInputError, match=match):
        compute_arrears(TERMS, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [D("0"), D("-1.00"), D("1.001"), D("NaN")])
def test_rejects_bad_amounts(amount: Decimal) -> None:
    with pytest.raises(ArrearsInputError, match="found"):
        Repayment(amount, START)


def test_accrue() -> None:
    assert accrue(D("8198.10"), D("0.06525"), 10) == D("14.86")
    with pytest.raises(ArrearsInputError):
        accrue(D("-1"), D("0.1"), 1)


def _fields(terms: LoanTerms) -> dict[str, object]:
    return {f: getattr(terms, f) for f in terms.__dataclass_fields__}


# Properties ---------------------------------------------------------------------------

term_strategy = st.builds(
    LoanTerms,
    principal=st.just(D("1000000.00")),
    annual_rate=st.integers(min_value=0, max_value=2400).map(lambda bp: Decimal(bp) / 10000),
    method=st.sampled_from(list(RepaymentMethod)),
    term_months=st.integers(min_value=1, max_value=36),
    due_day=st.none() | st.integers(min_value=1, max_value=31),
    penalty_markup=st.sampled_from([D("0"), D("0.3"), D("0.5")]),
    compound_allowed=st.booleans(),
)
amounts = st.integers(min_value=1, max_value=10**8).map(lambda f: Decimal(f) * FEN)
offsets = st.integers(min_value=0, max_value=1500)


@settings(max_examples=150, deadline=None)
@given(term_strategy, amounts, offsets, offsets, st.none() | offsets)
def test_arrears_monotone_in_as_of_without_repayments(
    terms: LoanTerms, principal: Decimal, d1: int, d2: int, accel: int | None
) -> None:
    loan = (Disbursement(principal, START),)
    early, late = sorted((START + timedelta(days=d1), START + timedelta(days=d2)))
    accelerated_on = None if accel is None else START + timedelta(days=accel)
    a = compute_arrears(terms, loan, [], early, accelerated_on=accelerated_on)
    b = compute_arrears(terms, loan, [], late, accelerated_on=accelerated_on)
    assert b.total_outstanding >= a.total_outstanding
    assert b.total_due >= a.total_due
    assert b.penalty_interest >= a.penalty_interest
    assert b.compound_interest >= a.compound_interest


@settings(max_examples=150, deadline=None)
@given(
    term_strategy,
    amounts,
    st.lists(st.tuples(offsets, amounts), max_size=8),
    offsets,
    st.none() | offsets,
)
def test_arrears_never_negative_and_money_conserved(
    terms: LoanTerms,
    principal: Decimal,
    flows: list[tuple[int, Decimal]],
    as_of_days: int,
    accel: int | None,
) -> None:
    loan = (Disbursement(principal, START),)
    repayments = [Repayment(amount, START + timedelta(days=d)) for d, amount in flows]
    as_of = START + timedelta(days=as_of_days)
    accelerated_on = None if accel is None else START + timedelta(days=accel)
    s = compute_arrears(terms, loan, repayments, as_of, accelerated_on=accelerated_on)
    for r in s.rows:
        assert r.amount > 0 and r.base > 0 and r.days > 0
        assert 0 <= r.paid <= r.amount and r.outstanding == r.amount - r.paid
        assert r.days == (r.to_date - r.from_date).days + 1
    for value in (
        s.outstanding_principal,
        s.overdue_principal,
        s.interest_due,
        s.penalty_interest,
        s.compound_interest,
        s.unapplied_credit,
        s.not_yet_due_principal,
        s.daily_accrual,
    ):
        assert value >= 0
    received = sum((r.amount for r in repayments if r.value_date <= as_of), D("0"))
    applied = sum(
        (a.costs + a.penalty + a.compound + a.interest + a.principal for a in s.allocations),
        D("0"),
    )
    assert applied + s.unapplied_credit == received
    assert s.outstanding_principal == principal - sum((a.principal for a in s.allocations), D("0"))


@settings(max_examples=100, deadline=None)
@given(term_strategy, amounts)
def test_paying_every_installment_on_its_due_date_costs_no_penalty(
    terms: LoanTerms, principal: Decimal
) -> None:
    from lending_core.interest import schedules_for

    loan = (Disbursement(principal, START),)
    (schedule,) = schedules_for(terms, loan)
    repayments = [Repayment(i.payment, i.due_date) for i in schedule.installments if i.payment > 0]
    s = compute_arrears(terms, loan, repayments, schedule.maturity + timedelta(days=30))
    assert s.penalty_interest == s.compound_interest == 0
    assert s.total_outstanding == 0
    assert all(r.kind is AccrualKind.INTEREST for r in s.rows)


def test_custom_ceiling_for_private_lending() -> None:
    """LPR×4 (e.g. 3.45 % × 4 = 13.8 %) instead of 24 %: a 9 % loan's 13.5 % penalty rate
    passes, a 10 % loan's 15 % penalty rate is flagged once overdue."""
    lpr4 = D("0.0345") * 4
    for rate, flagged in ((D("0.09"), False), (D("0.10"), True)):
        terms = LoanTerms(**{**_fields(TERMS), "annual_rate": rate, "compound_allowed": False})
        s = compute_arrears(terms, LOAN, [], date(2024, 2, 20), ceiling=lpr4)
        assert s.ceiling == lpr4 and s.exceeds_24pct is flagged
    with pytest.raises(ArrearsInputError, match="ceiling"):
        compute_arrears(TERMS, LOAN, [], date(2024, 2, 20), ceiling=D("24"))


def test_unpaid_charge_is_due_and_listed() -> None:
    charge = Charge(D("300.00"), date(2024, 2, 1), "律师费", "第10条")
    s = compute_arrears(TERMS, LOAN, [], date(2024, 2, 10), charges=[charge])
    assert s.costs_due == D("300.00") and s.total_due == D("300.00")
    (status,) = s.charges
    assert status.charge == charge and status.outstanding == D("300.00")
