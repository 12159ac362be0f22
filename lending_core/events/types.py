"""Wire types shared by every event payload: money, rates, dates, times, credit codes, refs.

Event records are evidence: the bytes a lending service posts are hashed and kept verbatim,
so these types refuse to guess. Money is a decimal string with exactly two places
(`"12345.60"`), never a JSON number, because a float cannot say 0.10 and an integer says
nothing about cents. Rates are decimal strings (`"0.0435"` is 4.35 % a year). Dates are ISO
`YYYY-MM-DD`; instants are RFC 3339 with an offset and are normalised to UTC. The unified
social credit code (统一社会信用代码, GB 32100-2015) is checked down to its check character.
Every payload model is strict, frozen and forbids unknown fields.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from lending_core.errors import MoneyFormatError
from lending_core.money import (
    PAYLOAD_MONEY_PATTERN,
    format_payload_money,
    parse_payload_money,
)

format_money = format_payload_money
"""The wire form of an amount in an event payload (`lending_core.money`)."""

RATE_MAX = Decimal(1)
"""Rates and markups are fractions (0.0435 = 4.35 %); anything above 100 % is a typo."""

RATE_MAX_PLACES = 8
REF_MAX_LENGTH = 128
TEXT_MAX_LENGTH = 512
SOURCE_MAX_REFS = 16

_RATE_RE = re.compile(rf"^(0|[1-9][0-9]*)(\.[0-9]{{1,{RATE_MAX_PLACES}}})?$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIMESTAMP_RE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
# Printable, no control characters, no leading or trailing whitespace.
_REF_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""GB 32100-2015 alphabet: digits and upper-case letters without I, O, Z, S, V."""

CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _found(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return text if isinstance(value, str) else f"{type(value).__name__} {text}"


def parse_money(value: Any) -> Decimal:
    """A money string with two places as `Decimal` (`lending_core.money.parse_payload_money`);
    raises a pydantic error otherwise."""
    # A Decimal from Python callers passes only if its plain form is a valid wire string.
    text = format(value, "f") if isinstance(value, Decimal) else value
    try:
        return parse_payload_money(text)
    except MoneyFormatError:
        raise PydanticCustomError(
            "money",
            'expected a decimal string with exactly two places like "12345.60", found {found}',
            {"found": _found(value)},
        ) from None


def parse_rate(value: Any) -> Decimal:
    """A rate string (a fraction, `"0.0435"`) between 0 and `RATE_MAX` as `Decimal`."""
    if isinstance(value, Decimal):
        text: Any = format(value, "f")
    else:
        text = value
    if not isinstance(text, str) or not _RATE_RE.match(text):
        raise PydanticCustomError(
            "rate",
            'expected a decimal string like "0.0435" (a fraction, at most {places} places), '
            "found {found}",
            {"places": RATE_MAX_PLACES, "found": _found(value)},
        )
    try:
        rate = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise PydanticCustomError(
            "rate", "not a decimal: {found}", {"found": _found(value)}
        ) from exc
    if rate > RATE_MAX:
        raise PydanticCustomError(
            "rate",
            "expected a fraction at most {max} (0.0435 means 4.35 %), found {found}",
            {"max": str(RATE_MAX), "found": _found(value)},
        )
    return rate


def parse_date(value: Any) -> date:
    """An ISO `YYYY-MM-DD` string as `date`."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "date",
        'expected an ISO date string like "2024-03-15", found {found}',
        {"found": _found(value)},
    )


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 string with an offset as an aware UTC `datetime`."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, str) and _TIMESTAMP_RE.match(value):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            pass
    raise PydanticCustomError(
        "timestamp",
        'expected an RFC 3339 time with an offset like "2024-03-15T09:30:00+08:00", found {found}',
        {"found": _found(value)},
    )


def format_timestamp(value: datetime) -> str:
    """UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, the ledger's normal form."""
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def credit_code_problem(code: str) -> str | None:
    """Why `code` is not a valid unified social credit code, or None when it is."""
    if len(code) != 18:
        return f"expected 18 characters, found {len(code)}"
    bad = [c for c in code if c not in CREDIT_CODE_CHARSET]
    if bad:
        return (
            "expected digits and upper-case letters other than I, O, Z, S, V; "
            f"found {''.join(dict.fromkeys(bad))!r}"
        )
    if not code[2:8].isdigit():
        return (
            f"expected a 6-digit administrative division code at positions 3-8, found {code[2:8]!r}"
        )
    total = sum(
        CREDIT_CODE_CHARSET.index(c) * w
        for c, w in zip(code[:17], CREDIT_CODE_WEIGHTS, strict=True)
    )
    expected = CREDIT_CODE_CHARSET[(31 - total % 31) % 31]
    if code[17] != expected:
        return f"check character mismatch: expected {expected!r}, found {code[17]!r}"
    return None


def _check_credit_code(value: str) -> str:
    problem = credit_code_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "credit_code", "invalid unified social credit code: {problem}", {"problem": problem}
        )
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PAYLOAD_MONEY_PATTERN,
                    "examples": ["12345.60"]}),
]
Rate = Annotated[
    Decimal,
    BeforeValidator(parse_rate),
    PlainSerializer(lambda r: format(r, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": _RATE_RE.pattern, "examples": ["0.0435"]}),
]
IsoDate = Annotated[
    date,
    BeforeValidator(parse_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date"}),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Ref = Annotated[
    str, StringConstraints(min_length=1, max_length=REF_MAX_LENGTH, pattern=_REF_PATTERN)
]
"""A reference number or short label: contract no., clearing id, clause no. (may be Chinese)."""

Text = Annotated[
    str, StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=_REF_PATTERN)
]
"""A name or address."""

CreditCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32),
    AfterValidator(_check_credit_code),
    WithJsonSchema({"type": "string", "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}$"}),
]


FIELD_CONTEXT_KEY = "field"
"""A model-level check puts the name of the field it blames under this key of its error's
context, so the error is reported at `payload.<path>.<field>` rather than at the model."""


class PayloadModel(BaseModel):
    """Base of every payload and payload part: strict, frozen, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SourceRefs(PayloadModel):
    """Where a fact came from: the producing system and its reference numbers.

    The event record's top-level `source` names the posting system; this one, inside the
    payload, holds the per-fact ids (core-banking transaction, loan account, clearing id), so
    a court examining provenance (在线诉讼规则 art. 18) can match each fact to a system record.
    """

    system: Ref
    refs: dict[Annotated[str, StringConstraints(pattern=_KEY_PATTERN)], Ref] = Field(
        min_length=1, max_length=SOURCE_MAX_REFS
    )


def must_be_positive(value: Decimal) -> Decimal:
    """For amounts that cannot be zero (a disbursement, a repayment)."""
    if value <= 0:
        raise PydanticCustomError(
            "positive",
            "expected an amount above 0.00, found {found}",
            {"found": format_money(value)},
        )
    return value


PositiveMoney = Annotated[Money, AfterValidator(must_be_positive)]
