"""The facts the adjusting events establish: fees, prepayments, extensions, reversals, corrections.

Kept in one frozen value, `LoanState.adjustments`, so the state model names them in one
field; the transitions that fill it are in `lending_core.state.adjustments`, the notes on
which event reversed or corrected which in `lending_core.state.corrections`. This module
imports nothing from the state package at run time (the state model imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lending_core.events import Correction, Extension, FeeCharged, Prepayment, Reversal
    from lending_core.state.model import Fact


@dataclass(frozen=True)
class ExtensionRecord:
    """An extension (展期) as applied: its fact, and the rate and method then in force.

    `exceeds_limit` names the rule of 《贷款通则》 art. 12 the extension goes beyond, if any
    (a regulatory limit: the agreement binds the parties all the same, so it is applied and
    flagged rather than refused)."""

    fact: Fact[Extension]
    annual_rate: Decimal
    repayment_method: str
    exceeds_limit: str | None = None


@dataclass(frozen=True)
class CorrectionNote:
    """What `corrections.effective` did with one reversal or correction.

    `outcome` is `"applied"` or the code of the finding the event becomes (the event is then
    recorded but changes nothing)."""

    kind: Literal["reversal", "correction"]
    event_id: str
    occurred_at: datetime
    original_event_id: str
    original_type: str
    outcome: str
    reason: str  # the event's own reason (why core banking reversed or corrected)
    detail: str = ""  # for a finding: what was expected and found
    changed: tuple[tuple[str, str, str], ...] = ()  # (field, before, after) of a correction
    on: date | None = None  # reversed_on / corrected_on

    @property
    def applied(self) -> bool:
        return self.outcome == "applied"


@dataclass(frozen=True)
class Adjustments:
    """The adjusting facts of one loan, each in loan order."""

    fees: tuple[Fact[FeeCharged], ...] = ()
    prepayments: tuple[Fact[Prepayment], ...] = ()
    extensions: tuple[ExtensionRecord, ...] = ()
    reversals: tuple[Fact[Reversal], ...] = ()
    corrections: tuple[Fact[Correction], ...] = ()


__all__ = ["Adjustments", "CorrectionNote", "ExtensionRecord"]
