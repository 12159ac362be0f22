"""The loan prime rate (贷款市场报价利率, LPR) history and the rate in force on a date.

Floating-rate loans in China are priced as an LPR plus a spread (加点, in basis points) and
reset on repricing dates (重定价日). The figures are public: since the LPR reform
(中国人民银行公告〔2019〕第15号) the National Interbank Funding Center publishes a one-year and
a five-year-and-over LPR each month on the 20th (the next working day when the 20th is not
one). They ship as data, `data/lpr.json`, one row per publication; the table states the last
date it knows (`known_through`) and says nothing about later dates, so a new month is a new
row, never a code change. The data file names its source and must be checked against the
NIFC/PBoC publications before it is relied on.

Rules stated here and used everywhere:

* The LPR in force on a date is the last figure published on or before that date
  (`lpr_on`). Before the reform's first publication (2019-08-20) there is no LPR.
* A repricing rule (`RepricingRule`) names the dates the rate resets on: each anniversary
  of the first value date (起息日对应日; 29 February falls on 28 February), or each 1 January.

Pure: the table is read once from the package data; no clock, no network.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from lending_core.errors import LendingError

__all__ = [
    "LPR_REFORM_DATE",
    "LprError",
    "LprPublication",
    "LprTable",
    "LprUnknown",
    "RepricingRule",
    "Tenor",
    "is_repricing_date",
    "load_lpr_table",
    "lpr_in_force",
    "lpr_on",
    "repricing_dates",
]

Tenor = Literal["1y", "5y"]
"""The two published tenors: one year, and five years and over (5年期以上)."""

LPR_REFORM_DATE = date(2019, 8, 20)
"""The first publication under the reformed LPR mechanism."""

LPR_SCHEMA = "cunzheng.lpr/v1"
MAX_PUBLICATIONS = 2000
"""More rows than a century of monthly publications: a larger file is not this table."""


class LprError(LendingError):
    """The LPR table is malformed (a bad row, dates out of order)."""


class LprUnknown(LprError):
    """The table does not say what the LPR was on a date (before the reform, or after the
    table's `known_through`)."""


class RepricingRule(StrEnum):
    """When a floating rate resets (重定价周期)."""

    ANNIVERSARY = "anniversary"
    """Each anniversary of the first value date (每满一年的起息日对应日)."""
    JANUARY_1 = "january_1"
    """Each 1 January (每年1月1日)."""

    @property
    def label_zh(self) -> str:
        return {"anniversary": "每年起息日对应日", "january_1": "每年1月1日"}[self.value]


@dataclass(frozen=True, slots=True)
class LprPublication:
    """One monthly publication: both tenors, as decimal fractions (0.0385 is 3.85 %)."""

    published_on: date
    one_year: Decimal
    five_year: Decimal

    def rate(self, tenor: Tenor) -> Decimal:
        if tenor == "1y":
            return self.one_year
        if tenor == "5y":
            return self.five_year
        raise LprError(f"expected tenor 1y or 5y, found {tenor!r}")


@dataclass(frozen=True, slots=True)
class LprTable:
    """The publications in date order and the last date the table knows."""

    publications: tuple[LprPublication, ...]
    known_through: date

    def __post_init__(self) -> None:
        if not self.publications:
            raise LprError("expected at least one LPR publication, found none")
        days = [p.published_on for p in self.publications]
        if any(b <= a for a, b in pairwise(days)):
            raise LprError("expected LPR publications in strictly increasing date order")
        if self.known_through < days[-1]:
            raise LprError(
                f"expected known_through on or after the last publication {days[-1]}, "
                f"found {self.known_through}"
            )

    def covers(self, day: date) -> bool:
        """True when the table knows the LPR in force on `day`."""
        return self.publications[0].published_on <= day <= self.known_through

    def in_force(self, day: date, *, carry_forward: bool = False) -> LprPublication:
        """The publication in force on `day` (the last one on or before it).

        Raises `LprUnknown` before the first publication and, unless `carry_forward`, after
        `known_through` (with `carry_forward` the last known figures are assumed to hold:
        for simulations, never for evidence)."""
        first = self.publications[0].published_on
        if day < first:
            raise LprUnknown(f"expected a date on or after the first LPR publication {first}, "
                             f"found {day}")
        if day > self.known_through and not carry_forward:
            raise LprUnknown(f"expected a date the LPR table knows (up to {self.known_through}), "
                             f"found {day}; append the newer publications to the table")
        lo, hi = 0, len(self.publications)
        while hi - lo > 1:  # the last publication on or before `day`
            mid = (lo + hi) // 2
            if self.publications[mid].published_on <= day:
                lo = mid
            else:
                hi = mid
        return self.publications[lo]


def _parse(raw: Any, where: str) -> LprTable:
    if not isinstance(raw, dict) or raw.get("schema") != LPR_SCHEMA:
        raise LprError(f"{where}: expected a JSON object with schema {LPR_SCHEMA!r}")
    rows = raw.get("publications")
    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_PUBLICATIONS:
        raise LprError(f"{where}: expected 1..{MAX_PUBLICATIONS} publications")
    out: list[LprPublication] = []
    for i, row in enumerate(rows):
        try:
            rates = [Decimal(row[k]) for k in ("1y", "5y")]
            if not all(isinstance(row[k], str) for k in ("1y", "5y")) or not all(
                Decimal(0) < r < Decimal(1) for r in rates
            ):
                raise ValueError("rates must be decimal strings in (0, 1)")
            out.append(LprPublication(date.fromisoformat(row["published_on"]), *rates))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise LprError(f"{where}: publications[{i}] is malformed: {exc}") from None
    try:
        known = date.fromisoformat(raw["known_through"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LprError(f"{where}: expected known_through as an ISO date: {exc}") from None
    return LprTable(tuple(out), known)


@lru_cache(maxsize=1)
def _packaged() -> LprTable:
    raw = resources.files("lending_core.data").joinpath("lpr.json").read_bytes()
    return _parse(json.loads(raw), "lending_core/data/lpr.json")


def load_lpr_table(path: str | Path | None = None) -> LprTable:
    """The table shipped with the package, or the one at `path` (same format)."""
    if path is None:
        return _packaged()
    try:
        raw = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise LprError(f"{path}: cannot read the LPR table: {exc}") from None
    return _parse(raw, str(path))


def lpr_in_force(day: date, *, carry_forward: bool = False) -> LprPublication:
    """The publication in force on `day`, from the packaged table (see `LprTable.in_force`)."""
    return _packaged().in_force(day, carry_forward=carry_forward)


def lpr_on(day: date, tenor: Tenor, *, carry_forward: bool = False) -> Decimal:
    """The `tenor` LPR in force on `day`:
    ``lpr_on(date(2024, 1, 1), "1y") == Decimal("0.0345")``."""
    return lpr_in_force(day, carry_forward=carry_forward).rate(tenor)


def repricing_dates(
    rule: RepricingRule | str, anchor: date, until: date
) -> tuple[date, ...]:
    """The repricing dates of a loan whose first value date is `anchor`, up to `until`.

    Anniversaries are `anchor`'s month and day in later years (29 February -> 28 February
    in a common year);
    `january_1` gives every 1 January after `anchor`. The anchor itself never reprices."""
    rule = RepricingRule(rule)
    out: list[date] = []
    year = anchor.year + 1
    while True:
        if rule is RepricingRule.JANUARY_1:
            day = date(year, 1, 1)
        else:
            last = calendar.monthrange(year, anchor.month)[1]
            day = date(year, anchor.month, min(anchor.day, last))
        if day > until:
            return tuple(out)
        out.append(day)
        year += 1


def is_repricing_date(rule: RepricingRule | str, anchor: date, day: date) -> bool:
    """True when `day` is one of the rule's repricing dates for a loan anchored on `anchor`."""
    return day > anchor and day in repricing_dates(rule, anchor, day)
