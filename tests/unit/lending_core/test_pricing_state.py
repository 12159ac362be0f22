"""Floating rate in the loan state: the pricing block, `repricing`, refusals and findings."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from lending_core.errors import EventValidationError, LoanStateError
from lending_core.events import example_payload, validate_payload
from lending_core.events.examples import FLOATING_PRICING, example_floating_contract
from lending_core.loan_schedule import schedule_for
from lending_core.lpr import load_lpr_table
from lending_core.schedule import RateChange
from lending_core.state.fold import check_intrinsic, rebuild
from lending_core.state.model import LoanEvent
from lending_core.state.pricing import INTRINSIC_CODES, rate_on, rate_periods

D = Decimal
CST = timezone(timedelta(hours=8))


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=CST)


def ev(n: int, kind: str, payload: dict[str, Any], day: str, seq: int | None = None) -> LoanEvent:
    return LoanEvent(f"E{n}", "L-FLOAT", kind, at(day), payload, seq=n if seq is None else seq)


def contract(**changes: Any) -> dict[str, Any]:
    c = example_floating_contract()
    c.update(amount="120000.00", annual_rate="0.0445", repayment_method="equal_principal",
             first_due_date="2024-04-20", due_day=20)
    c["pricing"] = dict(FLOATING_PRICING, spread_bp=100)
    c["e_signature"]["signed_at"] = "2024-03-18T10:00:00+08:00"
    c.update(changes)
    return c


def repricing(**changes: Any) -> dict[str, Any]:
    r = example_payload("repricing")
    r.update(lpr="0.0310", spread_bp=100, new_rate="0.0410", previous_rate="0.0445")
    r.update(changes)
    return r


def opening(c: dict[str, Any] | None = None) -> list[LoanEvent]:
    d = example_payload("disbursement")
    d.update(amount="120000.00", value_date="2024-03-20")
    return [ev(1, "credit_decision", example_payload("credit_decision"), "2024-03-01"),
            ev(2, "contract_signed", c or contract(), "2024-03-18"),
            ev(3, "disbursement", d, "2024-03-20")]


def codes(events: list[LoanEvent]) -> list[str]:
    return [f.code for f in rebuild(events).findings]


# --- the payload schemas -----------------------------------------------------------------

def test_a_fixed_rate_contract_stays_valid_and_has_no_pricing() -> None:
    model = validate_payload("contract_signed", example_payload("contract_signed"))
    assert model.pricing is None  # type: ignore[attr-defined]
    state = rebuild(opening(example_payload("contract_signed") | {
        "amount": "120000.00", "first_due_date": "2024-04-20",
        "e_signature": contract()["e_signature"]}))
    assert state.findings == ()
    assert [p.annual_rate for p in rate_periods(state)] == [D("0.0435")]


def test_a_floating_contract_rate_must_be_lpr_plus_spread() -> None:
    with pytest.raises(EventValidationError) as exc:
        validate_payload("contract_signed", contract(annual_rate="0.0435"))
    assert exc.value.errors == [{
        "field": "payload.annual_rate",
        "message": "expected annual_rate = LPR 0.0345 + 100 bp = 0.0445, found 0.0435"}]


def test_a_repricing_rate_must_be_lpr_plus_spread_and_its_lpr_not_later() -> None:
    with pytest.raises(EventValidationError) as exc:
        validate_payload("repricing", repricing(new_rate="0.0400"))
    assert exc.value.errors[0]["field"] == "payload.new_rate"
    with pytest.raises(EventValidationError) as exc:
        validate_payload("repricing", repricing(lpr_date="2025-01-20"))
    assert exc.value.errors[0]["field"] == "payload.lpr_date"
    with pytest.raises(EventValidationError) as exc:
        validate_payload("repricing", repricing(spread_bp=2001, new_rate="0.2311"))
    assert exc.value.errors[0]["field"] == "payload.spread_bp"


def test_a_negative_spread_is_a_price() -> None:  # mortgages: 5Y LPR - 20 bp
    model = validate_payload("repricing", repricing(tenor="5y", lpr="0.0360", spread_bp=-20,
                                                    new_rate="0.0340"))
    assert model.new_rate == D("0.0340")  # type: ignore[attr-defined]


# --- refused at ingestion: false whatever else arrives -----------------------------------

def test_an_lpr_that_was_not_published_is_refused() -> None:
    bad = ev(9, "repricing", repricing(lpr="0.0320", new_rate="0.0420"), "2025-01-01")
    with pytest.raises(LoanStateError) as exc:
        check_intrinsic(bad)
    assert exc.value.code == "lpr_mismatch" and "lpr_mismatch" in INTRINSIC_CODES
    assert "3.1% (published 2024-12-20), found 3.2%" in exc.value.reason
    wrong_base = contract(pricing=dict(FLOATING_PRICING, base_lpr="0.0355", spread_bp=90))
    with pytest.raises(LoanStateError) as exc:
        check_intrinsic(ev(2, "contract_signed", wrong_base, "2024-03-18"))
    assert exc.value.code == "lpr_mismatch"


def test_an_lpr_before_the_reform_or_dated_after_signing_is_refused() -> None:
    old = repricing(lpr_date="2019-08-19")
    with pytest.raises(LoanStateError) as exc:
        check_intrinsic(ev(9, "repricing", old, "2025-01-01"))
    assert exc.value.code == "lpr_mismatch"
    late = contract(pricing=dict(FLOATING_PRICING, lpr_date="2024-03-20", spread_bp=100))
    with pytest.raises(LoanStateError) as exc:
        check_intrinsic(ev(2, "contract_signed", late, "2024-03-18"))
    assert exc.value.code == "lpr_date_after_signing" and exc.value.code in INTRINSIC_CODES


def test_a_repricing_effective_after_its_own_date_is_refused() -> None:
    with pytest.raises(LoanStateError) as exc:
        check_intrinsic(ev(9, "repricing", repricing(), "2024-12-31"))
    assert exc.value.code == "future_dated"


def test_an_lpr_newer_than_the_table_is_taken_on_trust() -> None:
    after = load_lpr_table().known_through + timedelta(days=1)
    r = repricing(effective_date="2026-01-01", lpr_date=after.isoformat(), lpr="0.0290",
                  new_rate="0.0390", previous_rate=None)
    check_intrinsic(ev(9, "repricing", r, "2026-01-01"))  # no error


# --- applied, or kept as a finding -------------------------------------------------------

def test_a_repricing_sets_the_rate_from_its_date() -> None:
    state = rebuild([*opening(), ev(4, "repricing", repricing(), "2025-01-01")])
    assert state.findings == ()
    assert [(p.start.isoformat(), p.annual_rate, p.lpr, p.event_id) for p in rate_periods(state)
            ] == [("2024-03-20", D("0.0445"), D("0.0345"), "E2"),
                  ("2025-01-01", D("0.0410"), D("0.0310"), "E4")]
    assert rate_on(state, at("2024-12-31").date()) == D("0.0445")
    assert rate_on(state, at("2025-01-01").date()) == D("0.0410")
    assert state.terms is not None
    assert state.terms.rate_changes == (RateChange(at("2025-01-01").date(), D("0.0410")),)
    # The one schedule function every view uses sees the reset.
    sched = schedule_for(state.terms, D("120000.00"), at("2024-03-20").date())
    assert [s.annual_rate for s in sched.installments[9].segments] == [D("0.0445"), D("0.0410")]


@pytest.mark.parametrize(
    ("payload", "day", "code"),
    [
        (repricing(effective_date="2025-01-02"), "2025-01-02", "repricing_off_schedule"),
        (repricing(tenor="5y", lpr="0.0360", new_rate="0.0460"), "2025-01-01",
         "repricing_terms_mismatch"),
        (repricing(spread_bp=90, new_rate="0.0400"), "2025-01-01", "repricing_terms_mismatch"),
        (repricing(contract_no="OTHER-1"), "2025-01-01", "repricing_wrong_contract"),
        (repricing(previous_rate="0.0435"), "2025-01-01", "previous_rate_mismatch"),
        # a published figure, but not the latest: the October 2024 LPR (3.10 % too) is stale
        (repricing(lpr_date="2024-10-21"), "2025-01-01", "repricing_stale_lpr"),
    ],
)
def test_an_inconsistent_repricing_is_recorded_as_a_finding(
    payload: dict[str, Any], day: str, code: str
) -> None:
    state = rebuild([*opening(), ev(4, "repricing", payload, day)])
    assert [f.code for f in state.findings] == [code]
    assert state.repricings == () and len(rate_periods(state)) == 1


def test_a_repricing_on_a_fixed_rate_loan_is_a_finding() -> None:
    fixed = example_payload("contract_signed") | {
        "amount": "120000.00", "first_due_date": "2024-04-20",
        "e_signature": contract()["e_signature"]}
    assert codes([*opening(fixed), ev(4, "repricing", repricing(), "2025-01-01")]) == [
        "repricing_fixed_rate"]


def test_a_second_repricing_for_the_same_date_is_a_finding() -> None:
    again = ev(5, "repricing", repricing(), "2025-01-02")
    assert codes([*opening(), ev(4, "repricing", repricing(), "2025-01-01"), again]) == [
        "duplicate_repricing"]


def test_an_anniversary_rule_reprices_on_the_value_dates_anniversary() -> None:
    c = contract(pricing=dict(FLOATING_PRICING, spread_bp=100, repricing="anniversary"))
    r = repricing(effective_date="2025-03-20", lpr_date="2025-03-20", lpr="0.0310",
                  new_rate="0.0410")
    assert codes([*opening(c), ev(4, "repricing", r, "2025-03-20")]) == []
    early = repricing()  # 1 January is not this contract's repricing date
    assert codes([*opening(c), ev(4, "repricing", early, "2025-01-01")]) == [
        "repricing_off_schedule"]


def test_every_arrival_order_gives_the_same_rates() -> None:
    events = [*opening(), ev(4, "repricing", repricing(), "2025-01-01"),
              ev(5, "repricing", repricing(effective_date="2026-01-01", lpr_date="2025-12-20",
                                           lpr="0.0300", new_rate="0.0400",
                                           previous_rate="0.0410"), "2026-01-01")]
    expected = rate_periods(rebuild(events))
    assert len(expected) == 3
    for order in itertools.permutations(range(len(events))):
        arrived = [LoanEvent(e.event_id, e.loan_id, e.type, e.occurred_at, e.payload, seq=i)
                   for i, e in zip(order, events, strict=True)]
        state = rebuild(arrived)
        assert state.findings == () and rate_periods(state) == expected


def test_a_restructuring_starts_its_own_rate() -> None:
    r = example_payload("restructuring")
    r.update(effective_date="2025-02-01", principal="30000.00", first_due_date="2025-02-20",
             annual_rate="0.0380")
    r["e_signature"]["signed_at"] = "2025-02-01T10:00:00+08:00"
    state = rebuild([*opening(), ev(4, "repricing", repricing(), "2025-01-01"),
                     ev(5, "restructuring", r, "2025-02-01")])
    assert state.findings == ()
    assert [(p.start.isoformat(), p.annual_rate) for p in rate_periods(state)] == [
        ("2025-02-01", D("0.0380"))]
    assert state.terms is not None
    sched = schedule_for(state.terms, D("30000.00"), at("2025-02-01").date())
    assert sched.annual_rate == D("0.0380")  # the old reset does not leak into the new terms


def test_an_extension_keeps_the_repriced_rate() -> None:
    x = example_payload("extension")
    x.update(effective_date="2025-03-20", original_maturity="2025-03-20",
             new_maturity="2025-09-20", principal="10000.00", first_due_date="2025-04-20")
    x["e_signature"]["signed_at"] = "2025-03-18T10:00:00+08:00"
    state = rebuild([*opening(), ev(4, "repricing", repricing(), "2025-01-01"),
                     ev(5, "extension", x, "2025-03-20")])
    assert state.findings == ()
    assert state.adjustments.extensions[0].annual_rate == D("0.0410")  # not the signed 4.45 %
    assert [(p.start.isoformat(), p.annual_rate) for p in rate_periods(state)] == [
        ("2025-03-20", D("0.0410"))]
