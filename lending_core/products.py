"""The product catalogue: what each loan product allows (amount, term, rate, repayment).

The catalogue is data, not code: `data/products.json` ships with the package and a bank
may point `load_catalogue` at its own file. Parsing is strict (unknown fields, float money
and inverted ranges are refused with the field named), and `Product.check_terms` says why a
contract's terms do not fit a product. Money and rates use the event wire types, so a
catalogue file reads like an event payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from lending_core.errors import CatalogueError, ProductTermsError, UnknownProduct
from lending_core.events.origination import MAX_TERM_MONTHS, RepaymentMethod
from lending_core.events.types import (
    FIELD_CONTEXT_KEY,
    Money,
    PayloadModel,
    Rate,
    Text,
)
from lending_core.money import format_payload_money

MAX_CATALOGUE_BYTES = 1_000_000
MAX_PRODUCTS = 200
PENALTY_MARKUP_MAX = Decimal(1)
"""银发〔2003〕251号: +30 % to +50 % for overdue, up to +100 % for misuse of funds."""

_CODE_PATTERN = r"^[A-Z][A-Z0-9_]{1,31}$"


class Channel(StrEnum):
    """How a product is sold and serviced (the case study's three modes)."""

    ONLINE = "online"  # 纯线上
    OFFLINE_ASSISTED = "offline-assisted"  # 线下辅助线上
    ONLINE_ASSISTED = "online-assisted"  # 线上辅助线下 (好企看看)


class MoneyRange(PayloadModel):
    """An inclusive amount range in CNY."""

    min: Money
    max: Money

    @model_validator(mode="after")
    def _ordered(self) -> MoneyRange:
        if self.min <= 0 or self.min > self.max:
            raise PydanticCustomError(
                "range",
                "expected 0 < min <= max, found min {lo}, max {hi}",
                {"lo": format_payload_money(self.min), "hi": format_payload_money(self.max)},
            )
        return self


class TermRange(PayloadModel):
    """An inclusive term range in months."""

    min: int = Field(ge=1, le=MAX_TERM_MONTHS)
    max: int = Field(ge=1, le=MAX_TERM_MONTHS)

    @model_validator(mode="after")
    def _ordered(self) -> TermRange:
        if self.min > self.max:
            raise PydanticCustomError(
                "range",
                "expected min <= max, found min {lo}, max {hi}",
                {"lo": self.min, "hi": self.max},
            )
        return self


class RateRange(PayloadModel):
    """An inclusive annual rate range, as fractions."""

    min: Rate
    max: Rate

    @model_validator(mode="after")
    def _ordered(self) -> RateRange:
        if self.min > self.max:
            raise PydanticCustomError(
                "range",
                "expected min <= max, found min {lo}, max {hi}",
                {"lo": str(self.min), "hi": str(self.max)},
            )
        return self


class Product(PayloadModel):
    """One loan product and the terms it allows."""

    code: Annotated[str, Field(pattern=_CODE_PATTERN)]
    name: Text
    name_en: Text
    family: Text
    data_basis: Text
    security: Literal["unsecured", "mortgage", "guarantee", "receivables-pledge"]
    channel: Annotated[Channel, Strict(False)]
    amount: MoneyRange
    term_months: TermRange
    annual_rate: RateRange
    repayment_methods: Annotated[
        tuple[Annotated[RepaymentMethod, Strict(False)], ...], Strict(False)
    ] = Field(min_length=1, max_length=len(RepaymentMethod))
    penalty_markup: Rate
    compound_interest_allowed: bool

    @model_validator(mode="after")
    def _sane(self) -> Product:
        if len(set(self.repayment_methods)) != len(self.repayment_methods):
            raise PydanticCustomError(
                "repayment_methods", "expected no repeated method", {"field": "repayment_methods"}
            )
        if self.penalty_markup > PENALTY_MARKUP_MAX:
            raise PydanticCustomError(
                "penalty_markup",
                "expected a markup at most {max}, found {found}",
                {
                    "max": str(PENALTY_MARKUP_MAX),
                    "found": str(self.penalty_markup),
                    "field": "penalty_markup",
                },
            )
        return self

    def violations(
        self,
        amount: Decimal,
        term_months: int,
        annual_rate: Decimal,
        repayment_method: str,
        *,
        penalty_markup: Decimal | None = None,
        compound_interest: bool | None = None,
    ) -> list[str]:
        """Each way the given terms fall outside this product, as text; empty when they fit."""
        found: list[str] = []
        a, t, r = self.amount, self.term_months, self.annual_rate
        if not a.min <= amount <= a.max:
            found.append(
                f"amount: expected {format_payload_money(a.min)}..{format_payload_money(a.max)}, "
                f"found {format_payload_money(amount)}"
            )
        if not t.min <= term_months <= t.max:
            found.append(f"term_months: expected {t.min}..{t.max}, found {term_months}")
        if not r.min <= annual_rate <= r.max:
            found.append(f"annual_rate: expected {r.min}..{r.max}, found {annual_rate}")
        allowed = [m.value for m in self.repayment_methods]
        if str(repayment_method) not in allowed:
            found.append(
                f"repayment_method: expected one of {', '.join(allowed)}, found {repayment_method}"
            )
        if penalty_markup is not None and penalty_markup > self.penalty_markup:
            found.append(
                f"penalty markup: expected at most {self.penalty_markup}, found {penalty_markup}"
            )
        if compound_interest and not self.compound_interest_allowed:
            found.append("compound interest: expected not allowed by the product, found allowed")
        return found

    def check_terms(
        self,
        amount: Decimal,
        term_months: int,
        annual_rate: Decimal,
        repayment_method: str,
        *,
        penalty_markup: Decimal | None = None,
        compound_interest: bool | None = None,
    ) -> None:
        """Raise `ProductTermsError` naming every term outside this product."""
        found = self.violations(
            amount,
            term_months,
            annual_rate,
            repayment_method,
            penalty_markup=penalty_markup,
            compound_interest=compound_interest,
        )
        if found:
            raise ProductTermsError(self.code, found)


class _CatalogueFile(PayloadModel):
    schema_: Literal["cunzheng.products/v1"] = Field(alias="schema")
    version: Text
    currency: Literal["CNY"]
    note: Text | None = None
    products: Annotated[tuple[Product, ...], Strict(False)] = Field(
        min_length=1, max_length=MAX_PRODUCTS
    )


@dataclass(frozen=True)
class Catalogue:
    """The products on offer, looked up by code."""

    version: str
    products: tuple[Product, ...]
    _by_code: Mapping[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, Product] = {}
        for product in self.products:
            if product.code in by_code:
                raise CatalogueError(f"duplicate product code {product.code!r}")
            by_code[product.code] = product
        object.__setattr__(self, "_by_code", MappingProxyType(by_code))

    def get(self, code: str) -> Product:
        """The product with `code`; raises `UnknownProduct` naming the known codes."""
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownProduct(code, list(self._by_code)) from None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def __len__(self) -> int:
        return len(self.products)


def _field(error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    blamed = (error.get("ctx") or {}).get(FIELD_CONTEXT_KEY)
    if isinstance(blamed, str):
        loc.append(blamed)
    return ".".join(loc) or "(root)"


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Build a `Catalogue` from decoded JSON; raises `CatalogueError` with each field named."""
    try:
        parsed = _CatalogueFile.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": _field(e), "message": str(e["msg"])} for e in exc.errors(include_url=False)
        ]
        raise CatalogueError(
            f"malformed product catalogue: {errors[0]['field']}: {errors[0]['message']}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors,
        ) from None
    codes = [p.code for p in parsed.products]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise CatalogueError(
            f"malformed product catalogue: expected unique product codes, found duplicates "
            f"{', '.join(duplicates)}",
            [{"field": "products", "message": f"duplicate code {c}"} for c in duplicates],
        )
    return Catalogue(version=parsed.version, products=parsed.products)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and parse a catalogue file; by default the one shipped in `lending_core/data`."""
    where = str(path) if path is not None else "lending_core/data/products.json"
    try:
        if path is None:
            raw = resources.files("lending_core.data").joinpath("products.json").read_bytes()
        else:
            raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogueError(f"cannot read product catalogue {where}: {exc.strerror}") from exc
    if len(raw) > MAX_CATALOGUE_BYTES:
        raise CatalogueError(
            f"product catalogue {where} too large: expected at most {MAX_CATALOGUE_BYTES} "
            f"bytes, found {len(raw)}"
        )
    try:
        # Plain json: a JSON number where money belongs stays a float, which the money type
        # refuses (parse_float=Decimal would let 1000.00 pass as if it were a string).
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"product catalogue {where} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogueError(
            f"product catalogue {where}: expected a JSON object, found {type(data).__name__}"
        )
    return parse_catalogue(data)


__all__ = [
    "Catalogue",
    "Channel",
    "MoneyRange",
    "Product",
    "RateRange",
    "TermRange",
    "load_catalogue",
    "parse_catalogue",
]
