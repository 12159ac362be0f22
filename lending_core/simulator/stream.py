"""One loan's event stream, as the planner writes it: posting an event (in occurred order,
some arriving late, or all shuffled), the loan's references and clearing numbers, and the
events every part of the story posts (a repayment, a missed installment, a notice and its
delivery, a repricing, the settlement). The opening and servicing stories build on it
(`lending_core.simulator.planner`, `lending_core.simulator.servicing`).
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from lending_core.interest import compute_arrears
from lending_core.interest_model import Disbursement, LoanTerms, Repayment
from lending_core.money import format_payload_money
from lending_core.products import Product
from lending_core.schedule import RepaymentMethod, add_months
from lending_core.simulator.model import LATE_TYPES, SYSTEM, DocumentSpec, SimConfig, SimEvent
from lending_core.state.model import CHINA_TZ

__all__ = ["EventStream", "HorizonReached", "iso", "when"]


class HorizonReached(Exception):
    """The simulated clock reached the end of the horizon: the loan's story stops here."""


def when(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """`day` at hh:mm:ss, China time (where every simulated event happens)."""
    return datetime.combine(day, time(hh, mm, ss), CHINA_TZ)


def iso(moment: datetime) -> str:
    return moment.isoformat()


class EventStream:
    """One loan's planned events and the state its story reads (see the module docstring)."""

    # set when the plan opens the loan (`LoanPlanner.plan`, `LoanPlanner._open`)
    terms: LoanTerms
    disbursement: Disbursement
    pricing: dict[str, Any] | None
    repricings: list[tuple[date, Decimal, date, Decimal]]
    rate: Decimal
    due_day: int
    method: RepaymentMethod
    contract_no: str
    receipt_no: str
    address: str
    phone: str
    accelerated: bool
    settled: bool
    prepaid: bool
    extended: bool
    _pending_delivery: tuple[str, str, datetime]

    def __init__(self, config: SimConfig, products: list[Product], n: int) -> None:
        self.config = config
        seed = hashlib.sha256(f"{config.seed}:{n}".encode()).digest()
        self.rng = random.Random(int.from_bytes(seed[:8], "big"))
        # the realism of the stream (late postings, adjustments, floating rates) draws from
        # its own stream, so the loan's story without it stays the same for a seed
        self.extra = random.Random(int.from_bytes(seed[8:16], "big"))
        self.loan_id = f"{config.loan_prefix}{config.seed}-{n:06d}"
        self.product = self.rng.choice(products)
        self.events: list[SimEvent] = []
        self.repayments: list[Repayment] = []
        self.refs = 0

    # --- event helpers --------------------------------------------------------------------

    def post(self, type_: str, at: datetime, payload: dict[str, Any],
             documents: tuple[DocumentSpec, ...] = (), arrives: datetime | None = None) -> str:
        """Plan one event; return its event id. `arrives`: a posting time decided by the
        story (else drawn: `late_posting_share` of `LATE_TYPES` arrive late)."""
        if at.date() >= self.config.end:
            raise HorizonReached
        if self.events and at <= self.events[-1].occurred_at:
            # the plan's order is the occurred order, strictly: no tie for arrival to break
            at = self.events[-1].occurred_at + timedelta(seconds=1)
        seq = len(self.events)
        event_id = f"{self.loan_id}:{seq:03d}"
        event = {"event_id": event_id, "loan_id": self.loan_id,
                 "type": type_, "occurred_at": iso(at), "payload": payload,
                 "source": {"system": SYSTEM, "ref": f"{self.loan_id}/{seq}"}}
        if arrives is None and type_ in LATE_TYPES \
                and self.extra.random() < self.config.late_posting_share:
            arrives = self._late_arrival(at)
        self.events.append(SimEvent(event, at, documents, arrives))
        return event_id

    def _late_arrival(self, at: datetime) -> datetime:
        """A T+1 batch (the next night), the month-end reconciliation, or weeks late."""
        x, day = self.extra.random(), at.date()
        if x < 0.6:
            late = when(day + timedelta(days=1), self.extra.randint(1, 4),
                        self.extra.randint(0, 59))
        elif x < 0.85:
            month_end = add_months(day.replace(day=1), 1) - timedelta(days=1)
            late = when(month_end, 22, self.extra.randint(0, 59))
            if late <= at:
                late = when(day + timedelta(days=1), 23)
        else:
            late = at + timedelta(days=self.extra.randint(7, 28),
                                  hours=self.extra.randint(0, 12))
        return late

    def _shuffle_arrivals(self) -> None:
        """The loan's arrival times, dealt to its events in a random order."""
        times = sorted(e.arrival for e in self.events)
        order = list(range(len(self.events)))
        self.extra.shuffle(order)
        self.events = [SimEvent(e.event, e.occurred_at, e.documents, times[k])
                       for e, k in zip(self.events, order, strict=True)]

    def src(self, system: str, key: str) -> dict[str, Any]:
        self.refs += 1
        return {"system": system, "refs": {key: f"{self.loan_id}-{self.refs:04d}"}}

    def clearing(self, day: date) -> str:
        self.refs += 1
        return f"CNAPS-{day:%Y%m%d}-{self.loan_id}-{self.refs:04d}"

    def _pay(self, day: date, hh: int, amount: Decimal, parts: tuple[Decimal, Decimal, Decimal],
             installments: list[int], *, draw: random.Random | None = None,
             booked: date | None = None) -> str:
        """Post a repayment paid on `day`; `booked`: core banking's T+1 batch booked it with
        its own date as the value date (a correction restates it)."""
        penalty, interest, principal = parts
        minute = (draw or self.rng).randint(0, 59)
        at = when(day, hh, minute) if booked is None else when(booked, 2, minute)
        event_id = self.post("repayment_received", at, {
            "amount": format_payload_money(amount), "value_date": (booked or day).isoformat(),
            "clearing_ref": self.clearing(day), "receipt_no": self.receipt_no,
            "allocation": {"costs": "0.00", "penalty": format_payload_money(penalty),
                           "interest": format_payload_money(interest),
                           "principal": format_payload_money(principal)},
            "installment_nos": installments, "source": self.src("core-banking", "txn_id")})
        self.repayments.append(Repayment(amount, day))
        return event_id

    def _missed(self, inst: Any) -> None:
        self.post("repayment_missed", when(inst.due_date + timedelta(days=1), 0, 30), {
            "due_date": inst.due_date.isoformat(), "installment_no": inst.no,
            "amount_due": format_payload_money(inst.payment),
            "principal_due": format_payload_money(inst.principal),
            "interest_due": format_payload_money(inst.interest),
            "source": self.src("core-banking", "schedule_id")})

    def _notice(self, kind: str, channel: str, sent: datetime, delay: timedelta,
                demanded: Decimal | None) -> str:
        notice_id = f"N-{self.loan_id}-{len(self.events):03d}"
        address = self.phone if channel == "sms" else self.address
        payload: dict[str, Any] = {
            "notice_id": notice_id, "kind": kind, "channel": channel,
            "recipient_role": "borrower", "address": address, "sent_at": iso(sent),
            "clause_no": "16.1", "source": self.src("collections", "letter_id")}
        if demanded is not None:
            payload["amount_demanded"] = format_payload_money(demanded)
        self.post("notice_sent", sent, payload)
        self._pending_delivery = (notice_id, channel, sent + delay)
        return notice_id

    def _deliver(self) -> None:
        notice_id, channel, at = self._pending_delivery
        self.post("notice_delivered", at, {
            "notice_id": notice_id, "channel": channel, "delivered_at": iso(at),
            "receipt_ref": f"{channel.upper()}-{notice_id}",
            "source": self.src("collections", "tracking_no")})

    def _arrears(self, day: date, accelerated_on: date | None = None) -> Any:
        return compute_arrears(self.terms, [self.disbursement], self.repayments, day,
                               accelerated_on=accelerated_on)

    def _settle(self, day: date) -> None:
        self.post("settlement", when(day, 20), {
            "settled_on": day.isoformat(), "reason": "repaid",
            "source": self.src("core-banking", "closing_id")})
        self.settled = True

    def _reprice_until(self, day: date) -> None:
        """Post the floating rate's repricings effective on or before `day`."""
        while self.repricings and self.repricings[0][0] <= day:
            effective, lpr, lpr_date, new = self.repricings.pop(0)
            assert self.pricing is not None  # only a floating loan has repricings
            spread = int(self.pricing["spread_bp"])
            self.post("repricing", when(effective, 1, self.extra.randint(0, 59)), {
                "contract_no": self.contract_no, "effective_date": effective.isoformat(),
                "tenor": "1y", "lpr": f"{lpr:f}",
                "lpr_date": lpr_date.isoformat(), "spread_bp": spread,
                "new_rate": f"{new:f}", "previous_rate": f"{self.rate:f}", "clause_no": "4.2",
                "source": self.src("core-banking", "repricing_id")})
            self.rate = new
