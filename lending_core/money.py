"""Money as `Decimal`: the fen, the one rounding rule, the day-count base, and the wire form.

Every amount in the lending domain is a `Decimal` rounded to the fen (0.01 yuan) with
ROUND_HALF_UP (四舍五入), the rule Chinese banks and courts use when they state amounts. Rates
are `Decimal` fractions (``Decimal("0.0435")`` is 4.35 % a year); a daily rate is the annual
rate divided by 360 (`DAYS_PER_YEAR`, the 人民银行 convention "日利率 = 年利率 / 360") and a
monthly rate is the annual rate divided by 12. On the wire (event payloads, case files) money
is a string with exactly two places, ``"12345.60"``, never a JSON number. Money is formatted
and parsed here and nowhere else: `parse_money`/`format_money` for the computations (at most
`MAX_MONEY`), `parse_payload_money`/`format_payload_money` for what event payloads state (at
most `MAX_PAYLOAD_MONEY`). Formatting never rounds; rounding is `round_fen`'s, with
`ROUNDING`. This module is pure: no I/O, and it never touches the global decimal context.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lending_core.errors import MoneyFormatError

__all__ = [
    "DAYS_PER_YEAR",
    "FEN",
    "MAX_MONEY",
    "MAX_MONEY_TEXT_LENGTH",
    "MAX_PAYLOAD_MONEY",
    "MONEY_MAX_INTEGER_DIGITS",
    "MONTHS_PER_YEAR",
    "PAYLOAD_MONEY_PATTERN",
    "ROUNDING",
    "ZERO",
    "daily_rate",
    "describe_money",
    "display_money",
    "format_money",
    "format_payload_money",
    "monthly_rate",
    "parse_money",
    "parse_payload_money",
    "round_fen",
]

FEN = Decimal("0.01")
"""The smallest unit of the yuan that amounts are stated in."""

ZERO = Decimal("0.00")

ROUNDING = ROUND_HALF_UP
"""The one rounding rule for money: half up (四舍五入) to the fen."""

DAYS_PER_YEAR = 360
"""Day-count base: daily rate = annual rate / 360 (人民银行《人民币利率管理规定》 practice)."""

MONTHS_PER_YEAR = 12
"""Monthly rate = annual rate / 12."""

MAX_MONEY = Decimal("999999999999.99")
"""Largest amount accepted at the boundary (just under one trillion yuan)."""

MAX_MONEY_TEXT_LENGTH = 20
"""Longest money string accepted by `parse_money` (sign, 12 digits, point, 2 places)."""

MONEY_MAX_INTEGER_DIGITS = 15
"""Event payloads state amounts of up to 15 integer digits: up to 999 trillion yuan, far above
any loan, far below 2^53 cents."""

MAX_PAYLOAD_MONEY = Decimal("9" * MONEY_MAX_INTEGER_DIGITS + ".99")
"""Largest amount an event payload may state (`MONEY_MAX_INTEGER_DIGITS` digits)."""

PAYLOAD_MONEY_PATTERN = rf"^(0|[1-9][0-9]{{0,{MONEY_MAX_INTEGER_DIGITS - 1}}})\.[0-9]{{2}}$"
"""The grammar of an amount in an event payload (also its JSON Schema `pattern`)."""

_MONEY_TEXT = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]{2}")
_PAYLOAD_MONEY_TEXT = re.compile(PAYLOAD_MONEY_PATTERN)


def round_fen(amount: Decimal) -> Decimal:
    """Round an amount to the fen, half up: ``round_fen(Decimal("0.005")) == Decimal("0.01")``."""
    if not amount.is_finite():
        raise MoneyFormatError(f"expected a finite amount, found {amount!r}")
    return amount.quantize(FEN, rounding=ROUNDING)


def daily_rate(annual_rate: Decimal) -> Decimal:
    """The unrounded daily rate, annual / 360. Round only the amounts it produces."""
    return annual_rate / DAYS_PER_YEAR


def monthly_rate(annual_rate: Decimal) -> Decimal:
    """The unrounded monthly rate, annual / 12."""
    return annual_rate / MONTHS_PER_YEAR


def parse_money(text: str, *, allow_negative: bool = False) -> Decimal:
    """Parse ``"12345.60"``: digits, a point and exactly two places, at most `MAX_MONEY`.

    Rejects exponents, thousands separators, leading zeros, a leading ``+`` and any other
    number of places, so that the same amount always has the same string.
    """
    if not isinstance(text, str):
        raise MoneyFormatError(f"expected a money string like '12345.60', found {text!r}")
    if len(text) > MAX_MONEY_TEXT_LENGTH:
        raise MoneyFormatError(
            f"expected a money string of at most {MAX_MONEY_TEXT_LENGTH} characters, "
            f"found {len(text)}"
        )
    if not _MONEY_TEXT.fullmatch(text):
        raise MoneyFormatError(
            f"expected a money string with exactly two places like '12345.60', found {text!r}"
        )
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes it
        raise MoneyFormatError(f"expected a decimal amount, found {text!r}") from exc
    _check_range(amount, allow_negative=allow_negative)
    return amount


def parse_payload_money(text: str) -> Decimal:
    """Parse an amount as an event payload states it (`PAYLOAD_MONEY_PATTERN`): non-negative,
    exactly two places, at most `MONEY_MAX_INTEGER_DIGITS` integer digits.

    Logged records are read with this grammar for as long as the log lives, so it never
    narrows; note that `$` lets one trailing newline through (``"1.00\\n"``), as it always has.
    """
    if not isinstance(text, str) or not _PAYLOAD_MONEY_TEXT.match(text):
        raise MoneyFormatError(
            f"expected a decimal string with exactly two places like '12345.60', found {text!r}"
        )
    return Decimal(text)


def format_money(
    amount: Decimal, *, allow_negative: bool = False, limit: Decimal = MAX_MONEY
) -> str:
    """Format an amount already at the fen as ``"12345.60"``.

    Raises rather than rounds when the amount has sub-fen digits: rounding belongs to the
    computation (`round_fen`), not to the display.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise MoneyFormatError(f"expected a finite Decimal amount, found {amount!r}")
    if amount != round_fen(amount):
        raise MoneyFormatError(f"expected an amount rounded to the fen, found {amount}")
    _check_range(amount, allow_negative=allow_negative, limit=limit)
    text = f"{round_fen(amount):.2f}"
    return "0.00" if text == "-0.00" else text


def format_payload_money(amount: Decimal) -> str:
    """Format an amount for an event payload: as `format_money`, up to `MAX_PAYLOAD_MONEY`."""
    return format_money(amount, limit=MAX_PAYLOAD_MONEY)


def describe_money(amount: Decimal) -> str:
    """An amount as a message or a finding names it: at the fen by `ROUNDING`, sign kept, no
    bound (an amount a check refuses, or a negative balance, must still be shown)."""
    return f"{round_fen(amount):f}"


def display_money(amount: Decimal | str) -> str:
    """An amount for people, grouped by thousands (``"1,234,567.80"``), as the documents and
    the case file print it: at the fen by `ROUNDING`, sign kept."""
    return f"{round_fen(Decimal(str(amount))):,.2f}"


def _check_range(amount: Decimal, *, allow_negative: bool, limit: Decimal = MAX_MONEY) -> None:
    if amount < 0 and not allow_negative:
        raise MoneyFormatError(f"expected a non-negative amount, found {amount}")
    if abs(amount) > limit:
        raise MoneyFormatError(f"expected an amount of at most {limit}, found {amount}")
