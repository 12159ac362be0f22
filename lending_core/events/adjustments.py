"""Payload schemas of the events core banking posts to adjust a running loan.

Reversal (冲正) undoes a posting: the original record stays in the log and the state treats
it as never having happened. Correction (调账) restates a posting's value date, amount or
allocation, with its reason. Both name the original by its `event_id` (and, optionally, its
evidence id `<origin>#<leaf index>`); neither rewrites anything. A fee posting
(`fee_charged`) is a cost the contract lets the lender recover (提前还款违约金, 手续费, 公告费);
it exists as its own type so that a fee can be reversed like any other posting.
Prepayment (提前还款) repays principal before it falls due and re-amortises what is left by
the rule of the contract (缩短期限, 月供不变 or 期限不变, 减少月供). Extension (展期) moves the
maturity by agreement and rebuilds the schedule from its effective date.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from lending_core.events.origination import ESignature, RepaymentMethodValue
from lending_core.events.servicing import Allocation
from lending_core.events.types import (
    IsoDate,
    Money,
    PayloadModel,
    PositiveMoney,
    Rate,
    Ref,
    SourceRefs,
    Text,
)
from lending_core.money import describe_money
from lending_core.reamortise import PrepaymentRule
from lending_core.schedule import add_months

EventIdRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
"""The `event_id` of another event of the same loan (same alphabet as an event id)."""

DEFAULT_PREPAYMENT_RULE: PrepaymentRule = "lower_installment"
"""The rule when neither the prepayment nor the contract names one: the maturity agreed in
the contract stays, so a partial prepayment never changes the dates the borrower signed."""

MAX_EXTENSION_MONTHS = 360

ReversibleType = Literal["repayment_received", "disbursement", "fee_charged", "prepayment"]
"""Postings of money that a reversal (冲正) may undo."""

CorrectableType = Literal["repayment_received", "disbursement", "fee_charged"]
"""Postings whose value date or amount (or allocation) a correction (调账) may restate."""


class Reversal(PayloadModel):
    """`reversal` (冲正): the posting `original_event_id` is void; both stay in the log."""

    original_event_id: EventIdRef
    original_evidence_id: Ref | None = None
    original_type: ReversibleType
    amount: PositiveMoney  # the original's amount, as core banking reverses it
    reversed_on: IsoDate
    reason: Text
    clearing_ref: Ref | None = None  # the reversing transaction, if it moved money
    source: SourceRefs


class CorrectedFields(PayloadModel):
    """What a correction restates; fields left out keep the original's value."""

    value_date: IsoDate | None = None
    amount: PositiveMoney | None = None
    allocation: Allocation | None = None

    @model_validator(mode="after")
    def _something(self) -> CorrectedFields:
        if self.value_date is None and self.amount is None and self.allocation is None:
            raise PydanticCustomError(
                "corrected", "expected value_date, amount or allocation, found none", {}
            )
        return self


class Correction(PayloadModel):
    """`correction` (调账): the posting `original_event_id` restated, with the reason."""

    original_event_id: EventIdRef
    original_evidence_id: Ref | None = None
    original_type: CorrectableType
    corrected: CorrectedFields
    corrected_on: IsoDate
    reason_code: Literal["wrong_value_date", "wrong_amount", "wrong_allocation", "other"]
    reason: Text
    approval_ref: Ref | None = None
    source: SourceRefs

    @model_validator(mode="after")
    def _fits_the_original(self) -> Correction:
        if self.corrected.allocation is not None and self.original_type != "repayment_received":
            raise PydanticCustomError(
                "corrected",
                "expected an allocation only for a repayment_received, found one for {kind}",
                {"kind": self.original_type, "field": "corrected"},
            )
        return self


class FeeCharged(PayloadModel):
    """`fee_charged`: a cost charged to the borrower under a contract clause."""

    fee_id: Ref
    kind: Literal["prepayment_fee", "late_fee", "notice_fee", "legal_fee", "other"]
    amount: PositiveMoney
    charged_on: IsoDate
    description: Text
    clause_no: Ref
    source: SourceRefs


