"""The portfolio simulator: determinism per seed, every loan accepted by the state machine,
money that adds up (its documents' PDFs: tests/unit/dispute/test_pdf.py)."""

from __future__ import annotations

import json

import pytest

from lending_core.interest import compute_arrears
from lending_core.products import load_catalogue
from lending_core.simulator import AMOUNT_MAX, AMOUNT_MIN, SimConfig, simulate
from lending_core.state import LoanEvent, LoanStatus, rebuild

CATALOGUE = load_catalogue()
CONFIG = SimConfig(loans=120, months=24, seed=9)


@pytest.fixture(scope="module")
def portfolio():  # type: ignore[no-untyped-def]
    return simulate(CONFIG)


def _wire(p) -> str:  # type: ignore[no-untyped-def]
    return json.dumps([e.event for e in p.events()], ensure_ascii=False, sort_keys=True)


def test_same_seed_same_events_other_seed_others(portfolio) -> None:  # type: ignore[no-untyped-def]
    assert _wire(simulate(CONFIG)) == _wire(portfolio)
    assert _wire(simulate(SimConfig(loans=120, months=24, seed=10))) != _wire(portfolio)


def test_a_loan_does_not_change_when_the_portfolio_grows(portfolio) -> None:  # type: ignore[no-untyped-def]
    small = simulate(SimConfig(loans=7, months=24, seed=9))
    assert [lo.events for lo in small.loans] == [lo.events for lo in portfolio.loans[:7]]


def test_every_loan_is_accepted_by_the_state_machine(portfolio) -> None:  # type: ignore[no-untyped-def]
    for loan in portfolio.loans:
        state = rebuild([LoanEvent.from_record(e.event) for e in loan.events],
                        catalogue=CATALOGUE)
        assert (state.status is LoanStatus.SETTLED) == loan.settled
        assert (state.status is LoanStatus.ACCELERATED) == loan.accelerated
        if loan.settled:
            assert state.principal_outstanding == 0


def test_posting_order_is_arrival_order_and_within_the_horizon(portfolio) -> None:  # type: ignore[no-untyped-def]
    events = list(portfolio.events())
    assert len(events) == portfolio.event_count
    arrivals = [e.arrival for e in events]
    assert arrivals == sorted(arrivals)
    assert all(e.arrival >= e.occurred_at for e in events)
    times = [e.occurred_at for e in events]
    assert times != sorted(times)  # late postings: arrival order is not event order
    assert all(CONFIG.start <= t.date() < CONFIG.end for t in times)
    assert len({e.event["event_id"] for e in events}) == len(events)


def test_terms_and_mix(portfolio) -> None:  # type: ignore[no-untyped-def]
    for loan in portfolio.loans:
        product = CATALOGUE.get(loan.product_code)
        assert AMOUNT_MIN <= loan.amount <= AMOUNT_MAX and 6 <= loan.term_months <= 36
        assert product.annual_rate.min <= loan.annual_rate <= product.annual_rate.max
        assert not product.violations(loan.amount, loan.term_months, loan.annual_rate,
                                      loan.method.value)
    counts = portfolio.counts()
    assert counts["loans_late"] >= 5 and counts["loans_default"] >= 1
    assert counts["acceleration"] >= 1 and counts["notice_delivered"] == counts["notice_sent"]
    assert counts["loans_good"] > counts["loans_late"] + counts["loans_default"]


def test_repayments_agree_with_the_arrears_engine(portfolio) -> None:  # type: ignore[no-untyped-def]
    """For a late payer who cured, nothing is owed once the last installment is paid: the
    claim's inputs from the folded loan (reversals left out, corrections applied, the
    floating rate's resets) replayed by the arrears engine."""
    from dispute.claim import loan_terms

    checked = 0
    for loan in (lo for lo in portfolio.loans if lo.behaviour == "late" and lo.settled):
        state = rebuild([LoanEvent.from_record(e.event, seq=i)
                         for i, e in enumerate(loan.events)], catalogue=CATALOGUE)
        terms, disbursements, repayments, accelerated = loan_terms(state)
        last = max(r.value_date for r in repayments)
        st = compute_arrears(terms, disbursements, repayments, last, accelerated_on=accelerated)
        assert st.total_outstanding == 0, loan.loan_id
        checked += 1
    assert checked >= 3


def _d(text: str):  # type: ignore[no-untyped-def]
    from datetime import date

    return date.fromisoformat(text)


def test_config_bounds() -> None:
    with pytest.raises(ValueError):
        SimConfig(loans=0, months=12, seed=1)
    with pytest.raises(ValueError):
        SimConfig(loans=1, months=12, seed=1, default_share=1.5)
