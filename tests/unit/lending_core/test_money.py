"""Money helpers: the fen, half-up rounding, the two-place wire form, the 360-day year."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lending_core.errors import LendingError, MoneyFormatError
from lending_core.money import (
    DAYS_PER_YEAR,
    FEN,
    MAX_MONEY,
    daily_rate,
    format_money,
    monthly_rate,
    parse_money,
    round_fen,
)


def test_constants() -> None:
    assert FEN == Decimal("0.01")
    assert DAYS_PER_YEAR == 360


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.005", "0.01"),  # half up, not banker's rounding (which would give 0.00)
        ("0.015", "0.02"),
        ("0.025", "0.03"),  # banker's rounding would give 0.02
        ("0.0049999", "0.00"),
        ("362.499", "362.50"),
        ("-0.005", "-0.01"),  # half away from zero
        ("8530.990036", "8530.99"),
    ],
)
def test_round_fen_is_half_up(amount: str, expected: str) -> None:
    assert round_fen(Decimal(amount)) == Decimal(expected)
    assert str(round_fen(Decimal(amount))) == expected


def test_round_fen_rejects_non_finite() -> None:
    with pytest.raises(MoneyFormatError):
        round_fen(Decimal("NaN"))


def test_rates() -> None:
    assert daily_rate(Decimal("0.036")) == Decimal("0.0001")
    assert monthly_rate(Decimal("0.0435")) == Decimal("0.003625")


@pytest.mark.parametrize("text", ["12345.60", "0.00", "0.01", "999999999999.99"])
def test_parse_and_format_round_trip(text: str) -> None:
    assert format_money(parse_money(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "12345.6",
        "12345",
        "12345.600",
        "1e3",
        "+1.00",
        "01.00",
        "1,000.00",
        " 1.00",
        "-1.00",
        "1000000000000.00",
        "NaN",
        "",
        "1.0O",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(MoneyFormatError) as err:
        parse_money(text)
    assert isinstance(err.value, LendingError)
    assert "found" in err.value.diagnostics()


def test_parse_negative_only_when_allowed() -> None:
    assert parse_money("-3.20", allow_negative=True) == Decimal("-3.20")


def test_parse_rejects_non_string() -> None:
    with pytest.raises(MoneyFormatError):
        parse_money(12.5)  # type: ignore[arg-type]


def test_format_refuses_to_round_silently() -> None:
    with pytest.raises(MoneyFormatError, match="rounded to the fen"):
        format_money(Decimal("1.005"))
    assert format_money(Decimal(5)) == "5.00"
    assert format_money(Decimal("-0.00")) == "0.00"
    with pytest.raises(MoneyFormatError):
        format_money(MAX_MONEY + FEN)
    with pytest.raises(MoneyFormatError):
        format_money(1.5)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=99_999_999_999_999))
def test_any_fen_amount_round_trips(fen: int) -> None:
    amount = Decimal(fen) * FEN
    assert parse_money(format_money(amount)) == amount


def test_payload_money_is_formatted_and_parsed_here() -> None:
    from lending_core import money
    from lending_core.events import types

    # one home: the event types use this module's functions and grammar
    assert types.format_money is money.format_payload_money
    assert money.PAYLOAD_MONEY_PATTERN == r"^(0|[1-9][0-9]{0,14})\.[0-9]{2}$"
    assert money.format_payload_money(money.MAX_PAYLOAD_MONEY) == "999999999999999.99"
    assert money.parse_payload_money("999999999999999.99") == money.MAX_PAYLOAD_MONEY
    with pytest.raises(MoneyFormatError):
        money.format_payload_money(money.MAX_PAYLOAD_MONEY + FEN)
    # a payload amount is never rounded on the way out (the simulator used to round half-even)
    with pytest.raises(MoneyFormatError, match="rounded to the fen"):
        money.format_payload_money(Decimal("0.025"))
    for text in ("1000000000000000.00", "-1.00", "1.0", "01.00", "1e3"):
        with pytest.raises(MoneyFormatError):
            money.parse_payload_money(text)


def test_messages_name_any_amount() -> None:
    from lending_core.money import MAX_PAYLOAD_MONEY, describe_money

    # a refused or inconsistent amount is still shown: negative, too large, as it is
    assert describe_money(Decimal("-12.30")) == "-12.30"
    assert describe_money(MAX_PAYLOAD_MONEY * 2) == "1999999999999999.98"
    assert describe_money(Decimal(5)) == "5.00"
    assert describe_money(Decimal("0.005")) == "0.01"  # ROUNDING, half up
