"""Payload schemas of the events that open a loan: credit decision, contract, security.

These carry what a notary or court checks first: that the bank did its due diligence
(`credit_decision`), who agreed to what and how they signed (`contract_signed`: parties with
their unified social credit codes, terms, the penalty and compound-interest clauses, the
dispute-resolution clause, the agreed service address and channels, the e-signature), and
what secures the loan (`security`: a guarantee, mortgage or pledge).
"""

from __future__ import annotations

from calendar import monthrange
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, Strict, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cunzheng_verify.wire import VENUES, Venue
from lending_core.events.pricing import Pricing, check_contract_pricing
from lending_core.events.types import (
    CreditCode,
    IsoDate,
    Money,
    PayloadModel,
    PositiveMoney,
    Rate,
    Ref,
    SourceRefs,
    Text,
    Timestamp,
)
from lending_core.reamortise import PrepaymentRule  # one rule name for payloads and arithmetic
from lending_core.schedule import RepaymentMethod  # one enum for payloads and arithmetic

MAX_TERM_MONTHS = 360
MAX_PARTIES = 16
MAX_SERVICE_CHANNELS = 8
MAX_IDENTITY_CHECKS = 16
CREDIT_SCORE_MAX = 1000


class NoticeChannel(StrEnum):
    """Ways a notice reaches a party; a contract names the ones the parties agreed to."""

    SMS = "sms"
    EMAIL = "email"
    EMS = "ems"  # registered post (EMS), the courts' usual proof of service
    APP = "app"  # the bank's mobile app / online banking inbox


# Strict mode would demand enum instances; the wire carries their string values.
RepaymentMethodValue = Annotated[RepaymentMethod, Strict(False)]
NoticeChannelValue = Annotated[NoticeChannel, Strict(False)]


class CreditDecision(PayloadModel):
    """`credit_decision`: the bank's approval (or decline) with score, policy and limit."""

    decision_id: Ref
    outcome: Literal["approved", "declined"]
    product_code: Ref
    applicant_credit_code: CreditCode
    score: int = Field(ge=0, le=CREDIT_SCORE_MAX)
    policy_version: Ref
    model_version: Ref | None = None
    limit: Money | None = Field(default=None, validate_default=True)
    decided_at: Timestamp
    valid_until: IsoDate | None = None
    source: SourceRefs

    @field_validator("limit")
    @classmethod
    def _limit_iff_approved(cls, value: Money | None, info: ValidationInfo) -> Money | None:
        outcome = info.data.get("outcome")
        if outcome == "approved" and (value is None or value <= 0):
            raise PydanticCustomError(
                "limit",
                "expected a limit above 0.00 for an approval, found {found}",
                {"found": "none" if value is None else str(value)},
            )
        if outcome == "declined" and value is not None:
            raise PydanticCustomError("limit", "expected no limit for a decline, found one", {})
        return value


