"""The product catalogue: the shipped data, lookups, term checks, and malformed files."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lending_core.errors import CatalogueError, LendingError, ProductTermsError, UnknownProduct
from lending_core.events import RepaymentMethod
from lending_core.products import Catalogue, Channel, load_catalogue, parse_catalogue

D = Decimal

EXPECTED = {
    "HQ_TAX_CREDIT": ("好企税信贷", Channel.ONLINE),
    "HQ_TAX_MORTGAGE": ("好企税抵贷", Channel.ONLINE),
    "HQ_PREMIUM_HOUSING": ("好企优房贷", Channel.OFFLINE_ASSISTED),
    "HQ_SUPERMARKET": ("好企商超贷", Channel.OFFLINE_ASSISTED),
    "LQ_GOV_PROCUREMENT": ("链企政采贷", Channel.ONLINE),
    "LQ_SUPPLY_CHAIN": ("链企贷", Channel.ONLINE_ASSISTED),
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def raw() -> dict[str, Any]:
    text = resources.files("lending_core.data").joinpath("products.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_shipped_catalogue_has_the_six_products(catalogue: Catalogue) -> None:
    assert set(catalogue.codes) == set(EXPECTED)
    assert len(catalogue) == 6
    for code, (name, channel) in EXPECTED.items():
        product = catalogue.get(code)
        assert product.name == name
        assert product.channel is channel
        assert code in catalogue


def test_products_are_sane(catalogue: Catalogue) -> None:
    for product in catalogue:
        assert D("0") < product.amount.min <= product.amount.max
        assert 1 <= product.term_months.min <= product.term_months.max
        assert D("0") < product.annual_rate.min <= product.annual_rate.max < D("0.24")
        assert D("0") <= product.penalty_markup <= D("0.5")
        assert product.repayment_methods
        assert all(isinstance(m, RepaymentMethod) for m in product.repayment_methods)


def test_catalogue_file_ships_as_package_data() -> None:
    assert resources.files("lending_core.data").joinpath("products.json").is_file()


def test_loading_from_a_path_equals_the_default(tmp_path: Path, raw: dict[str, Any]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), "utf-8")
    assert load_catalogue(path) == load_catalogue()
    assert load_catalogue(str(path)).version == raw["version"]


def test_unknown_code_names_the_known_ones(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownProduct) as info:
        catalogue.get("HQ_NOPE")
    assert isinstance(info.value, LendingError)
    assert "HQ_NOPE" in str(info.value) and "HQ_TAX_CREDIT" in str(info.value)


def test_terms_that_fit(catalogue: Catalogue) -> None:
    product = catalogue.get("HQ_TAX_CREDIT")
    product.check_terms(
        D("300000.00"),
        12,
        D("0.0435"),
        "equal_installment",
        penalty_markup=D("0.5"),
        compound_interest=True,
    )
    assert product.violations(D("10000.00"), 1, D("0.0345"), RepaymentMethod.INTEREST_ONLY) == []
    assert product.violations(D("3000000.00"), 36, D("0.0800"), "equal_principal") == []


def test_terms_that_do_not_fit_name_every_violation(catalogue: Catalogue) -> None:
    product = catalogue.get("LQ_GOV_PROCUREMENT")
    with pytest.raises(ProductTermsError) as info:
        product.check_terms(
            D("6000000.00"),
            13,
            D("0.10"),
            "equal_installment",
            penalty_markup=D("0.5"),
            compound_interest=True,
        )
    found = info.value.violations
    assert [v.split(":")[0] for v in found] == [
        "amount",
        "term_months",
        "annual_rate",
        "repayment_method",
        "penalty markup",
        "compound interest",
    ]
    assert "expected 10000.00..5000000.00, found 6000000.00" in found[0]
    assert info.value.product_code == "LQ_GOV_PROCUREMENT"


def _expect_error(data: dict[str, Any], field: str) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(data)
    assert field in {e["field"] for e in info.value.errors}, info.value.errors
    assert field in info.value.diagnostics()
    return info.value


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("amount", "min"), 10000.0, "products.0.amount.min"),
        (("amount", "max"), 3000000, "products.0.amount.max"),
        (("amount", "min"), "10000", "products.0.amount.min"),
        (("amount",), {"min": "5.00", "max": "1.00"}, "products.0.amount"),
        (("term_months",), {"min": 12, "max": 6}, "products.0.term_months"),
        (("term_months", "min"), "1", "products.0.term_months.min"),
        (("annual_rate",), {"min": "0.08", "max": "0.04"}, "products.0.annual_rate"),
        (("annual_rate", "min"), 0.04, "products.0.annual_rate.min"),
        (("repayment_methods",), ["balloon"], "products.0.repayment_methods.0"),
        (("repayment_methods",), [], "products.0.repayment_methods"),
        (
            ("repayment_methods",),
            ["interest_only", "interest_only"],
            "products.0.repayment_methods",
        ),
        (("channel",), "branch", "products.0.channel"),
        (("penalty_markup",), "2", "products.0.penalty_markup"),
        (("compound_interest_allowed",), "yes", "products.0.compound_interest_allowed"),
        (("code",), "hq tax", "products.0.code"),
        (("colour",), "red", "products.0.colour"),
    ],
)
def test_malformed_product_is_refused_with_the_field_named(
    raw: dict[str, Any], path: tuple[str, ...], value: Any, field: str
) -> None:
    data = copy.deepcopy(raw)
    node = data["products"][0]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    _expect_error(data, field)


def test_missing_product_field_is_refused(raw: dict[str, Any]) -> None:
    del raw["products"][2]["penalty_markup"]
    _expect_error(raw, "products.2.penalty_markup")


def test_wrong_schema_and_empty_catalogue(raw: dict[str, Any]) -> None:
    _expect_error({**raw, "schema": "cunzheng.products/v2"}, "schema")
    _expect_error({**raw, "products": []}, "products")
    _expect_error({**raw, "currency": "USD"}, "currency")


def test_duplicate_codes_are_refused(raw: dict[str, Any]) -> None:
    raw["products"].append(copy.deepcopy(raw["products"][0]))
    err = _expect_error(raw, "products")
    assert "HQ_TAX_CREDIT" in str(err)


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"{not json", "not UTF-8 JSON"), (b"\xff\xfe", "not UTF-8 JSON"), (b"[]", "JSON object")],
)
def test_unreadable_files(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CatalogueError, match=words):
        load_catalogue(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "absent.json")


def test_products_are_frozen(catalogue: Catalogue) -> None:
    product = catalogue.get("HQ_TAX_CREDIT")
    with pytest.raises(ValueError, match="frozen"):
        product.code = "X"  # type: ignore[misc]
