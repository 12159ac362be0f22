"""Payload schemas of floating-rate pricing: the contract's pricing block and `repricing`.

A floating-rate contract is priced as an LPR plus a spread (LPR + 加点) and resets on
repricing dates by a rule (`lending_core.lpr.RepricingRule`). The contract's optional
`pricing` block says which LPR, which spread and which rule; a contract without it is at a
fixed rate, as every contract was before. A `repricing` event records one reset: the date
the new rate applies from, the LPR it was set on (and the date whose LPR that is), the
spread and the new rate. A judge redoes the sum from the event alone: new rate = LPR +
spread; the LPR figure is checked against the published table (`lending_core.lpr`) when the
loan is folded (`lending_core.state.pricing`).

Spreads are whole basis points (`spread_bp`, 1 bp = 0.01 %), a JSON integer that may be
negative (mortgages priced below the five-year LPR).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from lending_core.events.types import IsoDate, PayloadModel, Rate, Ref, SourceRefs
from lending_core.lpr import RepricingRule, Tenor

MAX_SPREAD_BP = 2000
"""A spread beyond ±20 percentage points is a typo, not a price."""

BASIS_POINT = Decimal("0.0001")

RepricingRuleValue = Annotated[RepricingRule, Strict(False)]
SpreadBp = Annotated[int, Field(ge=-MAX_SPREAD_BP, le=MAX_SPREAD_BP)]


def priced_rate(lpr: Decimal, spread_bp: int) -> Decimal:
    """LPR + spread, as a rate (``priced_rate(Decimal("0.0345"), 90) == Decimal("0.0435")``)."""
    return lpr + spread_bp * BASIS_POINT


def _check_sum(rate: Decimal, lpr: Decimal, spread_bp: int, what: str, field: str) -> None:
    expected = priced_rate(lpr, spread_bp)
    if rate != expected:
        raise PydanticCustomError(
            "pricing",
            "expected {what} = LPR {lpr} + {spread} bp = {expected}, found {found}",
            {"what": what, "lpr": format(lpr, "f"), "spread": spread_bp,
             "expected": format(expected.normalize(), "f"), "found": format(rate, "f"),
             "field": field},
        )


class Pricing(PayloadModel):
    """`contract_signed.pricing`: LPR + spread, reset by `repricing` (absent: fixed rate).

    `base_lpr` is the LPR the contract rate was set on, in force on `lpr_date` (usually the
    publication day before signing); the contract's `annual_rate` must equal
    `base_lpr` + `spread_bp`."""

    kind: Literal["lpr"]
    tenor: Tenor
    base_lpr: Rate
    lpr_date: IsoDate
    spread_bp: SpreadBp
    repricing: RepricingRuleValue
    clause_no: Ref


class Repricing(PayloadModel):
    """`repricing`: a floating rate reset (重定价) on `effective_date`, from which day on
    `new_rate` applies to interest, penalty interest (罚息) and compound interest (复利)."""

    contract_no: Ref
    effective_date: IsoDate
    tenor: Tenor
    lpr: Rate
    lpr_date: IsoDate
    spread_bp: SpreadBp
    new_rate: Rate
    previous_rate: Rate | None = None
    clause_no: Ref
    source: SourceRefs

    @model_validator(mode="after")
    def _rate_adds_up(self) -> Repricing:
        _check_sum(self.new_rate, self.lpr, self.spread_bp, "new_rate", "new_rate")
        if self.lpr_date > self.effective_date:
            raise PydanticCustomError(
                "lpr_date",
                "expected lpr_date on or before effective_date {effective}, found {found}",
                {"effective": self.effective_date.isoformat(),
                 "found": self.lpr_date.isoformat(), "field": "lpr_date"},
            )
        return self


def check_contract_pricing(annual_rate: Decimal, pricing: Pricing | None) -> None:
    """For `ContractSigned`: a floating contract's rate must be its base LPR + spread."""
    if pricing is not None:
        _check_sum(annual_rate, pricing.base_lpr, pricing.spread_bp, "annual_rate", "annual_rate")


__all__ = [
    "BASIS_POINT",
    "MAX_SPREAD_BP",
    "Pricing",
    "Repricing",
    "RepricingRule",
    "RepricingRuleValue",
    "Tenor",
    "check_contract_pricing",
    "priced_rate",
]