class Party(PayloadModel):
    """A party to a contract. Organisations carry their unified social credit code.

    A natural person (for example a guarantor) is named by an `identity_ref` into the bank's
    KYC records, never by an ID-card number: records are hashed into a permanent log and the
    PIPL asks for the least personal data.
    """

    role: Literal["lender", "borrower", "guarantor", "mortgagor", "pledgor"]
    kind: Literal["organization", "individual"]
    name: Text
    credit_code: CreditCode | None = Field(default=None, validate_default=True)
    identity_ref: Ref | None = Field(default=None, validate_default=True)

    @field_validator("credit_code")
    @classmethod
    def _credit_code_for_organizations(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "organization" and value is None:
            raise PydanticCustomError(
                "missing", "expected the unified social credit code of an organization", {}
            )
        if kind == "individual" and value is not None:
            raise PydanticCustomError(
                "unexpected", "expected no credit code for an individual (use identity_ref)", {}
            )
        return value

    @field_validator("identity_ref")
    @classmethod
    def _identity_for_individuals(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "individual" and value is None:
            raise PydanticCustomError(
                "missing", "expected a KYC identity_ref for an individual", {}
            )
        if kind == "organization" and value is not None:
            raise PydanticCustomError(
                "unexpected", "expected no identity_ref for an organization", {}
            )
        return value


class PenaltyClause(PayloadModel):
    """罚息: overdue interest at the contract rate plus `markup` (0.5 means +50 %)."""

    markup: Rate
    clause_no: Ref


class CompoundClause(PayloadModel):
    """复利: whether unpaid interest itself bears interest, and where the contract says so."""

    allowed: bool
    clause_no: Ref


# Venue and VENUES (imported): the forums a contract may name for its disputes, one list in
# the wire format (cunzheng_verify.wire) shared with the evidence package


class DisputeResolution(PayloadModel):
    """The agreed forum: a court, an arbitration commission, or a notary (赋强公证)."""

    venue: Venue
    institution: Text
    clause_no: Ref


class ServiceChannel(PayloadModel):
    """One agreed way of serving notices, with its address (phone, email, app account)."""

    channel: NoticeChannelValue
    address: Text


class ServiceAddress(PayloadModel):
    """送达地址确认: the address and channels the borrower agreed to be served at."""

    address: Text
    channels: list[ServiceChannel] = Field(min_length=1, max_length=MAX_SERVICE_CHANNELS)
    clause_no: Ref


class ESignature(PayloadModel):
    """The borrower's electronic signature: certificate, time, and identity checks done."""

    certificate_serial: Ref
    signed_at: Timestamp
    identity_check_refs: list[Ref] = Field(min_length=1, max_length=MAX_IDENTITY_CHECKS)


class ContractSigned(PayloadModel):
    """`contract_signed`: the loan contract as signed (amounts in CNY)."""

    contract_no: Ref
    decision_id: Ref | None = None
    product_code: Ref
    parties: list[Party] = Field(min_length=2, max_length=MAX_PARTIES)
    amount: PositiveMoney
    term_months: int = Field(ge=1, le=MAX_TERM_MONTHS)
    annual_rate: Rate
    repayment_method: RepaymentMethodValue
    first_due_date: IsoDate | None = None
    due_day: int | None = Field(default=None, ge=1, le=31)
    # 提前还款: how a partial prepayment re-amortises (None: events.adjustments' default).
    prepayment_rule: PrepaymentRule | None = None
    pricing: Pricing | None = None  # LPR + spread (floating rate); absent: a fixed rate
    penalty: PenaltyClause
    compound_interest: CompoundClause
    dispute_resolution: DisputeResolution
    service_address: ServiceAddress
    e_signature: ESignature
    source: SourceRefs

    @field_validator("parties")
    @classmethod
    def _one_lender_one_borrower(cls, parties: list[Party]) -> list[Party]:
        for role in ("lender", "borrower"):
            found = sum(1 for p in parties if p.role == role)
            if found != 1:
                raise PydanticCustomError(
                    "parties",
                    "expected exactly one {role}, found {found}",
                    {"role": role, "found": found},
                )
        for p in parties:
            if p.role in ("lender", "borrower") and p.kind != "organization":
                raise PydanticCustomError(
                    "parties",
                    "expected the {role} to be an organization, found an individual",
                    {"role": p.role},
                )
        return parties

    @model_validator(mode="after")
    def _due_date_or_day(self) -> ContractSigned:
        if self.first_due_date is None and self.due_day is None:
            raise PydanticCustomError(
                "schedule",
                "expected first_due_date or due_day (or both), found neither",
                {"field": "first_due_date"},
            )
        first, day = self.first_due_date, self.due_day
        # A due day past the month's end falls on the last day of that month (31 -> Feb 28).
        if (
            first is not None
            and day is not None
            and first.day != min(day, monthrange(first.year, first.month)[1])
        ):
            raise PydanticCustomError(
                "schedule",
                "expected first_due_date on due_day {day}, found {date}",
                {"day": day, "date": first.isoformat(), "field": "due_day"},
            )
        return self

    @model_validator(mode="after")
    def _floating_rate_adds_up(self) -> ContractSigned:
        check_contract_pricing(self.annual_rate, self.pricing)
        return self

    def party(self, role: str) -> Party:
        """The (single) lender or borrower."""
        return next(p for p in self.parties if p.role == role)


class Collateral(PayloadModel):
    """A mortgaged or pledged asset, described without personal data."""

    description: Text
    registration_ref: Ref | None = None  # e.g. 不动产登记证明号
    appraised_value: Money | None = None


class Security(PayloadModel):
    """`security`: a guarantee (保证), mortgage (抵押) or pledge (质押) securing the loan."""

    security_id: Ref
    kind: Literal["guarantee", "mortgage", "pledge"]
    contract_no: Ref
    provider: Party
    secured_amount: PositiveMoney
    liability: Literal["joint_and_several", "general"] | None = Field(
        default=None, validate_default=True
    )
    collateral: Collateral | None = Field(default=None, validate_default=True)
    signed_at: Timestamp
    source: SourceRefs

    @field_validator("liability")
    @classmethod
    def _liability_for_guarantees(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "guarantee" and value is None:
            raise PydanticCustomError(
                "missing", "expected joint_and_several or general for a guarantee", {}
            )
        if kind in ("mortgage", "pledge") and value is not None:
            raise PydanticCustomError(
                "unexpected", "expected no liability for a {kind}", {"kind": kind}
            )
        return value

    @field_validator("collateral")
    @classmethod
    def _collateral_for_charges(
        cls, value: Collateral | None, info: ValidationInfo
    ) -> Collateral | None:
        kind = info.data.get("kind")
        if kind in ("mortgage", "pledge") and value is None:
            raise PydanticCustomError(
                "missing", "expected the collateral of a {kind}", {"kind": kind}
            )
        if kind == "guarantee" and value is not None:
            raise PydanticCustomError("unexpected", "expected no collateral for a guarantee", {})
        return value


__all__ = [
    "CREDIT_SCORE_MAX",
    "MAX_TERM_MONTHS",
    "VENUES",
    "Collateral",
    "CompoundClause",
    "ContractSigned",
    "CreditDecision",
    "DisputeResolution",
    "ESignature",
    "NoticeChannel",
    "NoticeChannelValue",
    "Party",
    "PenaltyClause",
    "RepaymentMethod",
    "RepaymentMethodValue",
    "Security",
    "ServiceAddress",
    "ServiceChannel",
    "Venue",
]
