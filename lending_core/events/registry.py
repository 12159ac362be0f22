"""The event types, their payload models, and `validate_payload`, the one entry point.

`validate_payload` turns pydantic's errors into `EventValidationError.errors`, a list of
`{"field": "payload.<dotted path>", "message": ...}` that the service returns as it is, so a
lending service learns exactly which field was wrong and what was expected.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from lending_core.errors import EventValidationError, UnknownEventType
from lending_core.events.adjustments import Correction, Extension, FeeCharged, Prepayment, Reversal
from lending_core.events.ledger import LEDGER_MODELS
from lending_core.events.monitoring import MonitoringFlag
from lending_core.events.origination import ContractSigned, CreditDecision, Security
from lending_core.events.pricing import Repricing
from lending_core.events.resolution import Acceleration, Restructuring, Settlement, WriteOff
from lending_core.events.servicing import (
    Disbursement,
    NoticeDelivered,
    NoticeSent,
    RepaymentMissed,
    RepaymentReceived,
)
from lending_core.events.types import FIELD_CONTEXT_KEY, PayloadModel

PAYLOAD_MODELS: dict[str, type[PayloadModel]] = {
    "credit_decision": CreditDecision,
    "contract_signed": ContractSigned,
    "security": Security,
    "disbursement": Disbursement,
    "repayment_received": RepaymentReceived,
    "repayment_missed": RepaymentMissed,
    "notice_sent": NoticeSent,
    "notice_delivered": NoticeDelivered,
    "acceleration": Acceleration,
    "restructuring": Restructuring,
    "settlement": Settlement,
    "write_off": WriteOff,
    "monitoring_flag": MonitoringFlag,
    "fee_charged": FeeCharged,
    "prepayment": Prepayment,
    "extension": Extension,
    "reversal": Reversal,
    "correction": Correction,
    "repricing": Repricing,
}

EVENT_TYPES: frozenset[str] = frozenset(PAYLOAD_MODELS)
"""The lending events: what a lender posts about a loan."""

LEDGER_EVENT_TYPES: frozenset[str] = frozenset(LEDGER_MODELS)
"""Events the ledger itself writes about a loan's records (`data_erased`): validated like
the others, never folded into the loan's state, never accepted from a lender."""

MAX_ERRORS_REPORTED = 50
"""A payload can be wrong in many ways; past this many the rest add nothing."""


def unknown_event_type(event_type: object) -> UnknownEventType:
    """The error for a type string that is not in `EVENT_TYPES`."""
    return UnknownEventType(str(event_type), sorted(EVENT_TYPES))


def payload_model(event_type: str) -> type[PayloadModel]:
    """The pydantic model of `event_type`'s payload (for OpenAPI schemas)."""
    try:
        return PAYLOAD_MODELS.get(event_type) or LEDGER_MODELS[event_type]
    except (KeyError, TypeError):
        raise unknown_event_type(event_type) from None


def _field(error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    blamed = (error.get("ctx") or {}).get(FIELD_CONTEXT_KEY)
    if isinstance(blamed, str):
        loc.append(blamed)
    return ".".join(["payload", *loc])


def _message(error: Any) -> str:
    message = str(error["msg"])
    kind = error["type"]
    if kind in ("missing", "extra_forbidden"):
        return {
            "missing": "required field is missing",
            "extra_forbidden": "unknown field (not in the schema)",
        }[kind]
    if kind.endswith("_type") or kind in ("literal_error", "enum"):
        found = repr(error.get("input"))
        found = found if len(found) <= 40 else found[:37] + "..."
        return f"{message}; found {type(error.get('input')).__name__} {found}"
    return message


def validate_payload(event_type: str, payload: dict[str, Any]) -> BaseModel:
    """Validate `payload` against `event_type`'s schema and return the frozen model.

    Raises `UnknownEventType` for a type not in `EVENT_TYPES` and `EventValidationError`
    (with `.errors`) for a payload that does not fit.
    """
    model = payload_model(event_type)
    if not isinstance(payload, dict):
        raise EventValidationError(
            event_type,
            [
                {
                    "field": "payload",
                    "message": f"expected a JSON object, found {type(payload).__name__}",
                }
            ],
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [
            {"field": _field(e), "message": _message(e)}
            for e in exc.errors(include_url=False)[:MAX_ERRORS_REPORTED]
        ]
        raise EventValidationError(event_type, errors) from None
