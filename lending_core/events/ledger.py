"""Payload schemas of the events the ledger writes about its own records, not about money.

`data_erased` (`cunzheng_verify.erasure`): a loan's personal data was crypto-shredded. It is
an event of the loan so that the loan's history shows it where it happened, but it states
no lending fact: the fold (`lending_core.state`) leaves the loan's state as it was, and only
the ledger may write one (`service.lending.LendingPolicy` refuses it from a lender).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from cunzheng_verify.erasure import ERASURE_TYPE, MAX_ERASED_DOCUMENTS
from lending_core.events.types import PayloadModel, Text

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class DataErased(PayloadModel):
    """`data_erased`: who erased the loan's personal data, on what basis, and what went."""

    scope: Literal["loan"]
    erased_by: Text
    basis: Text
    records: int = Field(ge=0, le=2**53 - 1)
    """How many of the loan's records lost their content."""
    records_sha256: Sha256Hex
    """`cunzheng_verify.erasure.erased_records_digest` of those records."""
    documents: list[Sha256Hex] = Field(max_length=MAX_ERASED_DOCUMENTS)
    """The documents erased with them (cited by no other loan's record)."""


LEDGER_MODELS: dict[str, type[PayloadModel]] = {ERASURE_TYPE: DataErased}

__all__ = ["LEDGER_MODELS", "DataErased"]
