"""`apply` and `rebuild`: the gate every event passes, then its type's transition."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from lending_core.errors import LoanStateError
from lending_core.events import validate_payload
from lending_core.products import Catalogue
from lending_core.state.model import LoanEvent, LoanState, LoanStatus
from lending_core.state.opening import (
    on_contract_signed,
    on_credit_decision,
    on_disbursement,
    on_security,
)
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
}

_BEFORE_CONTRACT = frozenset({"credit_decision", "contract_signed"})
_AFTER_SETTLEMENT = frozenset({"notice_sent", "notice_delivered"})


def _gate(state: LoanState | None, event: LoanEvent) -> None:
    """The checks every event passes: same loan, new id, in order, allowed in this phase."""
    if state is None:
        require(
            event.type in _BEFORE_CONTRACT,
            "before_contract",
            f"expected credit_decision or contract_signed first, found {event.type}",
        )
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
    require(
        event.occurred_at >= state.last_occurred_at,
        "out_of_order",
        f"expected occurred_at at or after {state.last_occurred_at.isoformat()} "
        f"(event {state.last_event_id}), found {event.occurred_at.isoformat()}",
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


def apply(
    state: LoanState | None, event: LoanEvent, *, catalogue: Catalogue | None = None
) -> LoanState:
    """The state after `event`; raises `LoanStateError` if the event cannot happen.

    The payload is validated first (`EventValidationError` if it does not fit its schema).
    With a `catalogue`, a contract's terms must also fit its product.
    """
    model = validate_payload(event.type, event.payload)
    try:
        _gate(state, event)
        base = state or LoanState(
            loan_id=event.loan_id,
            status=LoanStatus.APPROVED,
            last_event_id=event.event_id,
            last_occurred_at=event.occurred_at,
        )
        after = TRANSITIONS[event.type](base, event, model, catalogue)
    except Reject as exc:
        raise LoanStateError(event.event_id, event.type, exc.code, exc.reason) from None
    return replace(
        after,
        last_event_id=event.event_id,
        last_occurred_at=event.occurred_at,
        event_ids=after.event_ids | {event.event_id},
    )


def rebuild(events: Iterable[LoanEvent], *, catalogue: Catalogue | None = None) -> LoanState:
    """Fold `events` (in ledger order) into a state; raises on the first impossible one."""
    state: LoanState | None = None
    for event in events:
        state = apply(state, event, catalogue=catalogue)
    if state is None:
        raise LoanStateError("", "", "no_events", "expected at least one event, found none")
    return state
