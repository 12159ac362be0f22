"""Transitions of a running loan: repayments, missed installments, notices, acceleration,
restructuring, write-off and settlement."""

from __future__ import annotations

from dataclasses import replace

from lending_core.events import (
    Acceleration,
    MonitoringFlag,
    NoticeDelivered,
    NoticeSent,
    RepaymentMissed,
    RepaymentReceived,
    Restructuring,
    Settlement,
    WriteOff,
)
from lending_core.products import Catalogue
from lending_core.state.model import (
    ZERO,
    Fact,
    LoanEvent,
    LoanState,
    LoanStatus,
    MissedInstallment,
    NoticeRecord,
)
from lending_core.state.rules import (
    clearing,
    instant_not_after,
    money,
    need_disbursed,
    not_after,
    on_agreed_terms,
    performing,
    require,
)


def on_repayment_received(
    state: LoanState, event: LoanEvent, p: RepaymentReceived, _: Catalogue | None
) -> LoanState:
    first = need_disbursed(state, "a repayment")
    require(
        p.value_date >= first,
        "repayment_before_disbursement",
        f"expected value_date on or after the first disbursement on {first}, found {p.value_date}",
    )
    not_after(event, p.value_date, "value_date")
    refs = clearing(state, p.clearing_ref)
    principal = p.allocation.principal if p.allocation is not None else ZERO
    require(
        principal <= state.principal_outstanding,
        "over_repayment",
        f"expected principal at most the outstanding {money(state.principal_outstanding)}, "
        f"found {money(principal)}",
    )
    named = set(p.installment_nos)
    missed = tuple(
        replace(m, resolved_by=event.event_id, resolution="repaid")
        if m.resolved_by is None and m.installment_no in named
        else m
        for m in state.missed
    )
    status = state.status
    if status == LoanStatus.OVERDUE and all(m.resolved_by for m in missed):
        status = performing(state)
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(
        state,
        status=status,
        repayments=(*state.repayments, fact),
        missed=missed,
        received_total=state.received_total + p.amount,
        principal_repaid=state.principal_repaid + principal,
        unallocated_received=state.unallocated_received + (ZERO if p.allocation else p.amount),
        _clearing_refs=refs,
    )


def on_repayment_missed(
    state: LoanState, event: LoanEvent, p: RepaymentMissed, _: Catalogue | None
) -> LoanState:
    first = need_disbursed(state, "a missed installment")
    require(
        p.due_date > first,
        "due_before_disbursement",
        f"expected due_date after the first disbursement on {first}, found {p.due_date}",
    )
    not_after(event, p.due_date, "due_date")
    # The same installment recorded twice (core banking and the monitoring job, or a batch
    # posted again under a new id) is one fact: the first record keeps it, others are noted.
    same = next((m for m in state.missed if m.installment_no == p.installment_no
                 and m.fact.payload.due_date == p.due_date), None)
    if same is not None:
        noted = replace(same, also_recorded_by=(*same.also_recorded_by, event.event_id))
        return replace(state, missed=tuple(noted if m is same else m for m in state.missed))
    require(
        all(m.installment_no != p.installment_no for m in state.open_missed),
        "duplicate_missed_installment",
        f"expected installment {p.installment_no} not already missed and open, found it open",
    )
    # A repayment earlier in loan order that names this installment already paid it (the
    # missed record arrived, or was inferred, after the money). Paid late: the installment
    # was missed, and is resolved. Paid on time: it was never missed. The monitoring job's
    # inference is then superseded; core banking's own record contradicts its repayment.
    paid = next((r for r in state.repayments if p.installment_no in r.payload.installment_nos),
                None)
    if paid is not None and paid.payload.value_date <= p.due_date:
        require(
            event.derived,
            "missed_but_paid",
            f"expected installment {p.installment_no} unpaid on its due date {p.due_date}, "
            f"found repayment {paid.event_id} of {money(paid.payload.amount)} on "
            f"{paid.payload.value_date}",
        )
        why = f"superseded: repayment {paid.event_id} paid installment {p.installment_no} on " \
              f"{paid.payload.value_date}, on or before its due date {p.due_date}"
        return replace(state, superseded=(*state.superseded, (event.event_id, why)))
    if paid is not None:
        record = MissedInstallment(Fact(event.event_id, event.occurred_at, p), paid.event_id,
                                   "repaid")
        return replace(state, missed=(*state.missed, record))
    status = state.status
    if status in (LoanStatus.DISBURSED, LoanStatus.RESTRUCTURED):
        status = LoanStatus.OVERDUE
    record = MissedInstallment(Fact(event.event_id, event.occurred_at, p))
    return replace(state, status=status, missed=(*state.missed, record))


