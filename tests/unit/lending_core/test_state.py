"""Loan state rebuilt from events: the whole story, each transition, and every refusal."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending_core.errors import EventValidationError, LoanStateError
from lending_core.events import example_payload, example_story
from lending_core.products import load_catalogue
from lending_core.state import LoanEvent, LoanState, LoanStatus, apply, rebuild, step

D = Decimal
CST = timezone(timedelta(hours=8))
CATALOGUE = load_catalogue()
_ids = itertools.count()


def event(
    type_: str,
    payload: dict[str, Any] | None = None,
    *,
    day: str,
    time: str = "18:00:00",
    event_id: str | None = None,
    loan_id: str = "L-1",
) -> LoanEvent:
    occurred = datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=CST)
    return LoanEvent(
        event_id or f"e-{next(_ids)}",
        loan_id,
        type_,
        occurred,
        payload if payload is not None else example_payload(type_),
    )


def post(
    state: LoanState | None, type_: str, day: str, payload: dict[str, Any] | None = None, **kw: Any
) -> LoanState:
    return apply(state, event(type_, payload, day=day, **kw), catalogue=CATALOGUE)


def refused(
    state: LoanState | None,
    type_: str,
    day: str,
    payload: dict[str, Any] | None,
    code: str,
    **kw: Any,
) -> LoanStateError:
    with pytest.raises(LoanStateError) as info:
        post(state, type_, day, payload, **kw)
    assert info.value.code == code, info.value
    assert info.value.event_type == type_
    assert info.value.reason and "expected" in info.value.reason
    return info.value


def pay(
    amount: str, principal: str, *, value_date: str, ref: str, installments: list[int] | None = None
) -> dict[str, Any]:
    interest = D(amount) - D(principal)
    return {
        "amount": amount,
        "value_date": value_date,
        "clearing_ref": ref,
        "allocation": {
            "costs": "0.00",
            "penalty": "0.00",
            "interest": f"{interest:.2f}",
            "principal": principal,
        },
        "installment_nos": installments or [],
        "source": {"system": "core-banking", "refs": {"txn_id": ref}},
    }


def with_(type_: str, **changes: Any) -> dict[str, Any]:
    payload = example_payload(type_)
    payload.update(changes)
    return payload


@pytest.fixture
def contracted() -> LoanState:
    s = post(None, "credit_decision", "2024-03-01")
    return post(s, "contract_signed", "2024-03-02")


@pytest.fixture
def disbursed(contracted: LoanState) -> LoanState:
    return post(contracted, "disbursement", "2024-03-05")


@pytest.fixture
def overdue(disbursed: LoanState) -> LoanState:
    return post(disbursed, "repayment_missed", "2024-05-21")


# --- the whole story ---------------------------------------------------------------------

STORY_DAYS = [
    "2024-03-01",
    "2024-03-02",
    "2024-03-02",
    "2024-03-05",
    "2024-04-20",
    "2024-05-21",
    "2024-05-25",
    "2024-05-27",
    "2024-07-01",
    "2024-07-15",
    "2025-12-31",
    "2026-07-20",
    "2026-07-20",
]


def story_events() -> list[LoanEvent]:
    return [
        event(t, p, day=d, event_id=f"story-{i}")
        for i, ((t, p), d) in enumerate(zip(example_story(), STORY_DAYS, strict=True))
    ]


def test_example_story_rebuilds_to_a_settled_loan() -> None:
    s = rebuild(story_events(), catalogue=CATALOGUE)
    assert s.status is LoanStatus.SETTLED
    assert s.disbursed_total == D("300000.00")
    assert s.principal_repaid == D("299000.00")
    assert s.principal_outstanding == D("1000.00")  # waived at settlement
    assert s.received_total == D("305600.12")
    assert s.settlement is not None and s.settlement.payload.waiver is not None
    assert s.terms is not None and s.terms.agreed_by == "CQB-CZ-2024-0007"
    assert [m.resolution for m in s.missed] == ["restructured"]
    assert s.notices[0].via_agreed_channel is True and s.notices[0].delivered is not None
    assert len(s.event_ids) == 13 and s.last_event_id == "story-12"


def test_each_prefix_of_the_story_rebuilds() -> None:
    events = story_events()
    statuses = [rebuild(events[: n + 1]).status for n in range(len(events))]
    assert statuses == [
        "approved",
        "contracted",
        "contracted",
        "disbursed",
        "disbursed",
        "overdue",
        "overdue",
        "overdue",
        "accelerated",
        "restructured",
        "written_off",
        "written_off",
        "settled",
    ]


def test_apply_does_not_change_the_state_it_was_given(disbursed: LoanState) -> None:
    before = disbursed
    snapshot = (before.status, before.disbursed_total, before.event_ids, before.repayments)
    post(before, "repayment_received", "2024-04-20")
    assert (before.status, before.disbursed_total, before.event_ids, before.repayments) == snapshot


def test_rebuild_needs_events() -> None:
    with pytest.raises(LoanStateError) as info:
        rebuild([])
    assert info.value.code == "no_events"


def test_contract_may_come_without_a_credit_decision() -> None:
    s = post(None, "contract_signed", "2024-03-02", with_("contract_signed", decision_id=None))
    assert s.status is LoanStatus.CONTRACTED and not s.credit_decisions


def test_bad_payload_raises_the_validation_error(contracted: LoanState) -> None:
    with pytest.raises(EventValidationError):
        post(contracted, "disbursement", "2024-03-05", with_("disbursement", amount=300000.0))


# --- the gate: identity, order, phase -----------------------------------------------------


def test_naive_occurred_at_and_bad_event_id_are_refused() -> None:
    with pytest.raises(LoanStateError) as info:
        LoanEvent("e1", "L", "disbursement", datetime(2024, 3, 5), {})
    assert info.value.code == "invalid_event"
    with pytest.raises(LoanStateError) as info:
        LoanEvent("bad id!", "L", "disbursement", datetime(2024, 3, 5, tzinfo=CST), {})
    assert info.value.code == "invalid_event"


def test_occurred_at_is_kept_in_utc() -> None:
    e = event("credit_decision", day="2024-03-01", time="07:00:00")
    assert e.occurred_at.utcoffset() == timedelta(0)
    assert str(e.business_date) == "2024-03-01" and e.occurred_at.day == 29


def test_from_record() -> None:
    record = {
        "event_id": "x-1",
        "loan_id": "L-1",
        "type": "credit_decision",
        "occurred_at": "2024-03-01T10:00:00Z",
        "payload": example_payload("credit_decision"),
        "schema": "cunzheng.event/v1",
    }
    e = LoanEvent.from_record(record)
    assert e.occurred_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert apply(None, e).status is LoanStatus.APPROVED
    for broken in (
        {**record, "occurred_at": "yesterday"},
        {**record, "payload": []},
        {k: v for k, v in record.items() if k != "loan_id"},
    ):
        with pytest.raises(LoanStateError) as info:
            LoanEvent.from_record(broken)
        assert info.value.code == "invalid_event"


@pytest.mark.parametrize(
    "type_",
    [
        "security",
        "disbursement",
        "repayment_received",
        "repayment_missed",
        "notice_sent",
        "notice_delivered",
        "acceleration",
        "restructuring",
        "settlement",
        "write_off",
    ],
)
def test_nothing_but_a_decision_before_the_contract(type_: str) -> None:
    refused(None, type_, "2026-12-31", None, "before_contract")
    approved = post(None, "credit_decision", "2024-03-01")
    refused(approved, type_, "2026-12-31", None, "before_contract")


def test_wrong_loan(contracted: LoanState) -> None:
    refused(contracted, "disbursement", "2024-03-05", None, "wrong_loan", loan_id="L-2")


def test_duplicate_event_id(contracted: LoanState) -> None:
    s = post(
        contracted,
        "disbursement",
        "2024-03-05",
        with_("disbursement", amount="1000.00"),
        event_id="dup",
    )
    p = with_("disbursement", amount="1000.00", receipt_no="R2", clearing_ref="C2")
    refused(s, "disbursement", "2024-03-05", p, "duplicate_event", event_id="dup")


def test_an_earlier_event_is_judged_by_its_own_rules_not_by_arrival(
    disbursed: LoanState,
) -> None:
    # The ledger's arrival order is not the loan's order: an event dated before the last
    # one is refused only by a rule about the loan (here, money before the disbursement).
    err = refused(
        disbursed,
        "repayment_received",
        "2024-03-04",
        with_("repayment_received", value_date="2024-03-04"),
        "repayment_before_disbursement",
    )
    assert "2024-03-05" in err.reason


def test_same_instant_is_in_order(contracted: LoanState) -> None:
    when = contracted.last_occurred_at.astimezone(CST)
    s = post(contracted, "security", when.date().isoformat(), time=when.time().isoformat())
    assert len(s.securities) == 1


def test_decision_after_contract_and_second_contract(contracted: LoanState) -> None:
    refused(
        contracted,
        "credit_decision",
        "2024-03-03",
        with_("credit_decision", decision_id="CD-2"),
        "decision_after_contract",
    )
    refused(contracted, "contract_signed", "2024-03-03", None, "second_contract")


def test_repaying_a_settled_loan(disbursed: LoanState) -> None:
    s = post(
        disbursed,
        "repayment_received",
        "2024-04-20",
        pay("300000.00", "300000.00", value_date="2024-04-20", ref="FULL"),
    )
    s = post(
        s,
        "settlement",
        "2024-04-20",
        {
            "settled_on": "2024-04-20",
            "reason": "repaid",
            "source": {"system": "cbs", "refs": {"id": "1"}},
        },
    )
    assert s.status is LoanStatus.SETTLED
    refused(
        s,
        "repayment_received",
        "2024-05-01",
        pay("10.00", "0.00", value_date="2024-05-01", ref="LATE"),
        "loan_settled",
    )
    refused(s, "settlement", "2024-05-01", {
        "settled_on": "2024-05-01", "reason": "repaid",
        "source": {"system": "cbs", "refs": {"id": "2"}}}, "loan_settled")
    # a settlement confirmation can still be sent and delivered
    s = post(
        s,
        "notice_sent",
        "2024-05-25",
        with_("notice_sent", kind="settlement", amount_demanded=None),
    )
    s = post(s, "notice_delivered", "2024-05-27")
    assert s.notices[0].delivered is not None


# --- credit decision and contract ---------------------------------------------------------


def test_duplicate_decision_and_future_decision() -> None:
    s = post(None, "credit_decision", "2024-03-01")
    refused(s, "credit_decision", "2024-03-01", None, "duplicate_decision")
    refused(None, "credit_decision", "2024-03-01", None, "future_dated", time="09:00:00")


def test_contract_after_decline() -> None:
    s = post(
        None,
        "credit_decision",
        "2024-03-01",
        with_("credit_decision", outcome="declined", limit=None),
    )
    assert s.status is LoanStatus.DECLINED
    refused(s, "contract_signed", "2024-03-02", None, "contract_after_decline")
    # a later approval reopens the way
    s = post(s, "credit_decision", "2024-03-01", with_("credit_decision", decision_id="CD-2"))
    s = post(s, "contract_signed", "2024-03-02", with_("contract_signed", decision_id="CD-2"))
    assert s.status is LoanStatus.CONTRACTED


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"decision_id": "CD-404"}, "unknown_decision"),
        ({"product_code": "HQ_SUPERMARKET"}, "product_mismatch"),
        ({"amount": "500000.01"}, "over_limit"),
        (
            {
                "e_signature": {
                    "certificate_serial": "S",
                    "signed_at": "2024-06-01T10:00:00+08:00",
                    "identity_check_refs": ["F"],
                }
            },
            "decision_expired",
        ),
        ({"term_months": 48}, "terms_outside_product"),
        (
            {
                "e_signature": {
                    "certificate_serial": "S",
                    "signed_at": "2024-03-02T19:00:00+08:00",
                    "identity_check_refs": ["F"],
                }
            },
            "future_dated",
        ),
    ],
)
def test_contract_refusals(changes: dict[str, Any], code: str) -> None:
    s = post(None, "credit_decision", "2024-03-01")
    day = "2024-06-01" if code == "decision_expired" else "2024-03-02"
    refused(s, "contract_signed", day, with_("contract_signed", **changes), code)


def test_contract_borrower_must_be_the_applicant() -> None:
    s = post(None, "credit_decision", "2024-03-01")
    p = example_payload("contract_signed")
    p["parties"][1]["credit_code"] = "91500105MA60XKP23J"
    refused(s, "contract_signed", "2024-03-02", p, "borrower_mismatch")


def test_contract_product_must_exist_in_the_catalogue() -> None:
    p = with_("contract_signed", decision_id=None, product_code="HQ_GONE")
    refused(None, "contract_signed", "2024-03-02", p, "unknown_product")
    # without a catalogue the product is not checked
    apply(None, event("contract_signed", p, day="2024-03-02"))


# --- security and disbursement ------------------------------------------------------------


def test_duplicate_security(contracted: LoanState) -> None:
    s = post(contracted, "security", "2024-03-02")
    refused(s, "security", "2024-03-03", None, "duplicate_security")


def test_over_disbursement_in_tranches(contracted: LoanState) -> None:
    s = post(
        contracted,
        "disbursement",
        "2024-03-05",
        with_("disbursement", amount="200000.00", receipt_no="R1", clearing_ref="C1"),
    )
    s = post(
        s,
        "disbursement",
        "2024-03-06",
        with_(
            "disbursement",
            amount="100000.00",
            receipt_no="R2",
            clearing_ref="C2",
            value_date="2024-03-06",
        ),
    )
    assert s.disbursed_total == D("300000.00")
    err = refused(
        s,
        "disbursement",
        "2024-03-07",
        with_(
            "disbursement",
            amount="0.01",
            receipt_no="R3",
            clearing_ref="C3",
            value_date="2024-03-07",
        ),
        "over_disbursement",
    )
    assert "300000.00" in err.reason and "300000.01" in err.reason


def test_disbursement_refusals(disbursed: LoanState, contracted: LoanState) -> None:
    refused(disbursed, "disbursement", "2024-03-06", None, "duplicate_receipt")
    refused(
        disbursed,
        "disbursement",
        "2024-03-06",
        with_("disbursement", amount="1.00", receipt_no="R9"),
        "duplicate_clearing_ref",
    )
    refused(
        contracted,
        "disbursement",
        "2024-03-05",
        with_("disbursement", value_date="2024-03-01"),
        "disbursement_before_contract",
    )
    refused(
        contracted,
        "disbursement",
        "2024-03-05",
        with_("disbursement", value_date="2024-03-06"),
        "future_dated",
    )


def test_no_disbursement_after_acceleration(overdue: LoanState) -> None:
    s = post(overdue, "acceleration", "2024-07-01", with_("acceleration", notice_id=None))
    refused(
        s,
        "disbursement",
        "2024-07-02",
        with_(
            "disbursement",
            amount="1.00",
            receipt_no="R9",
            clearing_ref="C9",
            value_date="2024-07-02",
        ),
        "disbursement_not_allowed",
    )


# --- repayments and missed installments ---------------------------------------------------


def test_repayment_refusals(contracted: LoanState, disbursed: LoanState) -> None:
    refused(contracted, "repayment_received", "2024-04-20", None, "not_disbursed")
    refused(
        disbursed,
        "repayment_received",
        "2024-04-20",
        with_("repayment_received", value_date="2024-03-04"),
        "repayment_before_disbursement",
    )
    refused(disbursed, "repayment_received", "2024-04-19", None, "future_dated")
    refused(
        disbursed,
        "repayment_received",
        "2024-04-20",
        with_("repayment_received", clearing_ref="CNAPS-20240305-000981"),
        "duplicate_clearing_ref",
    )
    refused(
        disbursed,
        "repayment_received",
        "2024-04-20",
        pay("300000.01", "300000.01", value_date="2024-04-20", ref="X"),
        "over_repayment",
    )


def test_repayment_without_allocation_is_kept_apart(disbursed: LoanState) -> None:
    p = example_payload("repayment_received")
    del p["allocation"]
    s = post(disbursed, "repayment_received", "2024-04-20", p)
    assert s.unallocated_received == D("25600.12") and s.principal_repaid == D("0.00")
    assert s.principal_outstanding == D("300000.00")


def test_missed_installment_makes_overdue_and_a_named_repayment_cures(overdue: LoanState) -> None:
    assert overdue.status is LoanStatus.OVERDUE and len(overdue.open_missed) == 1
    s = post(
        overdue,
        "repayment_received",
        "2024-05-22",
        pay("100.00", "100.00", value_date="2024-05-22", ref="P1"),
    )
    assert s.status is LoanStatus.OVERDUE  # a payment naming no installment cures nothing
    s = post(
        s,
        "repayment_received",
        "2024-05-23",
        pay("25600.12", "24000.00", value_date="2024-05-23", ref="P2", installments=[2]),
    )
    assert s.status is LoanStatus.DISBURSED and not s.open_missed
    assert s.missed[0].resolution == "repaid"


def test_missed_refusals(contracted: LoanState, disbursed: LoanState, overdue: LoanState) -> None:
    refused(contracted, "repayment_missed", "2024-05-21", None, "not_disbursed")
    refused(
        disbursed,
        "repayment_missed",
        "2024-05-21",
        with_("repayment_missed", due_date="2024-03-05"),
        "due_before_disbursement",
    )
    refused(disbursed, "repayment_missed", "2024-05-19", None, "future_dated")
    # the same installment and due date again (core banking and the monitoring job): one fact
    again = post(overdue, "repayment_missed", "2024-05-22", None, event_id="again")
    assert len(again.missed) == len(overdue.missed)
    assert again.missed[-1].also_recorded_by == ("again",)
    # the same installment open under another due date is a contradiction
    refused(overdue, "repayment_missed", "2024-05-22",
            with_("repayment_missed", due_date="2024-05-21"), "duplicate_missed_installment")


# --- notices ------------------------------------------------------------------------------


def test_notice_channel_agreement(disbursed: LoanState) -> None:
    s = post(disbursed, "notice_sent", "2024-05-25")
    s = post(
        s,
        "notice_sent",
        "2024-05-25",
        with_("notice_sent", notice_id="N2", channel="email", address="boss@example.com"),
    )
    s = post(
        s,
        "notice_sent",
        "2024-05-25",
        with_("notice_sent", notice_id="N3", recipient_role="guarantor"),
    )
    assert [n.via_agreed_channel for n in s.notices] == [True, False, None]


def test_notice_refusals(disbursed: LoanState) -> None:
    refused(disbursed, "notice_delivered", "2024-05-27", None, "unknown_notice")
    s = post(disbursed, "notice_sent", "2024-05-25")
    refused(s, "notice_sent", "2024-05-26", None, "duplicate_notice")
    refused(
        s,
        "notice_sent",
        "2024-05-25",
        with_("notice_sent", notice_id="N9", sent_at="2024-05-26T09:00:00+08:00"),
        "future_dated",
    )
    refused(
        s,
        "notice_delivered",
        "2024-05-27",
        with_("notice_delivered", channel="sms"),
        "channel_mismatch",
    )
    refused(
        s,
        "notice_delivered",
        "2024-05-27",
        with_("notice_delivered", delivered_at="2024-05-24T11:20:00+08:00"),
        "delivered_before_sent",
    )
    s = post(s, "notice_delivered", "2024-05-27")
    refused(s, "notice_delivered", "2024-05-28", None, "duplicate_delivery")


# --- acceleration, restructuring, write-off, settlement -----------------------------------


def test_acceleration_refusals(contracted: LoanState, overdue: LoanState) -> None:
    refused(contracted, "acceleration", "2024-07-01", None, "not_disbursed")
    refused(overdue, "acceleration", "2024-07-01", None, "unknown_notice")
    refused(
        overdue, "acceleration", "2024-06-30", with_("acceleration", notice_id=None), "future_dated"
    )
    refused(
        overdue,
        "acceleration",
        "2024-07-01",
        with_("acceleration", notice_id=None, accelerated_on="2024-03-04"),
        "acceleration_before_disbursement",
    )
    big = {"principal": "300000.01", "interest": "0.00", "penalty": "0.00", "costs": "0.00"}
    refused(
        overdue,
        "acceleration",
        "2024-07-01",
        with_("acceleration", notice_id=None, amount_declared_due="300000.01", breakdown=big),
        "over_declared_principal",
    )
    s = post(overdue, "acceleration", "2024-07-01", with_("acceleration", notice_id=None))
    refused(
        s,
        "acceleration",
        "2024-07-02",
        with_("acceleration", notice_id=None),
        "already_accelerated",
    )
    s = post(s, "write_off", "2025-12-31")
    refused(
        s,
        "acceleration",
        "2026-01-02",
        with_("acceleration", notice_id=None),
        "acceleration_not_allowed",
    )


def test_restructuring(overdue: LoanState, contracted: LoanState) -> None:
    s = post(overdue, "restructuring", "2024-07-15")
    assert s.status is LoanStatus.RESTRUCTURED and not s.open_missed
    assert s.terms is not None and s.terms.term_months == 24 and s.terms.due_day == 20
    refused(s, "restructuring", "2024-07-16", None, "duplicate_agreement")
    refused(contracted, "restructuring", "2024-07-15", None, "not_disbursed")
    refused(
        overdue,
        "restructuring",
        "2024-07-15",
        with_("restructuring", effective_date="2024-03-01", first_due_date="2024-04-20"),
        "restructuring_before_disbursement",
    )
    refused(
        overdue,
        "restructuring",
        "2024-07-15",
        with_("restructuring", first_due_date="2024-07-15"),
        "due_before_effective",
    )
    # missing again after a restructuring makes it overdue again
    s = post(
        s,
        "repayment_missed",
        "2024-08-21",
        with_("repayment_missed", due_date="2024-08-20", installment_no=1),
    )
    assert s.status is LoanStatus.OVERDUE
    s = post(
        s,
        "repayment_received",
        "2024-08-22",
        pay("20000.00", "10000.00", value_date="2024-08-22", ref="R1", installments=[1]),
    )
    assert s.status is LoanStatus.RESTRUCTURED


def test_write_off_and_recovery(overdue: LoanState, contracted: LoanState) -> None:
    refused(contracted, "write_off", "2025-12-31", None, "not_disbursed")
    refused(
        overdue,
        "write_off",
        "2025-12-31",
        with_("write_off", principal="300000.01"),
        "over_write_off",
    )
    refused(
        overdue,
        "write_off",
        "2025-12-31",
        with_("write_off", written_off_on="2024-03-01"),
        "write_off_before_disbursement",
    )
    s = post(overdue, "write_off", "2025-12-31")
    assert s.status is LoanStatus.WRITTEN_OFF
    refused(s, "write_off", "2026-01-01", None, "already_written_off")
    refused(
        s,
        "restructuring",
        "2026-01-01",
        with_("restructuring", effective_date="2026-01-01", first_due_date="2026-02-20"),
        "restructuring_not_allowed",
    )
    s = post(
        s,
        "repayment_received",
        "2026-02-01",
        pay("5000.00", "5000.00", value_date="2026-02-01", ref="REC"),
    )
    assert s.status is LoanStatus.WRITTEN_OFF and s.principal_repaid == D("5000.00")


def _settle(
    reason: str = "repaid", waiver: dict[str, Any] | None = None, on: str = "2024-12-31"
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "settled_on": on,
        "reason": reason,
        "source": {"system": "cbs", "refs": {"closing_id": "X"}},
    }
    if waiver is not None:
        p["waiver"] = waiver
    return p


def _waiver(principal: str) -> dict[str, Any]:
    return {"principal": principal, "interest": "0.00", "penalty": "0.00", "approval_ref": "A"}


def test_settlement_needs_principal_repaid_or_waived(disbursed: LoanState) -> None:
    s = post(
        disbursed,
        "repayment_received",
        "2024-04-20",
        pay("200000.00", "199999.00", value_date="2024-04-20", ref="P1"),
    )
    err = refused(s, "settlement", "2024-12-31", _settle(), "principal_outstanding")
    assert "100001.00" in err.reason
    refused(s, "settlement", "2024-12-31", _settle("waiver", _waiver("100001.01")), "over_waiver")
    refused(
        s, "settlement", "2024-12-31", _settle("waiver", _waiver("1.00")), "principal_outstanding"
    )
    refused(s, "settlement", "2024-12-31", _settle(on="2024-04-19"), "settled_before_last_payment")
    refused(s, "settlement", "2024-12-30", _settle(), "future_dated")
    done = post(s, "settlement", "2024-12-31", _settle("waiver", _waiver("100001.00")))
    assert done.status is LoanStatus.SETTLED


def test_settlement_gives_unallocated_receipts_the_benefit(disbursed: LoanState) -> None:
    p = example_payload("repayment_received")
    del p["allocation"]
    p.update(amount="310000.00", value_date="2024-12-01")
    s = post(disbursed, "repayment_received", "2024-12-01", p)
    assert post(s, "settlement", "2024-12-31", _settle()).status is LoanStatus.SETTLED


def test_an_undisbursed_contract_can_be_settled(contracted: LoanState) -> None:
    assert (
        post(contracted, "settlement", "2024-04-01", _settle(on="2024-04-01")).status == "settled"
    )


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=20_000_000), min_size=1, max_size=8))
def test_disbursements_accepted_exactly_while_within_the_contract(cents: list[int]) -> None:
    s = post(post(None, "credit_decision", "2024-03-01"), "contract_signed", "2024-03-02")
    limit = D("300000.00")
    total = D("0.00")
    for i, c in enumerate(cents):
        amount = D(c) / 100
        p = with_("disbursement", amount=f"{amount:.2f}", receipt_no=f"R{i}", clearing_ref=f"C{i}")
        if total + amount <= limit:
            s = post(s, "disbursement", "2024-03-05", p)
            total += amount
        else:
            refused(s, "disbursement", "2024-03-05", p, "over_disbursement")
        assert s.disbursed_total == total <= limit


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10_000_000), st.integers(0, 100_000)), max_size=10))
def test_principal_outstanding_never_negative(payments: list[tuple[int, int]]) -> None:
    s = post(
        post(post(None, "credit_decision", "2024-03-01"), "contract_signed", "2024-03-02"),
        "disbursement",
        "2024-03-05",
    )
    for i, (principal_cents, interest_cents) in enumerate(payments):
        principal, interest = D(principal_cents) / 100, D(interest_cents) / 100
        amount = principal + interest
        p = pay(f"{amount:.2f}", f"{principal:.2f}", value_date="2024-04-20", ref=f"P{i}")
        try:
            s = post(s, "repayment_received", "2024-04-20", p)
        except LoanStateError as exc:
            assert exc.code == "over_repayment"
            assert principal > s.principal_outstanding
        assert D("0.00") <= s.principal_outstanding <= s.disbursed_total
        assert s.principal_repaid + s.principal_outstanding == s.disbursed_total


# --- a missed installment recorded after the money ------------------------------------------


def _missed_after(disbursed: LoanState, paid_on: str, *, derived: bool) -> LoanState:
    """Installment 2 (due 2024-05-20) paid on `paid_on`, then recorded missed on 2024-06-01."""
    s = post(disbursed, "repayment_received", paid_on,
             pay("25600.12", "24055.75", value_date=paid_on, ref="P2", installments=[2]))
    missed = event("repayment_missed", None, day="2024-06-01", event_id="mon:L-1:missed-2")
    if derived:
        missed = dataclasses.replace(missed, derived=True)
    return step(s, missed)


def test_an_inferred_missed_installment_paid_on_time_is_superseded(disbursed: LoanState) -> None:
    s = _missed_after(disbursed, "2024-05-20", derived=True)
    assert s.missed == () and s.findings == () and s.status is LoanStatus.DISBURSED
    [(event_id, why)] = s.superseded
    assert event_id == "mon:L-1:missed-2" and "on or before its due date" in why


def test_core_bankings_missed_record_contradicting_its_repayment_is_a_finding(
    disbursed: LoanState,
) -> None:
    s = _missed_after(disbursed, "2024-05-20", derived=False)
    assert s.missed == () and [f.code for f in s.findings] == ["missed_but_paid"]
    assert "2024-05-20" in s.findings[0].reason


def test_paid_late_it_was_missed_and_is_resolved(disbursed: LoanState) -> None:
    s = _missed_after(disbursed, "2024-05-25", derived=True)
    [m] = s.missed
    assert m.installment_no == 2 and m.resolution == "repaid" and m.resolved_by
    assert s.status is not LoanStatus.OVERDUE and s.superseded == ()


def test_a_derived_event_overtaken_by_a_late_settlement_is_superseded_not_a_finding(
    disbursed: LoanState,
) -> None:
    settled = post(post(disbursed, "repayment_received", "2024-04-20",
                        pay("300000.00", "300000.00", value_date="2024-04-20", ref="ALL")),
                   "settlement", "2024-04-20", {"settled_on": "2024-04-20", "reason": "repaid",
                                                 "source": {"system": "cbs", "refs": {"id": "1"}}})
    # the monitoring job inferred a missed installment before the settlement arrived
    inferred = dataclasses.replace(
        event("repayment_missed", None, day="2024-06-01", event_id="mon:L-1:missed-2"),
        derived=True)
    s = step(settled, inferred)
    assert s.findings == () and s.missed == () and s.status is LoanStatus.SETTLED
    [(event_id, why)] = s.superseded
    assert event_id == "mon:L-1:missed-2" and why.startswith("superseded (loan_settled)")
    # the same record from core banking is a finding: the bank's own data disagree
    primary = event("repayment_missed", None, day="2024-06-01", event_id="cbs-missed-2")
    assert [f.code for f in step(settled, primary).findings] == ["loan_settled"]