class Prepayment(PayloadModel):
    """`prepayment` (提前还款): principal repaid before it falls due, with its interest and fee.

    `principal + interest + fee == amount`. `interest` is what was paid for the current
    period up to `value_date`; `fee` the prepayment fee (提前还款违约金) charged and paid with it.
    `rule` overrides the contract's `prepayment_rule` for this prepayment.
    """

    kind: Literal["partial", "full"]
    amount: PositiveMoney
    value_date: IsoDate
    clearing_ref: Ref
    principal: PositiveMoney
    interest: Money = Decimal("0.00")
    fee: Money = Decimal("0.00")
    fee_clause_no: Ref | None = None
    rule: PrepaymentRule | None = None
    receipt_no: Ref | None = None
    payer: Literal["borrower", "guarantor", "other"] = "borrower"
    source: SourceRefs

    @model_validator(mode="after")
    def _parts_add_up(self) -> Prepayment:
        total = self.principal + self.interest + self.fee
        if total != self.amount:
            raise PydanticCustomError(
                "prepayment",
                "expected principal + interest + fee to add up to amount {amount}, found {total}",
                {"amount": describe_money(self.amount), "total": describe_money(total),
                 "field": "principal"},
            )
        if self.fee > 0 and self.fee_clause_no is None:
            raise PydanticCustomError(
                "prepayment", "expected fee_clause_no for a prepayment fee, found none",
                {"field": "fee_clause_no"},
            )
        return self


def months_between(first: IsoDate, last: IsoDate) -> int:
    """Whole calendar months from `first` to `last` (same-day rule of `add_months`)."""
    return (last.year - first.year) * 12 + last.month - first.month


class Extension(PayloadModel):
    """`extension` (展期): the maturity moved from `original_maturity` to `new_maturity`.

    From `effective_date` the extended `principal` is re-amortised in monthly installments
    falling due on `first_due_date`'s day, the last on `new_maturity`; rate and repayment
    method are the ones in force unless the agreement restates them.
    """

    agreement_no: Ref
    effective_date: IsoDate
    original_maturity: IsoDate
    new_maturity: IsoDate
    principal: PositiveMoney
    first_due_date: IsoDate
    annual_rate: Rate | None = None
    repayment_method: RepaymentMethodValue | None = None
    clause_no: Ref | None = None
    e_signature: ESignature
    source: SourceRefs

    @model_validator(mode="after")
    def _dates(self) -> Extension:
        if self.new_maturity <= self.original_maturity:
            raise PydanticCustomError(
                "extension", "expected new_maturity after original_maturity {old}, found {new}",
                {"old": self.original_maturity.isoformat(), "new": self.new_maturity.isoformat(),
                 "field": "new_maturity"},
            )
        if not self.effective_date < self.first_due_date <= self.new_maturity:
            raise PydanticCustomError(
                "extension",
                "expected effective_date < first_due_date <= new_maturity, found {a}, {b}, {c}",
                {"a": self.effective_date.isoformat(), "b": self.first_due_date.isoformat(),
                 "c": self.new_maturity.isoformat(), "field": "first_due_date"},
            )
        n = months_between(self.first_due_date, self.new_maturity)
        if add_months(self.first_due_date, n, self.first_due_date.day) != self.new_maturity:
            raise PydanticCustomError(
                "extension",
                "expected new_maturity on first_due_date's day of month ({day}), found {new}",
                {"day": self.first_due_date.day, "new": self.new_maturity.isoformat(),
                 "field": "new_maturity"},
            )
        if months_between(self.original_maturity, self.new_maturity) > MAX_EXTENSION_MONTHS:
            raise PydanticCustomError(
                "extension", "expected an extension of at most {max} months",
                {"max": MAX_EXTENSION_MONTHS, "field": "new_maturity"},
            )
        return self

    @property
    def term_months(self) -> int:
        """Installments from `first_due_date` to `new_maturity`, both included."""
        return months_between(self.first_due_date, self.new_maturity) + 1

    @property
    def extension_months(self) -> int:
        """How far the maturity moved, in months (贷款通则 art. 12 limits this)."""
        return months_between(self.original_maturity, self.new_maturity)


__all__ = [
    "DEFAULT_PREPAYMENT_RULE",
    "CorrectedFields",
    "Correction",
    "Extension",
    "FeeCharged",
    "Prepayment",
    "Reversal",
    "months_between",
]