def on_notice_sent(
    state: LoanState, event: LoanEvent, p: NoticeSent, _: Catalogue | None
) -> LoanState:
    assert state.contract is not None
    require(
        state.notice(p.notice_id) is None,
        "duplicate_notice",
        f"expected a new notice_id, found {p.notice_id} again",
    )
    instant_not_after(event, p.sent_at, "sent_at")
    agreed: bool | None = None
    if p.recipient_role == "borrower":
        channels = state.contract.payload.service_address.channels
        agreed = any(c.channel == p.channel and c.address == p.address for c in channels)
    record = NoticeRecord(Fact(event.event_id, event.occurred_at, p), agreed)
    return replace(state, notices=(*state.notices, record))


def on_notice_delivered(
    state: LoanState, event: LoanEvent, p: NoticeDelivered, _: Catalogue | None
) -> LoanState:
    record = state.notice(p.notice_id)
    require(
        record is not None,
        "unknown_notice",
        f"expected notice_id of a sent notice, found {p.notice_id}",
    )
    assert record is not None
    sent = record.sent.payload
    require(
        record.delivered is None,
        "duplicate_delivery",
        f"expected notice {p.notice_id} undelivered, found it delivered already",
    )
    require(
        p.channel == sent.channel,
        "channel_mismatch",
        f"expected delivery by {sent.channel} as sent, found {p.channel}",
    )
    require(
        p.delivered_at >= sent.sent_at,
        "delivered_before_sent",
        f"expected delivered_at at or after sent_at {sent.sent_at.isoformat()}, "
        f"found {p.delivered_at.isoformat()}",
    )
    instant_not_after(event, p.delivered_at, "delivered_at")
    updated = replace(record, delivered=Fact(event.event_id, event.occurred_at, p))
    notices = tuple(updated if n is record else n for n in state.notices)
    return replace(state, notices=notices)


def on_acceleration(
    state: LoanState, event: LoanEvent, p: Acceleration, _: Catalogue | None
) -> LoanState:
    first = need_disbursed(state, "an acceleration")
    require(
        state.status != LoanStatus.ACCELERATED,
        "already_accelerated",
        "expected a loan not yet accelerated, found it accelerated",
    )
    require(
        state.status != LoanStatus.WRITTEN_OFF,
        "acceleration_not_allowed",
        "expected a loan on the books, found it written off",
    )
    require(
        p.accelerated_on >= first,
        "acceleration_before_disbursement",
        f"expected accelerated_on on or after {first}, found {p.accelerated_on}",
    )
    not_after(event, p.accelerated_on, "accelerated_on")
    require(
        p.notice_id is None or state.notice(p.notice_id) is not None,
        "unknown_notice",
        f"expected notice_id of a sent notice, found {p.notice_id}",
    )
    if p.breakdown is not None:
        require(
            p.breakdown.principal <= state.principal_outstanding,
            "over_declared_principal",
            f"expected principal at most the outstanding "
            f"{money(state.principal_outstanding)}, found {money(p.breakdown.principal)}",
        )
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, status=LoanStatus.ACCELERATED, acceleration=fact)


