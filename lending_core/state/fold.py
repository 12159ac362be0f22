"""`apply`, `rebuild` and `history`: the gate every event passes, then its type's transition.

Two orders exist (DESIGN.md, "Event time and arrival order"). `seq` is arrival order (the
leaf index); the loan order is `(occurred_at, seq)`. `rebuild` folds a loan's events in
loan order, whatever order they arrived in, so a late event changes the state exactly as if
it had come on time. An event that breaks a rule relating it to the loan's other events is
not applied but kept as a `Finding`; only what is false on its own (`intrinsic`) is an
error, raised by `check_intrinsic` before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lending_core.errors import LoanStateError
from lending_core.events import LEDGER_EVENT_TYPES, validate_payload
from lending_core.products import Catalogue
from lending_core.state import adjustments as adj
from lending_core.state import intrinsic, pricing, rules
from lending_core.state.corrections import effective
from lending_core.state.model import Finding, LoanEvent, LoanState, LoanStatus
from lending_core.state.opening import (
    on_contract_signed,
    on_credit_decision,
    on_disbursement,
    on_security,
)
from lending_core.state.pricing import on_repricing
from lending_core.state.rules import Reject, require
from lending_core.state.servicing import (
    on_acceleration,
    on_monitoring_flag,
    on_notice_delivered,
    on_notice_sent,
    on_repayment_missed,
    on_repayment_received,
    on_restructuring,
    on_settlement,
    on_write_off,
)

INTRINSIC: frozenset[str] = rules.INTRINSIC | adj.INTRINSIC_CODES | pricing.INTRINSIC_CODES
"""Every code refused at ingestion; any other code is a finding."""

CORRECTING_TYPES = frozenset({"reversal", "correction"})
"""Event types that change how other events fold (see `corrections.effective`)."""

Transition = Callable[[LoanState, LoanEvent, Any, "Catalogue | None"], LoanState]

TRANSITIONS: dict[str, Transition] = {
    "credit_decision": on_credit_decision,
    "contract_signed": on_contract_signed,
    "security": on_security,
    "disbursement": on_disbursement,
    "repayment_received": on_repayment_received,
    "repayment_missed": on_repayment_missed,
    "notice_sent": on_notice_sent,
    "notice_delivered": on_notice_delivered,
    "acceleration": on_acceleration,
    "restructuring": on_restructuring,
    "write_off": on_write_off,
    "settlement": on_settlement,
    "monitoring_flag": on_monitoring_flag,
    "repricing": on_repricing,
    "fee_charged": adj.on_fee_charged,
    "prepayment": adj.on_prepayment,
    "extension": adj.on_extension,
    "reversal": adj.on_reversal,
    "correction": adj.on_correction,
}

_BEFORE_CONTRACT = frozenset({"credit_decision", "contract_signed"})
_AFTER_SETTLEMENT = frozenset({"notice_sent", "notice_delivered"})


def _gate(state: LoanState | None, event: LoanEvent) -> None:
    """The checks every event passes: same loan, new id, allowed in this phase."""
    if state is None or state.status is LoanStatus.INCOMPLETE:
        require(
            event.type in _BEFORE_CONTRACT,
            "before_contract",
            f"expected credit_decision or contract_signed first, found {event.type}",
        )
        if state is None:
            return
    require(
        event.loan_id == state.loan_id,
        "wrong_loan",
        f"expected loan_id {state.loan_id}, found {event.loan_id}",
    )
    require(
        event.event_id not in state.event_ids,
        "duplicate_event",
        f"expected a new event_id, found {event.event_id} already applied",
    )
    if state.settlement is not None:
        require(
            event.type in _AFTER_SETTLEMENT,
            "loan_settled",
            f"expected only notices after settlement on "
            f"{state.settlement.payload.settled_on}, found {event.type}",
        )
    if state.contract is None:
        require(
            event.type in _BEFORE_CONTRACT,
            "before_contract",
            f"expected a contract before {event.type}, found none",
        )
    else:
        require(
            event.type != "credit_decision",
            "decision_after_contract",
            "expected credit decisions before the contract, found one after it",
        )
        require(
            event.type != "contract_signed",
            "second_contract",
            f"expected one contract per loan, found {state.contract.payload.contract_no} "
            "already (use restructuring for new terms)",
        )


def loan_order(event: LoanEvent) -> tuple[datetime, int]:
    """The loan order: event time, ties broken by arrival (leaf index)."""
    return (event.occurred_at, event.seq)


def check_intrinsic(event: LoanEvent) -> Any:
    """Validate the payload and the rules no later event could change; return the model.

    Raises `EventValidationError` or `LoanStateError` (a code in `rules.INTRINSIC`)."""
    cached = event.__dict__.get("_model")
    if cached is not None:
        return cached
    model = validate_payload(event.type, event.payload)
    try:
        intrinsic.check(event, model)
    except Reject as exc:
        raise LoanStateError(event.event_id, event.type, exc.code, exc.reason) from None
    # a frozen event's payload never changes: keep the model for the next fold of it
    object.__setattr__(event, "_model", model)
    return model


def _apply(
    state: LoanState | None, event: LoanEvent, model: Any, catalogue: Catalogue | None
) -> LoanState:
    try:
        _gate(state, event)
        base = state
        if base is None or base.status is LoanStatus.INCOMPLETE:
            base = replace(base, status=LoanStatus.APPROVED) if base else LoanState(
                loan_id=event.loan_id,
                status=LoanStatus.APPROVED,
                last_event_id=event.event_id,
                last_occurred_at=event.occurred_at,
            )
        after = TRANSITIONS[event.type](base, event, model, catalogue)
    except Reject as exc:
        raise LoanStateError(event.event_id, event.type, exc.code, exc.reason) from None
    return _seen(after, event)


def _seen(state: LoanState, event: LoanEvent) -> LoanState:
    latest = event.occurred_at >= state.last_occurred_at
    return replace(
        state,
        last_event_id=event.event_id if latest else state.last_event_id,
        last_occurred_at=max(event.occurred_at, state.last_occurred_at),
        event_ids=state.event_ids | {event.event_id},
    )


def apply(
    state: LoanState | None, event: LoanEvent, *, catalogue: Catalogue | None = None
) -> LoanState:
    """The state after `event`, strictly: raises `LoanStateError` if the event cannot follow
    `state` (and `EventValidationError` first if the payload does not fit its schema).

    With a `catalogue`, a contract's terms must also fit its product. `rebuild` is the
    lenient fold that keeps a broken rule as a finding instead. A ledger event
    (`LEDGER_EVENT_TYPES`: an erasure) states no lending fact and leaves the state as it was."""
    model = check_intrinsic(event)
    if event.type in LEDGER_EVENT_TYPES:
        if state is None:
            raise LoanStateError(event.event_id, event.type, "no_events",
                                 "expected a loan's events before a ledger event, found none")
        return state
    return _apply(state, event, model, catalogue)


def step(
    state: LoanState | None, event: LoanEvent, *, catalogue: Catalogue | None = None
) -> LoanState:
    """The state after `event`, leniently: an event that cannot follow `state` is recorded
    as a finding and leaves the rest of the state as it was."""
    try:
        return apply(state, event, catalogue=catalogue)
    except LoanStateError as exc:
        if exc.code == "duplicate_event" and state is not None:
            return state  # the same event twice is one event
        base = state or LoanState(
            loan_id=event.loan_id,
            status=LoanStatus.INCOMPLETE,
            last_event_id=event.event_id,
            last_occurred_at=event.occurred_at,
        )
        if event.derived and exc.code not in INTRINSIC:
            # the service's own inference, overtaken by the lender's facts (a flag or an
            # inferred missed installment after a settlement that arrived late): superseded
            why = f"superseded ({exc.code}): {exc.reason}"
            return _seen(replace(base, superseded=(*base.superseded, (event.event_id, why))),
                         event)
        finding = Finding(exc.code, exc.reason, event.event_id, event.type, event.occurred_at,
                          event.seq, event.derived)
        return _seen(replace(base, findings=(*base.findings, finding)), event)


def rebuild(events: Iterable[LoanEvent], *, catalogue: Catalogue | None = None) -> LoanState:
    """Fold `events` in loan order (`loan_order`), whatever order they are given in.

    Never raises for an event that is merely inconsistent with the others (that is a
    finding in `state.findings`); raises only if there are no lending events (ledger
    events, `LEDGER_EVENT_TYPES`, are left out: they change nothing)."""
    given = [e for e in events if e.type not in LEDGER_EVENT_TYPES]
    if not given:
        raise LoanStateError("", "", "no_events", "expected at least one event, found none")
    folded, notes = effective(sorted(given, key=loan_order))
    state: LoanState | None = None
    for event in folded:
        state = step(state, event, catalogue=catalogue)
    assert state is not None
    if notes:
        state = replace(state, corrections=tuple(notes))
    return state


@dataclass(frozen=True)
class FindingRecord:
    """A finding with its life: the arrival that revealed it and the one that resolved it."""

    finding: Finding
    found_by: str  # event_id of the arrival that revealed it
    found_at: datetime | None  # that arrival's received_at, if known
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_by is not None


def history(
    events: Iterable[LoanEvent], *, catalogue: Catalogue | None = None
) -> tuple[LoanState, tuple[FindingRecord, ...]]:
    """The state (as `rebuild`) and every finding any arrival revealed, open or resolved.

    Replays arrival order (`seq`): after each arrival the loan is folded again (only the new
    event when it is the latest in loan order and corrects nothing, the whole loan otherwise)
    and its findings compared with the ones before."""
    arrived = sorted((e for e in events if e.type not in LEDGER_EVENT_TYPES),
                     key=lambda e: e.seq)
    if not arrived:
        raise LoanStateError("", "", "no_events", "expected at least one event, found none")
    records: dict[tuple[str, str], FindingRecord] = {}
    done: list[FindingRecord] = []
    state: LoanState | None = None
    last_key: tuple[datetime, int] | None = None
    for i, event in enumerate(arrived):
        key = loan_order(event)
        if state is not None and last_key is not None and key >= last_key and not (
            event.type in CORRECTING_TYPES or state.corrections
        ):
            state = step(state, event, catalogue=catalogue)
        else:
            state = rebuild(arrived[: i + 1], catalogue=catalogue)
        last_key = key if last_key is None else max(last_key, key)
        now = {f.key: f for f in state.findings}
        for k in [k for k in records if k not in now]:
            done.append(replace(records.pop(k), resolved_by=event.event_id,
                                resolved_at=event.received_at))
        for k, f in now.items():
            if k not in records:
                records[k] = FindingRecord(f, event.event_id, event.received_at)
    assert state is not None
    return state, (*done, *records.values())
