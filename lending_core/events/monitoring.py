"""Payload schema of what post-loan monitoring (贷后监控) concluded about a loan.

`monitoring_flag` records, as of a business date, the loan's days past due, its
five-category classification (五级分类), the early warnings raised and whether it is a
candidate for notarization, arbitration or suit. The figures come from
`lending_core.monitoring`; the record lets a case file show when the bank knew the loan had
gone bad and on what grounds, which a court weighs when it examines the bank's diligence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from lending_core.events.types import IsoDate, Money, PayloadModel, Ref, SourceRefs, Text

MAX_DAYS_PAST_DUE = 36_600
"""A hundred years: any more is a data error."""
MAX_WARNINGS = 400
MAX_DISPUTE_REASONS = 8

Classification = Literal["正常", "关注", "次级", "可疑", "损失"]
"""五级分类, by the Chinese names `lending_core.monitoring.RiskCategory` uses."""


class FlagWarning(PayloadModel):
    """One early warning (预警信号) as `lending_core.monitoring.EarlyWarning` states it."""

    kind: Literal["missed_payment", "partial_payment", "repeated_lateness"]
    installment_no: int | None = Field(default=None, ge=1, le=1000)
    due_date: IsoDate | None = None
    detail: Text


class MonitoringFlag(PayloadModel):
    """`monitoring_flag`: the monitoring rules' verdict on a loan as of `as_of`."""

    as_of: IsoDate
    classification: Classification
    previous_classification: Classification | None = None
    days_past_due: int = Field(ge=0, le=MAX_DAYS_PAST_DUE)
    overdue_amount: Money
    warnings: list[FlagWarning] = Field(default_factory=list, max_length=MAX_WARNINGS)
    dispute_candidate: bool
    dispute_reasons: list[Text] = Field(default_factory=list, max_length=MAX_DISPUTE_REASONS)
    rules_version: Ref
    source: SourceRefs
    supersedes: Ref | None = None
    """The event id of the flag this one replaces (late events changed the verdict)."""
    supersede_reason: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringFlag:
        if (self.classification == "正常") != (self.days_past_due == 0):
            raise PydanticCustomError(
                "classification",
                "expected 正常 exactly when days_past_due is 0, found {cls} with {dpd} days",
                {"cls": self.classification, "dpd": self.days_past_due,
                 "field": "classification"},
            )
        if self.dispute_reasons and not self.dispute_candidate:
            raise PydanticCustomError(
                "dispute_reasons",
                "expected no dispute_reasons unless dispute_candidate, found {n}",
                {"n": len(self.dispute_reasons), "field": "dispute_reasons"},
            )
        return self


__all__ = ["Classification", "FlagWarning", "MonitoringFlag"]
