"""Payload schemas of the events that end or reshape a loan.

Acceleration (提前到期) declares the whole debt due under a contract clause; restructuring
(重组) replaces the terms by agreement; settlement (结清) closes the loan, recording any
waiver; write-off (核销) takes the loan off the books while the claim survives (账销案存),
so recoveries may still be received after it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from lending_core.events.origination import MAX_TERM_MONTHS, ESignature, RepaymentMethodValue
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


class AmountBreakdown(PayloadModel):
    """The parts of a sum declared due."""

    principal: Money
    interest: Money
    penalty: Money
    costs: Money


class Acceleration(PayloadModel):
    """`acceleration`: the whole outstanding debt declared due on `accelerated_on`."""

    accelerated_on: IsoDate
    clause_no: Ref
    amount_declared_due: PositiveMoney
    breakdown: AmountBreakdown | None = None
    reason: Text
    notice_id: Ref | None = None
    source: SourceRefs

    @model_validator(mode="after")
    def _breakdown_adds_up(self) -> Acceleration:
        b = self.breakdown
        if b is not None:
            total = b.principal + b.interest + b.penalty + b.costs
            if total != self.amount_declared_due:
                raise PydanticCustomError(
                    "breakdown",
                    "expected breakdown to add up to amount_declared_due {due}, found {total}",
                    {
                        "due": describe_money(self.amount_declared_due),
                        "total": describe_money(total),
                        "field": "breakdown",
                    },
                )
        return self


class Restructuring(PayloadModel):
    """`restructuring`: new terms agreed for the outstanding principal (展期 / 重组)."""

    agreement_no: Ref
    effective_date: IsoDate
    principal: PositiveMoney
    term_months: int = Field(ge=1, le=MAX_TERM_MONTHS)
    annual_rate: Rate
    repayment_method: RepaymentMethodValue
    first_due_date: IsoDate
    clause_no: Ref | None = None
    e_signature: ESignature
    source: SourceRefs


class Waiver(PayloadModel):
    """What the bank forgave at settlement, and who approved it."""

    principal: Money
    interest: Money
    penalty: Money
    approval_ref: Ref

    @model_validator(mode="after")
    def _something_waived(self) -> Waiver:
        if self.principal + self.interest + self.penalty <= Decimal(0):
            raise PydanticCustomError("waiver", "expected a waiver above 0.00, found 0.00", {})
        return self


class Settlement(PayloadModel):
    """`settlement`: the loan is closed (结清) on `settled_on`."""

    settled_on: IsoDate
    reason: Literal["repaid", "waiver", "court_judgment", "arbitration_award", "enforcement"]
    waiver: Waiver | None = None
    source: SourceRefs

    @model_validator(mode="after")
    def _waiver_iff_reason(self) -> Settlement:
        if self.reason == "waiver" and self.waiver is None:
            raise PydanticCustomError(
                "waiver", "expected a waiver when reason is 'waiver'", {"field": "waiver"}
            )
        return self


class WriteOff(PayloadModel):
    """`write_off`: the loan taken off the books (核销); the claim itself survives."""

    written_off_on: IsoDate
    principal: PositiveMoney
    interest: Money | None = None
    approval_ref: Ref
    source: SourceRefs


__all__ = [
    "Acceleration",
    "AmountBreakdown",
    "Restructuring",
    "Settlement",
    "Waiver",
    "WriteOff",
]
