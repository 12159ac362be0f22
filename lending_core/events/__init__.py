"""Event types of a loan and the strict schemas of their payloads.

Public surface: `EVENT_TYPES`, `validate_payload(event_type, payload)` (raises
`EventValidationError` / `UnknownEventType`), `payload_model(event_type)`,
`example_payload(event_type)`, and the payload models themselves. Money is a decimal string
with two places, dates ISO strings, rates decimal strings; unknown fields are rejected. The
schemas are part of the evidence format: change them only by adding a new version.
"""

from lending_core.events.adjustments import (
    CorrectedFields,
    Correction,
    Extension,
    FeeCharged,
    Prepayment,
    Reversal,
)
from lending_core.events.examples import example_payload, example_story
from lending_core.events.ledger import DataErased
from lending_core.events.monitoring import FlagWarning, MonitoringFlag
from lending_core.events.origination import (
    Collateral,
    CompoundClause,
    ContractSigned,
    CreditDecision,
    DisputeResolution,
    ESignature,
    NoticeChannel,
    Party,
    PenaltyClause,
    RepaymentMethod,
    Security,
    ServiceAddress,
    ServiceChannel,
)
from lending_core.events.pricing import Pricing, Repricing, RepricingRule, priced_rate
from lending_core.events.registry import (
    EVENT_TYPES,
    LEDGER_EVENT_TYPES,
    PAYLOAD_MODELS,
    payload_model,
    validate_payload,
)
from lending_core.events.resolution import (
    Acceleration,
    AmountBreakdown,
    Restructuring,
    Settlement,
    Waiver,
    WriteOff,
)
from lending_core.events.servicing import (
    Allocation,
    Disbursement,
    NoticeDelivered,
    NoticeSent,
    RepaymentMissed,
    RepaymentReceived,
)
from lending_core.events.types import (
    CreditCode,
    IsoDate,
    Money,
    PayloadModel,
    Rate,
    SourceRefs,
    Timestamp,
    credit_code_problem,
    format_money,
    parse_money,
    parse_rate,
)

__all__ = [
    "EVENT_TYPES",
    "LEDGER_EVENT_TYPES",
    "PAYLOAD_MODELS",
    "Acceleration",
    "Allocation",
    "AmountBreakdown",
    "Collateral",
    "CompoundClause",
    "ContractSigned",
    "CorrectedFields",
    "Correction",
    "CreditCode",
    "CreditDecision",
    "DataErased",
    "Disbursement",
    "DisputeResolution",
    "ESignature",
    "Extension",
    "FeeCharged",
    "FlagWarning",
    "IsoDate",
    "Money",
    "MonitoringFlag",
    "NoticeChannel",
    "NoticeDelivered",
    "NoticeSent",
    "Party",
    "PayloadModel",
    "PenaltyClause",
    "Prepayment",
    "Pricing",
    "Rate",
    "RepaymentMethod",
    "RepaymentMissed",
    "RepaymentReceived",
    "Repricing",
    "RepricingRule",
    "Restructuring",
    "Reversal",
    "Security",
    "ServiceAddress",
    "ServiceChannel",
    "Settlement",
    "SourceRefs",
    "Timestamp",
    "Waiver",
    "WriteOff",
    "credit_code_problem",
    "example_payload",
    "example_story",
    "format_money",
    "parse_money",
    "parse_rate",
    "payload_model",
    "priced_rate",
    "validate_payload",
]
