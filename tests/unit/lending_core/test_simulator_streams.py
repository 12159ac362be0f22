"""The simulator's realistic streams: late postings (arrival order is not event order),
reversals, corrections, floating rates with repricing, prepayments and extensions; and
`shuffle_arrivals`. Every loan folds without a finding in arrival order, in a shuffled
order, and in the order its events occurred, to the same state."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from lending_core.lpr import lpr_on
from lending_core.products import load_catalogue
from lending_core.simulator import LATE_TYPES, MAX_LATE_DAYS, SimConfig, SimLoan, simulate
from lending_core.state import LoanEvent, LoanState, rebuild

CATALOGUE = load_catalogue()
CONFIG = SimConfig(loans=400, months=24, seed=5, documents=False)
NEW_TYPES = ("reversal", "correction", "repricing", "prepayment", "extension")


@pytest.fixture(scope="module")
def portfolio():  # type: ignore[no-untyped-def]
    return simulate(CONFIG)


def _fold(loan: SimLoan, order: str) -> LoanState:
    events = sorted(loan.events, key=(lambda e: e.arrival) if order == "arrival"
                    else (lambda e: e.occurred_at))
    return rebuild([LoanEvent.from_record(e.event, seq=i) for i, e in enumerate(events)],
                   catalogue=CATALOGUE)


def _facts(state: LoanState) -> tuple[object, ...]:
    return (state.status, state.principal_outstanding, state.received_total,
            state.disbursed_total, state.principal_repaid, len(state.repricings),
            len(state.adjustments.reversals), len(state.adjustments.corrections),
            len(state.adjustments.prepayments), len(state.adjustments.extensions))


def test_every_new_event_type_appears_by_default(portfolio) -> None:  # type: ignore[no-untyped-def]
    counts = portfolio.counts()
    for kind in NEW_TYPES:
        assert counts.get(kind, 0) >= 1, kind
    assert counts["loans_floating"] >= CONFIG.loans // 5
    assert counts["posted_late"] >= portfolio.event_count // 20
    assert counts["arrived_out_of_order"] >= 5


def test_late_postings_arrive_within_bounds(portfolio) -> None:  # type: ignore[no-untyped-def]
    late = [e for loan in portfolio.loans for e in loan.events if e.arrival > e.occurred_at]
    assert late and {e.type for e in late} <= LATE_TYPES
    assert max((e.arrival - e.occurred_at).days for e in late) <= MAX_LATE_DAYS
    # arrival order differs from event order within at least one loan
    assert any([e.event["event_id"] for e in sorted(loan.events, key=lambda e: e.arrival)]
               != [e.event["event_id"] for e in loan.events] for loan in portfolio.loans)


def test_every_loan_folds_without_findings_in_any_order(portfolio) -> None:  # type: ignore[no-untyped-def]
    shuffled = simulate(SimConfig(loans=400, months=24, seed=5, documents=False,
                                  shuffle_arrivals=True))
    for loan, mixed in zip(portfolio.loans, shuffled.loans, strict=True):
        assert [e.event for e in loan.events] == [e.event for e in mixed.events]
        in_order = _fold(loan, "occurred")
        assert not in_order.findings, (loan.loan_id, in_order.findings[:2])
        for state in (_fold(loan, "arrival"), _fold(mixed, "arrival")):
            assert not state.findings, (loan.loan_id, state.findings[:2])
            assert _facts(state) == _facts(in_order), loan.loan_id
        assert (in_order.status.value == "settled") == loan.settled


def test_shuffle_deals_each_loans_own_arrival_times(portfolio) -> None:  # type: ignore[no-untyped-def]
    config = SimConfig(loans=50, months=24, seed=5, documents=False, shuffle_arrivals=True)
    mixed = simulate(config)
    assert [e.event for e in mixed.events()] == [e.event for e in simulate(config).events()]
    for loan, plain in zip(mixed.loans, portfolio.loans[:50], strict=True):
        assert sorted(e.arrival for e in loan.events) == sorted(e.arrival for e in plain.events)
    in_order = sum(1 for x in portfolio.loans[:50] for e in x.events)  # events of 50 loans
    assert mixed.counts()["arrived_out_of_order"] > in_order // 4


def test_repricings_carry_the_published_lpr(portfolio) -> None:  # type: ignore[no-untyped-def]
    seen = 0
    for loan in (x for x in portfolio.loans if x.floating):
        pricing = loan.contract["pricing"]
        spread = Decimal(pricing["spread_bp"]) / 10000
        assert Decimal(pricing["base_lpr"]) == lpr_on(date.fromisoformat(pricing["lpr_date"]),
                                                      "1y")
        assert Decimal(loan.contract["annual_rate"]) == Decimal(pricing["base_lpr"]) + spread
        rate = Decimal(loan.contract["annual_rate"])
        for e in (e for e in loan.events if e.type == "repricing"):
            p = e.event["payload"]
            assert Decimal(p["lpr"]) == lpr_on(date.fromisoformat(p["lpr_date"]), "1y")
            assert Decimal(p["new_rate"]) == Decimal(p["lpr"]) + spread
            assert Decimal(p["previous_rate"]) == rate
            rate = Decimal(p["new_rate"])
            seen += 1
    assert seen >= 3


def test_prepayments_and_extensions_close_the_loan(portfolio) -> None:  # type: ignore[no-untyped-def]
    kinds = Counter[str]()
    for loan in portfolio.loans:
        types = [e.type for e in loan.events]
        if loan.prepaid:
            kinds["prepaid"] += 1
            assert types[-2:] == ["prepayment", "settlement"]
            p = next(e.event["payload"] for e in loan.events if e.type == "prepayment")
            assert Decimal(p["principal"]) + Decimal(p["interest"]) + Decimal(p["fee"]) == \
                Decimal(p["amount"])
            assert _fold(loan, "arrival").principal_outstanding == 0
        if loan.extended:
            kinds["extended"] += 1
            assert "extension" in types and (not loan.settled or types[-1] == "settlement")
    assert kinds["prepaid"] >= 5 and kinds["extended"] >= 1


def test_plain_streams_arrive_in_event_order() -> None:
    plain = simulate(SimConfig.plain(loans=60, months=18, seed=5, documents=False))
    events = list(plain.events())
    assert all(e.arrival == e.occurred_at for e in events)
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    counts = plain.counts()
    assert not any(counts.get(kind) for kind in NEW_TYPES)
    assert counts["loans_floating"] == counts["posted_late"] == 0


def test_shares_are_bounded() -> None:
    with pytest.raises(ValueError, match="late_posting_share"):
        SimConfig(loans=1, months=12, seed=1, late_posting_share=1.5)


def test_good_borrowers_owe_nothing_in_any_view(portfolio) -> None:  # type: ignore[no-untyped-def]
    """At the horizon, a good borrower's loan (floating, reversed, corrected or not) is not
    past due for monitoring and owes nothing in the claim's arithmetic: the simulator pays
    what the one schedule (`lending_core.loan_schedule`) asks, at the rate in force."""
    from datetime import timedelta

    from dispute.claim import loan_terms
    from lending_core.interest import compute_arrears
    from lending_core.interest_model import Repayment
    from lending_core.loan_schedule import schedule_for
    from lending_core.monitoring import assess

    as_of = CONFIG.end - timedelta(days=1)
    checked = floating = 0
    for loan in (x for x in portfolio.loans if x.behaviour == "good" and not x.settled):
        state = _fold(loan, "arrival")
        if state.terms is None or state.first_value_date is None or loan.extended:
            continue
        schedule = schedule_for(state.terms, state.disbursed_total, state.first_value_date)
        paid = [Repayment(r.payload.amount, r.payload.value_date) for r in state.repayments]
        assert assess(schedule, paid, as_of).days_past_due == 0, loan.loan_id
        terms, disbursements, repayments, accelerated = loan_terms(state)
        owed = compute_arrears(terms, disbursements, repayments, as_of,
                               accelerated_on=accelerated)
        assert owed.total_due == 0 and owed.penalty_interest == 0, loan.loan_id
        checked += 1
        floating += loan.floating
    assert checked >= 50 and floating >= 10
