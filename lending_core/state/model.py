"""The values of a loan's state: the event as applied, the facts it records, the state.

Everything here is frozen. Each fact keeps its validated payload beside the id and time of
the event that carried it, so a case file can cite the exact record behind every figure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from lending_core.errors import LoanStateError
from lending_core.events import (
    Acceleration,
    ContractSigned,
    CreditDecision,
    Disbursement,
    MonitoringFlag,
    NoticeDelivered,
    NoticeSent,
    RepaymentMissed,
    RepaymentReceived,
    Repricing,
    Restructuring,
    Security,
    Settlement,
    WriteOff,
)
from lending_core.schedule import RateChange
from lending_core.state.adjustment_facts import Adjustments

CHINA_TZ = timezone(timedelta(hours=8), "CST")
DERIVED_SYSTEMS = frozenset({"cunzheng-monitoring"})
"""Producers that are the service itself: their events are derived, never a lender's."""
EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ZERO = Decimal("0.00")

P = TypeVar("P", bound=BaseModel)


class LoanStatus(StrEnum):
    """Where a loan stands. There is no `applied`: no event records an application."""

    INCOMPLETE = "incomplete"  # events arrived, but no decision or contract yet
    APPROVED = "approved"
    DECLINED = "declined"
    CONTRACTED = "contracted"
    DISBURSED = "disbursed"  # performing
    OVERDUE = "overdue"  # at least one missed installment not yet cured
    ACCELERATED = "accelerated"
    RESTRUCTURED = "restructured"  # performing under restructured terms
    WRITTEN_OFF = "written_off"  # off the books; the claim survives, recoveries allowed
    SETTLED = "settled"


@dataclass(frozen=True)
class LoanEvent:
    """One posted event: `occurred_at` must be timezone-aware and is kept in UTC."""

    event_id: str
    loan_id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]
    seq: int = 0  # arrival order: the leaf index when read from the log
    received_at: datetime | None = None  # when the ledger accepted it, if known
    derived: bool = False  # posted by the service itself (monitoring), not by the lender

    def __post_init__(self) -> None:
        if not EVENT_ID_PATTERN.match(self.event_id):
            raise LoanStateError(
                self.event_id,
                self.type,
                "invalid_event",
                f"expected event_id of 1-128 characters A-Za-z0-9._:-, found {self.event_id!r}",
            )
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise LoanStateError(
                self.event_id,
                self.type,
                "invalid_event",
                "expected occurred_at with a timezone, found a naive datetime",
            )
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], *, seq: int = 0, received_at: datetime | None = None
    ) -> LoanEvent:
        """The event in a posted or stored record (`occurred_at` as an RFC 3339 string).

        `seq` is its place in arrival order (the leaf index); a record whose `source.system`
        is one of `DERIVED_SYSTEMS` is a derived event."""
        event_id = str(record.get("event_id", ""))
        kind = str(record.get("type", ""))
        missing = [
            k for k in ("event_id", "loan_id", "type", "occurred_at", "payload") if k not in record
        ]
        if missing:
            raise LoanStateError(
                event_id,
                kind,
                "invalid_event",
                f"expected fields {', '.join(missing)} in the record, found none",
            )
        occurred = record["occurred_at"]
        try:
            when = datetime.fromisoformat(occurred) if isinstance(occurred, str) else None
        except ValueError:
            when = None
        if when is None:
            raise LoanStateError(
                event_id,
                kind,
                "invalid_event",
                f"expected occurred_at as RFC 3339 text, found {occurred!r}",
            )
        payload = record["payload"]
        if not isinstance(payload, dict):
            raise LoanStateError(
                event_id,
                kind,
                "invalid_event",
                f"expected payload as a JSON object, found {type(payload).__name__}",
            )
        source = record.get("source")
        system = source.get("system") if isinstance(source, Mapping) else None
        return cls(event_id, str(record["loan_id"]), kind, when, payload, seq=seq,
                   received_at=received_at, derived=system in DERIVED_SYSTEMS)

    @property
    def business_date(self) -> date:
        """The date the event occurred on, in China Standard Time."""
        return self.occurred_at.astimezone(CHINA_TZ).date()


@dataclass(frozen=True)
class Finding:
    """An event that is recorded but inconsistent with the loan's other events as known now.

    The event stays in the log and in every package; the fold leaves it out of the state.
    `code` is stable (the rule it breaks), `reason` says what was expected and found."""

    code: str
    reason: str
    event_id: str
    event_type: str
    occurred_at: datetime
    seq: int
    derived: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.event_id)