def on_restructuring(
    state: LoanState, event: LoanEvent, p: Restructuring, _: Catalogue | None
) -> LoanState:
    assert state.terms is not None
    first = need_disbursed(state, "a restructuring")
    require(
        state.status != LoanStatus.WRITTEN_OFF,
        "restructuring_not_allowed",
        "expected a loan on the books, found it written off",
    )
    agreements = {r.payload.agreement_no for r in state.restructurings}
    require(
        p.agreement_no not in agreements,
        "duplicate_agreement",
        f"expected a new agreement_no, found {p.agreement_no} again",
    )
    require(
        p.effective_date >= first,
        "restructuring_before_disbursement",
        f"expected effective_date on or after {first}, found {p.effective_date}",
    )
    require(
        p.first_due_date > p.effective_date,
        "due_before_effective",
        f"expected first_due_date after {p.effective_date}, found {p.first_due_date}",
    )
    instant_not_after(event, p.e_signature.signed_at, "e_signature.signed_at")
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(
        on_agreed_terms(state, event, p, p.annual_rate, str(p.repayment_method)),
        status=LoanStatus.RESTRUCTURED,
        restructurings=(*state.restructurings, fact),
    )


def on_write_off(state: LoanState, event: LoanEvent, p: WriteOff, _: Catalogue | None) -> LoanState:
    first = need_disbursed(state, "a write-off")
    require(
        state.write_off is None,
        "already_written_off",
        "expected a loan not yet written off, found it written off",
    )
    require(
        p.written_off_on >= first,
        "write_off_before_disbursement",
        f"expected written_off_on on or after {first}, found {p.written_off_on}",
    )
    not_after(event, p.written_off_on, "written_off_on")
    require(
        p.principal <= state.principal_outstanding,
        "over_write_off",
        f"expected principal at most the outstanding {money(state.principal_outstanding)}, "
        f"found {money(p.principal)}",
    )
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, status=LoanStatus.WRITTEN_OFF, write_off=fact)


def on_settlement(
    state: LoanState, event: LoanEvent, p: Settlement, _: Catalogue | None
) -> LoanState:
    not_after(event, p.settled_on, "settled_on")
    dates = [d.payload.value_date for d in state.disbursements]
    dates += [r.payload.value_date for r in state.repayments]
    last = max(dates, default=None)
    require(
        last is None or p.settled_on >= last,
        "settled_before_last_payment",
        f"expected settled_on on or after the last value date {last}, found {p.settled_on}",
    )
    waived = p.waiver.principal if p.waiver is not None else ZERO
    outstanding = state.principal_outstanding
    require(
        waived <= outstanding,
        "over_waiver",
        f"expected waived principal at most the outstanding {money(outstanding)}, "
        f"found {money(waived)}",
    )
    # Receipts posted without an allocation may have repaid principal; give them the benefit.
    residual = outstanding - waived
    require(
        residual <= state.unallocated_received,
        "principal_outstanding",
        f"expected no principal outstanding at settlement (or a waiver of it), found "
        f"{money(outstanding)} outstanding, {money(waived)} waived",
    )
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, status=LoanStatus.SETTLED, settlement=fact)


def on_monitoring_flag(
    state: LoanState, event: LoanEvent, p: MonitoringFlag, _: Catalogue | None
) -> LoanState:
    need_disbursed(state, "a monitoring flag")
    not_after(event, p.as_of, "as_of")
    last = state.monitoring_flags[-1].payload if state.monitoring_flags else None
    require(
        last is None or p.as_of >= last.as_of,
        "stale_monitoring_flag",
        f"expected as_of on or after the last flag's {last.as_of if last else ''}, found {p.as_of}",
    )
    previous = last.classification if last is not None else "正常"
    require(
        p.previous_classification is None or p.previous_classification == previous,
        "classification_mismatch",
        f"expected previous_classification {previous} (the last flag's), "
        f"found {p.previous_classification}",
    )
    fact = Fact(event.event_id, event.occurred_at, p)
    return replace(state, monitoring_flags=(*state.monitoring_flags, fact))
