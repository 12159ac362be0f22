"""Payload schemas of the events of a running loan: money out, money in, money missed, notices.

A notary issuing an execution certificate (法释〔2018〕18号) needs exactly these facts: the
disbursement proof (借据 number and clearing reference), each repayment with its value date,
each missed installment, and the demands sent to the debtor through the agreed channel with
proof that they were delivered.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from lending_core.events.origination import NoticeChannelValue
from lending_core.events.types import (
    IsoDate,
    Money,
    PayloadModel,
    PositiveMoney,
    Ref,
    SourceRefs,
    Timestamp,
)
from lending_core.money import describe_money

MAX_INSTALLMENT_NO = 1000
MAX_INSTALLMENTS_PER_PAYMENT = 360


class Disbursement(PayloadModel):
    """`disbursement`: money paid out under a loan receipt (借据)."""

    receipt_no: Ref
    amount: PositiveMoney
    account: Ref  # the borrower's account, masked or as a core-banking reference
    clearing_ref: Ref
    value_date: IsoDate
    source: SourceRefs


class Allocation(PayloadModel):
    """How a repayment was booked, in the order of 民法典 art. 561: costs, interest, principal.

    `penalty` is overdue (罚息) and compound interest; `interest` is contractual interest.
    The four parts must add up to the amount received.
    """

    costs: Money
    penalty: Money
    interest: Money
    principal: Money


class RepaymentReceived(PayloadModel):
    """`repayment_received`: money received from the borrower (or a guarantor)."""

    amount: PositiveMoney
    value_date: IsoDate
    clearing_ref: Ref
    receipt_no: Ref | None = None
    payer: Literal["borrower", "guarantor", "other"] = "borrower"
    allocation: Allocation | None = None
    installment_nos: list[int] = Field(
        default_factory=list, max_length=MAX_INSTALLMENTS_PER_PAYMENT
    )
    source: SourceRefs

    @model_validator(mode="after")
    def _allocation_adds_up(self) -> RepaymentReceived:
        a = self.allocation
        if a is not None:
            total = a.costs + a.penalty + a.interest + a.principal
            if total != self.amount:
                raise PydanticCustomError(
                    "allocation",
                    "expected allocation parts to add up to amount {amount}, found {total}",
                    {
                        "amount": describe_money(self.amount),
                        "total": describe_money(total),
                        "field": "allocation",
                    },
                )
        if any(n < 1 or n > MAX_INSTALLMENT_NO for n in self.installment_nos):
            raise PydanticCustomError(
                "installment_nos",
                "expected installment numbers 1..{max}",
                {"max": MAX_INSTALLMENT_NO, "field": "installment_nos"},
            )
        if len(set(self.installment_nos)) != len(self.installment_nos):
            raise PydanticCustomError(
                "installment_nos", "expected no repeated installment", {"field": "installment_nos"}
            )
        return self


class RepaymentMissed(PayloadModel):
    """`repayment_missed`: an installment not (fully) paid by its due date."""

    due_date: IsoDate
    installment_no: int = Field(ge=1, le=MAX_INSTALLMENT_NO)
    amount_due: PositiveMoney
    principal_due: Money | None = None
    interest_due: Money | None = None
    source: SourceRefs

    @model_validator(mode="after")
    def _parts_within_due(self) -> RepaymentMissed:
        parts = (self.principal_due or Decimal(0)) + (self.interest_due or Decimal(0))
        if parts > self.amount_due:
            raise PydanticCustomError(
                "amount_due",
                "expected principal_due + interest_due at most {due}, found {parts}",
                {
                    "due": describe_money(self.amount_due),
                    "parts": describe_money(parts),
                    "field": "principal_due",
                },
            )
        return self


NoticeKind = Literal[
    "reminder",  # 还款提醒
    "demand",  # 催收函 / 催告
    "acceleration",  # 提前到期通知
    "guarantor_demand",  # 向保证人的催告
    "restructuring",
    "settlement",  # 结清证明
]


class NoticeSent(PayloadModel):
    """`notice_sent`: a notice dispatched to a party through one channel."""

    notice_id: Ref
    kind: NoticeKind
    channel: NoticeChannelValue
    recipient_role: Literal["borrower", "guarantor", "mortgagor", "pledgor"] = "borrower"
    address: Ref  # phone, email, postal address or app account the notice was sent to
    sent_at: Timestamp
    amount_demanded: Money | None = None
    clause_no: Ref | None = None
    source: SourceRefs


class NoticeDelivered(PayloadModel):
    """`notice_delivered`: the proof that a notice reached its recipient."""

    notice_id: Ref
    channel: NoticeChannelValue
    delivered_at: Timestamp
    receipt_ref: Ref  # EMS tracking number, SMS gateway receipt, email server log id
    source: SourceRefs


__all__ = [
    "Allocation",
    "Disbursement",
    "NoticeDelivered",
    "NoticeKind",
    "NoticeSent",
    "RepaymentMissed",
    "RepaymentReceived",
]