@dataclass(frozen=True)
class Fact(Generic[P]):
    """A validated payload with the event that carried it."""

    event_id: str
    occurred_at: datetime
    payload: P


@dataclass(frozen=True)
class Terms:
    """The terms in force: the contract's, or the latest restructuring's."""

    principal: Decimal
    term_months: int
    annual_rate: Decimal
    repayment_method: str
    first_due_date: date | None
    due_day: int | None
    penalty_markup: Decimal
    compound_interest_allowed: bool
    since: date
    agreed_by: str  # contract_no or restructuring agreement_no
    rate_changes: tuple[RateChange, ...] = ()  # floating-rate resets after `since`


@dataclass(frozen=True)
class MissedInstallment:
    """A missed installment and what closed it (a repayment naming it, or a restructuring)."""

    fact: Fact[RepaymentMissed]
    resolved_by: str | None = None  # event_id
    resolution: Literal["repaid", "restructured"] | None = None
    also_recorded_by: tuple[str, ...] = ()  # other events recording the same installment

    @property
    def installment_no(self) -> int:
        return self.fact.payload.installment_no


@dataclass(frozen=True)
class NoticeRecord:
    """A notice sent and, once proven, its delivery.

    `via_agreed_channel` is True when a notice to the borrower used a channel and address
    agreed in the contract's service clause, False when not, None for other recipients.
    """

    sent: Fact[NoticeSent]
    via_agreed_channel: bool | None
    delivered: Fact[NoticeDelivered] | None = None


@dataclass(frozen=True)
class LoanState:
    """Everything the events of one loan establish. Money fields are CNY `Decimal`s."""

    loan_id: str
    status: LoanStatus
    last_event_id: str
    last_occurred_at: datetime
    event_ids: frozenset[str] = frozenset()
    credit_decisions: tuple[Fact[CreditDecision], ...] = ()
    contract: Fact[ContractSigned] | None = None
    terms: Terms | None = None
    securities: tuple[Fact[Security], ...] = ()
    disbursements: tuple[Fact[Disbursement], ...] = ()
    repayments: tuple[Fact[RepaymentReceived], ...] = ()
    missed: tuple[MissedInstallment, ...] = ()
    notices: tuple[NoticeRecord, ...] = ()
    acceleration: Fact[Acceleration] | None = None
    restructurings: tuple[Fact[Restructuring], ...] = ()
    write_off: Fact[WriteOff] | None = None
    settlement: Fact[Settlement] | None = None
    monitoring_flags: tuple[Fact[MonitoringFlag], ...] = ()
    findings: tuple[Finding, ...] = ()
    superseded: tuple[tuple[str, str], ...] = ()  # (event_id, why): derived events overtaken
    corrections: tuple[Any, ...] = ()  # notes from `corrections.effective`
    repricings: tuple[Fact[Repricing], ...] = ()  # floating-rate resets (state.pricing)
    adjustments: Adjustments = field(default_factory=Adjustments)  # state.adjustments
    disbursed_total: Decimal = ZERO
    received_total: Decimal = ZERO
    principal_repaid: Decimal = ZERO  # principal in repayments' allocations
    unallocated_received: Decimal = ZERO  # repayments posted without an allocation
    _clearing_refs: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def principal_outstanding(self) -> Decimal:
        """Disbursed minus allocated principal. Receipts without allocation are not counted
        (see `unallocated_received`): this is an upper bound when any exist."""
        return self.disbursed_total - self.principal_repaid

    @property
    def first_value_date(self) -> date | None:
        return min((d.payload.value_date for d in self.disbursements), default=None)

    @property
    def open_missed(self) -> tuple[MissedInstallment, ...]:
        return tuple(m for m in self.missed if m.resolved_by is None)

    @property
    def credit_decision(self) -> Fact[CreditDecision] | None:
        return self.credit_decisions[-1] if self.credit_decisions else None

    @property
    def classification(self) -> str:
        """五级分类 from the latest `monitoring_flag`; 正常 until monitoring says otherwise."""
        return self.monitoring_flags[-1].payload.classification if self.monitoring_flags else "正常"

    def notice(self, notice_id: str) -> NoticeRecord | None:
        return next((n for n in self.notices if n.sent.payload.notice_id == notice_id), None)
