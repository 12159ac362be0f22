"""Floating-rate schedules and arrears: a reset cuts its period, 等额本息 re-amortises, and
罚息/复利 follow the rate in force each day. Figures worked by hand are written out."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from lending_core.interest import compute_arrears
from lending_core.interest_model import Disbursement, LoanTerms
from lending_core.money import round_fen
from lending_core.schedule import RateChange, RepaymentMethod, build_schedule

D = Decimal


def annuity(p: Decimal, annual: Decimal, n: int) -> Decimal:
    """The textbook formula, computed here independently of `lending_core.schedule`."""
    with localcontext() as ctx:
        ctx.prec = 50
        r = annual / 12
        return round_fen(p * r * (1 + r) ** n / ((1 + r) ** n - 1))


def test_a_reset_inside_a_period_cuts_it_and_reamortises_by_hand() -> None:
    # 300 000.00 at 4.35 %, 12 months of 等额本息 from 2024-03-05, due on the 20th; the
    # 1-year LPR falls to 3.10 % and the rate (LPR + 90 bp) to 4.00 % on 2025-01-01.
    s = build_schedule(RepaymentMethod.EQUAL_INSTALLMENT, D("300000.00"), D("0.0435"), 12,
                       date(2024, 3, 5), 20,
                       rate_changes=[RateChange(date(2025, 1, 1), D("0.0400"))])
    i = s.installments
    assert annuity(D("300000.00"), D("0.0435"), 12) == D("25592.97")
    assert [x.payment for x in i[1:9]] == [D("25592.97")] * 8  # periods 2-9 as before
    assert i[8].remaining == D("76225.61")  # the balance when period 10 opens
    # Period 10, 2024-12-20 to 2025-01-20, cut on 2025-01-01:
    #   76 225.61 × 4.35 % × 12 days / 360 = 110.527…  -> 110.53
    #   76 225.61 × 4.00 % × 19 days / 360 = 160.920…  -> 160.92
    ten = i[9]
    assert [(g.start, g.end, g.days, g.annual_rate, g.interest) for g in ten.segments] == [
        (date(2024, 12, 20), date(2025, 1, 1), 12, D("0.0435"), D("110.53")),
        (date(2025, 1, 1), date(2025, 1, 20), 19, D("0.0400"), D("160.92")),
    ]
    assert ten.interest == D("271.45")
    # Re-amortised from the reset: 76 225.61 over the 3 periods left at 4.00 % = 25 578.11;
    # period 10's principal is that less a regular period's interest at the new rate
    # (76 225.61 × 4.00 % / 12 = 254.085… -> 254.09): 25 578.11 − 254.09 = 25 324.02.
    assert annuity(D("76225.61"), D("0.0400"), 3) == D("25578.11")
    assert (ten.principal, ten.payment, ten.remaining) == (
        D("25324.02"), D("25595.47"), D("50901.59"))
    # Period 11: 50 901.59 × 4.00 % / 12 = 169.67; principal 25 578.11 − 169.67 = 25 408.44.
    assert (i[10].interest, i[10].principal, i[10].payment, i[10].remaining) == (
        D("169.67"), D("25408.44"), D("25578.11"), D("25493.15"))
    # Period 12 takes what is left: 25 493.15 + 25 493.15 × 4.00 % / 12 (84.977… -> 84.98).
    assert (i[11].interest, i[11].principal, i[11].payment) == (
        D("84.98"), D("25493.15"), D("25578.13"))
    assert [x.annual_rate for x in i] == [D("0.0435")] * 9 + [D("0.0400")] * 3
    assert s.total_principal == D("300000.00")


def test_a_reset_on_a_due_date_starts_a_regular_period_at_the_new_rate() -> None:
    # 24 months from 2024-03-20 (due on the 20th), repriced on the anniversary 2025-03-20.
    s = build_schedule(RepaymentMethod.EQUAL_INSTALLMENT, D("240000.00"), D("0.0445"), 24,
                       date(2024, 3, 20), 20,
                       rate_changes=[RateChange(date(2025, 3, 20), D("0.0410"))])
    i = s.installments
    assert all(x.segments == () for x in i)
    before = annuity(D("240000.00"), D("0.0445"), 24)
    assert [x.payment for x in i[:12]] == [before] * 12
    balance = i[11].remaining
    after = annuity(balance, D("0.0410"), 12)
    assert i[12].interest == round_fen(balance * D("0.0410") / 12)
    assert [x.payment for x in i[12:23]] == [after] * 11
    assert after < before
    assert s.total_principal == D("240000.00")


def test_equal_principal_keeps_its_principal_parts() -> None:
    s = build_schedule(RepaymentMethod.EQUAL_PRINCIPAL, D("120000.00"), D("0.0445"), 12,
                       date(2024, 3, 20), 20,
                       rate_changes=[RateChange(date(2025, 1, 1), D("0.0410"))])
    assert {x.principal for x in s.installments} == {D("10000.00")}
    # Period 10 on 30 000.00: 12 days at 4.45 % (44.50) and 19 days at 4.10 % (64.916… -> 64.92)
    assert [g.interest for g in s.installments[9].segments] == [D("44.50"), D("64.92")]
    assert s.installments[10].interest == D("68.33")  # 20 000.00 × 4.10 % / 12 = 68.333…


def test_penalty_interest_follows_the_rate_in_force_each_day_by_hand() -> None:
    # 10 000.00 of principal due 2024-12-20 and unpaid; the rate falls from 4.45 % to 4.10 %
    # on 2025-01-01; penalty rate = rate × 1.5 (6.675 %, then 6.15 %).
    terms = LoanTerms(principal=D("10000.00"), annual_rate=D("0.0445"),
                      method=RepaymentMethod.INTEREST_ONLY, term_months=1, due_day=20,
                      compound_allowed=True,
                      rate_changes=(RateChange(date(2025, 1, 1), D("0.0410")),))
    s = compute_arrears(terms, [Disbursement(D("10000.00"), date(2024, 11, 20))], [],
                        date(2025, 1, 10))
    rows = [(str(r.kind), r.from_date, r.to_date, r.days, r.annual_rate, r.amount)
            for r in s.rows]
    assert rows == [
        # 10 000.00 × 4.45 % / 12 = 37.083… -> 37.08
        ("期内利息", date(2024, 11, 20), date(2024, 12, 19), 30, D("0.0445"), D("37.08")),
        # 10 000.00 × 6.675 % × 11 / 360 = 20.395… -> 20.40 (21 to 31 December)
        ("罚息", date(2024, 12, 21), date(2024, 12, 31), 11, D("0.066750"), D("20.40")),
        # 37.08 × 6.675 % × 11 / 360 = 0.0756… -> 0.08
        ("复利", date(2024, 12, 21), date(2024, 12, 31), 11, D("0.066750"), D("0.08")),
        # 10 000.00 × 6.15 % × 10 / 360 = 17.083… -> 17.08 (1 to 10 January, the new rate)
        ("罚息", date(2025, 1, 1), date(2025, 1, 10), 10, D("0.06150"), D("17.08")),
        # 37.08 × 6.15 % × 10 / 360 = 0.0633… -> 0.06
        ("复利", date(2025, 1, 1), date(2025, 1, 10), 10, D("0.06150"), D("0.06")),
    ]
    assert s.penalty_rate == D("0.06150")  # in force on as_of
    assert s.total_due == D("10000.00") + D("37.08") + D("37.48") + D("0.14")


def test_a_fixed_rate_is_unchanged_by_the_floating_machinery() -> None:
    plain = build_schedule(RepaymentMethod.EQUAL_INSTALLMENT, D("300000.00"), D("0.0435"), 12,
                           date(2024, 3, 5), 20)
    assert all(x.annual_rate is None and x.segments == () for x in plain.installments)
    # A reset at the rate already in force changes no figure.
    same = build_schedule(RepaymentMethod.EQUAL_INSTALLMENT, D("300000.00"), D("0.0435"), 12,
                          date(2024, 3, 5), 20,
                          rate_changes=[RateChange(date(2024, 9, 20), D("0.0435"))])
    assert [(x.principal, x.interest) for x in same.installments] == [
        (x.principal, x.interest) for x in plain.installments]


@settings(max_examples=150, deadline=None)
@given(
    principal=st.integers(min_value=100_00, max_value=50_000_000_00),
    rate=st.integers(min_value=0, max_value=2400),
    term=st.integers(min_value=1, max_value=60),
    method=st.sampled_from(list(RepaymentMethod)),
    resets=st.lists(st.tuples(st.integers(min_value=1, max_value=1800),
                              st.integers(min_value=0, max_value=2400)),
                    max_size=5, unique_by=lambda t: t[0]),
)
def test_floating_schedules_sum_to_the_principal_and_cut_periods_add_up(
    principal: int, rate: int, term: int, method: RepaymentMethod,
    resets: list[tuple[int, int]],
) -> None:
    start = date(2024, 1, 31)
    changes = [RateChange(start + timedelta(days=d), D(r) / 10000) for d, r in resets]
    s = build_schedule(method, D(principal) / 100, D(rate) / 10000, term, start, None,
                       rate_changes=changes)
    assert s.total_principal == D(principal) / 100
    for x in s.installments:
        assert x.interest >= 0 and x.principal >= 0
        if x.segments:
            assert sum(g.interest for g in x.segments) == x.interest
            assert x.segments[0].start == x.period_start
            assert x.segments[-1].end == x.due_date
            assert sum(g.days for g in x.segments) == x.days


def test_a_drawing_after_a_reset_starts_at_the_rate_then_in_force() -> None:
    terms = LoanTerms(principal=D("200000.00"), annual_rate=D("0.0445"),
                      method=RepaymentMethod.INTEREST_ONLY, term_months=12, due_day=20,
                      rate_changes=(RateChange(date(2025, 1, 1), D("0.0410")),))
    s = compute_arrears(terms, [Disbursement(D("100000.00"), date(2024, 3, 20)),
                                Disbursement(D("100000.00"), date(2025, 2, 20))], [],
                        date(2025, 3, 20))
    second = [r for r in s.rows if r.note.startswith("借据2")]
    # 100 000.00 × 4.10 % / 12 = 341.666… -> 341.67, shown at the rate it was computed at
    assert [(r.from_date, r.annual_rate, r.amount) for r in second] == [
        (date(2025, 2, 20), D("0.0410"), D("341.67"))]
