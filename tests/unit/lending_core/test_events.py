"""Event payload schemas: every type's example passes, and every kind of bad input is
refused with the field named (`payload.<dotted path>`)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lending_core.errors import EventValidationError, LendingError, UnknownEventType
from lending_core.events import (
    EVENT_TYPES,
    credit_code_problem,
    example_payload,
    example_story,
    format_money,
    parse_money,
    payload_model,
    validate_payload,
)
from lending_core.events.examples import example_types
from lending_core.events.types import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS

ALL_TYPES = sorted(EVENT_TYPES)

# One money field per type (dotted path inside the payload); notice_delivered has none.
MONEY_FIELD = {
    "credit_decision": "limit",
    "contract_signed": "amount",
    "security": "secured_amount",
    "disbursement": "amount",
    "repayment_received": "amount",
    "repayment_missed": "amount_due",
    "notice_sent": "amount_demanded",
    "acceleration": "amount_declared_due",
    "restructuring": "principal",
    "settlement": "waiver.principal",
    "write_off": "principal",
    "monitoring_flag": "overdue_amount",
    "fee_charged": "amount",
    "prepayment": "principal",
    "extension": "principal",
    "reversal": "amount",
    "correction": "corrected.amount",
}

# One required, type-specific field per type.
REQUIRED_FIELD = {
    "credit_decision": "policy_version",
    "contract_signed": "dispute_resolution",
    "security": "provider",
    "disbursement": "receipt_no",
    "repayment_received": "value_date",
    "repayment_missed": "installment_no",
    "notice_sent": "channel",
    "notice_delivered": "receipt_ref",
    "acceleration": "clause_no",
    "restructuring": "e_signature",
    "settlement": "settled_on",
    "write_off": "approval_ref",
    "monitoring_flag": "rules_version",
    "fee_charged": "clause_no",
    "prepayment": "clearing_ref",
    "extension": "new_maturity",
    "reversal": "original_event_id",
    "correction": "reason_code",
    "repricing": "lpr_date",
}

# Where each type carries a unified social credit code.
CREDIT_CODE_FIELD = {
    "credit_decision": "applicant_credit_code",
    "contract_signed": "parties.1.credit_code",
    "security": "provider.credit_code",
}


def _set(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _errors(event_type: str, payload: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(EventValidationError) as info:
        validate_payload(event_type, payload)
    assert info.value.errors, "an EventValidationError must list its errors"
    for e in info.value.errors:
        assert e["field"] == "payload" or e["field"].startswith("payload."), e
    return info.value.errors


def _fields(errors: list[dict[str, str]]) -> set[str]:
    return {e["field"] for e in errors}


def test_event_types_are_the_documented_strings() -> None:
    assert EVENT_TYPES == {
        "credit_decision",
        "contract_signed",
        "security",
        "disbursement",
        "repayment_received",
        "repayment_missed",
        "notice_sent",
        "notice_delivered",
        "acceleration",
        "restructuring",
        "settlement",
        "write_off",
        "monitoring_flag",
        "fee_charged",
        "prepayment",
        "extension",
        "reversal",
        "correction",
        "repricing",
    }
    assert example_types() == EVENT_TYPES
    assert set(MONEY_FIELD) | {"notice_delivered", "repricing"} == EVENT_TYPES
    assert set(REQUIRED_FIELD) == EVENT_TYPES


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_is_valid_and_round_trips_through_json(event_type: str) -> None:
    model = validate_payload(event_type, example_payload(event_type))
    wire = json.loads(json.dumps(model.model_dump(mode="json")))
    assert validate_payload(event_type, wire) == model


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_payload_is_a_fresh_copy(event_type: str) -> None:
    first = example_payload(event_type)
    first["source"]["refs"].clear()
    assert example_payload(event_type)["source"]["refs"]


@pytest.mark.parametrize("event_type", sorted(MONEY_FIELD))
@pytest.mark.parametrize(
    "bad",
    [
        12345.6,
        12345,
        1.0,
        "12345.6",
        "12345.600",
        "1e3",
        "-1.00",
        " 1.00",
        "1,000.00",
        "01.00",
        True,
        [],
        {},
    ],
)
def test_money_must_be_a_two_place_string(event_type: str, bad: Any) -> None:
    payload = example_payload(event_type)
    path = MONEY_FIELD[event_type]
    _set(payload, path, bad)
    errors = _errors(event_type, payload)
    named = [e for e in errors if e["field"] == f"payload.{path}"]
    assert named, errors
    if bad is not None:
        assert "two places" in named[0]["message"]


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_unknown_field_is_rejected(event_type: str) -> None:
    payload = example_payload(event_type)
    payload["remarks"] = "x"
    errors = _errors(event_type, payload)
    assert errors == [{"field": "payload.remarks", "message": "unknown field (not in the schema)"}]


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_unknown_nested_field_is_rejected(event_type: str) -> None:
    payload = example_payload(event_type)
    payload["source"]["extra"] = 1
    assert _fields(_errors(event_type, payload)) == {"payload.source.extra"}


@pytest.mark.parametrize("event_type", ALL_TYPES)
@pytest.mark.parametrize("which", ["source", "specific"])
def test_missing_field_is_rejected(event_type: str, which: str) -> None:
    payload = example_payload(event_type)
    name = "source" if which == "source" else REQUIRED_FIELD[event_type]
    del payload[name]
    errors = _errors(event_type, payload)
    assert {"field": f"payload.{name}", "message": "required field is missing"} in errors


@pytest.mark.parametrize("event_type", sorted(CREDIT_CODE_FIELD))
@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91500103MA5U7N4Q03", "check character mismatch"),
        ("91500103MA5U7N4Q0", "expected 18 characters"),
        ("91500103MA5U7N4QO2", "upper-case letters other than"),  # letter O
        ("91500103ma5u7n4q02", "upper-case letters other than"),
        ("9150A103MA5U7N4Q02", "administrative division"),
    ],
)
def test_bad_credit_code_is_rejected_with_the_field_named(
    event_type: str, code: str, why: str
) -> None:
    payload = example_payload(event_type)
    path = CREDIT_CODE_FIELD[event_type]
    _set(payload, path, code)
    errors = _errors(event_type, payload)
    assert _fields(errors) == {f"payload.{path}"}
    assert why in errors[0]["message"]


def test_real_credit_codes_pass_the_check() -> None:
    for code in (
        "911000001000013428",
        "91440300708461136T",
        "91500000202869177Y",
        "91350100M000100Y43",
    ):
        assert credit_code_problem(code) is None, code


_BODY = st.tuples(
    st.sampled_from(CREDIT_CODE_CHARSET),
    st.sampled_from(CREDIT_CODE_CHARSET),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=CREDIT_CODE_CHARSET, min_size=9, max_size=9),
).map("".join)


def _check_char(body: str) -> str:
    total = sum(CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(body, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


@given(_BODY, st.sampled_from(CREDIT_CODE_CHARSET))
def test_credit_code_check_character_property(body: str, other: str) -> None:
    good = _check_char(body)
    assert credit_code_problem(body + good) is None
    if other != good:
        assert "check character" in (credit_code_problem(body + other) or "")


@given(_BODY, st.integers(0, 16), st.sampled_from(CREDIT_CODE_CHARSET))
def test_any_single_substitution_is_caught(body: str, pos: int, char: str) -> None:
    code = body + _check_char(body)
    changed = code[:pos] + char + code[pos + 1 :]
    if changed != code:
        assert credit_code_problem(changed) is not None


def test_unknown_type_names_the_known_types() -> None:
    with pytest.raises(UnknownEventType) as info:
        validate_payload("loan_sold", {})
    err = info.value
    assert isinstance(err, EventValidationError) and isinstance(err, LendingError)
    assert err.errors[0]["field"] == "type"
    for t in EVENT_TYPES:
        assert t in str(err)
    with pytest.raises(UnknownEventType):
        example_payload("loan_sold")
    with pytest.raises(UnknownEventType):
        payload_model("loan_sold")


@pytest.mark.parametrize("payload", [[], "x", None, 1])
def test_payload_must_be_an_object(payload: Any) -> None:
    with pytest.raises(EventValidationError) as info:
        validate_payload("disbursement", payload)
    assert info.value.errors[0]["field"] == "payload"


@pytest.mark.parametrize(
    "bad", ["2024-02-30", "2024/03/05", "20240305", "2024-3-5", 20240305, "2024-03-05T00:00:00Z"]
)
def test_dates_are_iso_date_strings(bad: Any) -> None:
    payload = example_payload("disbursement")
    payload["value_date"] = bad
    errors = _errors("disbursement", payload)
    assert _fields(errors) == {"payload.value_date"}
    assert "ISO date" in errors[0]["message"]


@pytest.mark.parametrize(
    "bad", ["2024-03-02T14:03:11", "2024-03-02 14:03:11+08:00", "2024-03-02", 1709359391]
)
def test_instants_need_an_offset(bad: Any) -> None:
    payload = example_payload("contract_signed")
    payload["e_signature"]["signed_at"] = bad
    assert _fields(_errors("contract_signed", payload)) == {"payload.e_signature.signed_at"}


def test_instants_are_normalised_to_utc() -> None:
    model = validate_payload("contract_signed", example_payload("contract_signed"))
    assert model.model_dump(mode="json")["e_signature"]["signed_at"] == "2024-03-02T06:03:11Z"


@pytest.mark.parametrize("bad", [0.0435, "4.35", "1.5", "-0.01", ".04", "0.123456789", "abc"])
def test_rates_are_decimal_fraction_strings(bad: Any) -> None:
    payload = example_payload("contract_signed")
    payload["annual_rate"] = bad
    assert _fields(_errors("contract_signed", payload)) == {"payload.annual_rate"}


@pytest.mark.parametrize("bad", [12.0, "12", True])
def test_integers_are_strict(bad: Any) -> None:
    payload = example_payload("contract_signed")
    payload["term_months"] = bad
    assert _fields(_errors("contract_signed", payload)) == {"payload.term_months"}


@pytest.mark.parametrize("bad", ["monthly", "EQUAL_INSTALLMENT", 1])
def test_repayment_method_is_one_of_three(bad: Any) -> None:
    payload = example_payload("contract_signed")
    payload["repayment_method"] = bad
    assert _fields(_errors("contract_signed", payload)) == {"payload.repayment_method"}


# Cross-field rules: (type, mutation, field named)
def _m(path: str, value: Any) -> Any:
    return lambda p: _set(p, path, value)


def _drop(path: str) -> Any:
    def go(p: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = p
        for part in parents:
            node = node[part]
        del node[last]

    return go


CROSS_FIELD = [
    ("credit_decision", _drop("limit"), "payload.limit"),
    ("credit_decision", _m("limit", "0.00"), "payload.limit"),
    ("credit_decision", _m("outcome", "declined"), "payload.limit"),
    ("credit_decision", _m("score", 1001), "payload.score"),
    ("contract_signed", _m("parties.1.kind", "individual"), "payload.parties.1.credit_code"),
    ("contract_signed", _m("parties.0.role", "borrower"), "payload.parties"),
    ("contract_signed", _m("parties", []), "payload.parties"),
    ("contract_signed", _m("amount", "0.00"), "payload.amount"),
    ("contract_signed", _m("term_months", 0), "payload.term_months"),
    ("contract_signed", _m("due_day", 21), "payload.due_day"),
    ("contract_signed", _m("due_day", 32), "payload.due_day"),
    (
        "contract_signed",
        _m("dispute_resolution.venue", "mediation"),
        "payload.dispute_resolution.venue",
    ),
    ("contract_signed", _m("service_address.channels", []), "payload.service_address.channels"),
    (
        "contract_signed",
        _m("service_address.channels.0.channel", "fax"),
        "payload.service_address.channels.0.channel",
    ),
    (
        "contract_signed",
        _m("e_signature.identity_check_refs", []),
        "payload.e_signature.identity_check_refs",
    ),
    ("contract_signed", _m("contract_no", ""), "payload.contract_no"),
    ("contract_signed", _m("contract_no", " padded"), "payload.contract_no"),
    ("contract_signed", _m("penalty.markup", "1.5"), "payload.penalty.markup"),
    ("security", _drop("liability"), "payload.liability"),
    ("security", _m("kind", "mortgage"), "payload.liability"),
    ("repayment_received", _m("allocation.principal", "1.00"), "payload.allocation"),
    ("repayment_received", _m("installment_nos", [1, 1]), "payload.installment_nos"),
    ("repayment_received", _m("amount", "0.00"), "payload.amount"),
    ("repayment_missed", _m("principal_due", "99999.00"), "payload.principal_due"),
    ("notice_sent", _m("channel", "wechat"), "payload.channel"),
    ("acceleration", _m("breakdown.costs", "1.00"), "payload.breakdown"),
    ("settlement", _drop("waiver"), "payload.waiver"),
    (
        "settlement",
        _m(
            "waiver",
            {"principal": "0.00", "interest": "0.00", "penalty": "0.00", "approval_ref": "A"},
        ),
        "payload.waiver",
    ),
]


@pytest.mark.parametrize(("event_type", "mutate", "field"), CROSS_FIELD)
def test_cross_field_rules(event_type: str, mutate: Any, field: str) -> None:
    payload = example_payload(event_type)
    mutate(payload)
    assert field in _fields(_errors(event_type, payload))


def test_due_day_past_month_end_falls_on_the_last_day() -> None:
    payload = example_payload("contract_signed")
    payload["first_due_date"], payload["due_day"] = "2024-02-29", 31
    validate_payload("contract_signed", payload)
    payload["first_due_date"] = "2024-02-28"
    assert _fields(_errors("contract_signed", payload)) == {"payload.due_day"}


def test_either_first_due_date_or_due_day_suffices() -> None:
    for drop in ("first_due_date", "due_day"):
        payload = example_payload("contract_signed")
        del payload[drop]
        validate_payload("contract_signed", payload)
    payload = example_payload("contract_signed")
    del payload["first_due_date"], payload["due_day"]
    errors = _errors("contract_signed", payload)
    assert errors[0]["field"] == "payload.first_due_date"
    assert "first_due_date or due_day" in errors[0]["message"]


def test_an_individual_guarantor_is_named_by_a_kyc_reference() -> None:
    payload = example_payload("security")
    payload["provider"] = {
        "role": "guarantor",
        "kind": "individual",
        "name": "张某",
        "identity_ref": "KYC-0001",
    }
    validate_payload("security", payload)
    payload["provider"]["credit_code"] = "91500103MA5U7N4Q02"
    assert _fields(_errors("security", payload)) == {"payload.provider.credit_code"}
    del payload["provider"]["credit_code"], payload["provider"]["identity_ref"]
    assert _fields(_errors("security", payload)) == {"payload.provider.identity_ref"}


def test_mortgage_needs_collateral_and_guarantee_refuses_it() -> None:
    payload = example_payload("security")
    payload.update(
        kind="mortgage",
        liability=None,
        collateral={"description": "渝中区某商铺", "registration_ref": "渝(2024)不动产证明第1号"},
    )
    del payload["liability"]
    validate_payload("security", payload)
    payload["kind"] = "guarantee"
    payload["liability"] = "general"
    assert _fields(_errors("security", payload)) == {"payload.collateral"}


def test_many_errors_are_all_reported() -> None:
    payload = example_payload("disbursement")
    payload.update(amount=1.5, value_date="x", foo=1)
    del payload["clearing_ref"]
    assert _fields(_errors("disbursement", payload)) == {
        "payload.amount",
        "payload.value_date",
        "payload.foo",
        "payload.clearing_ref",
    }


def test_error_text_says_what_was_expected_and_found() -> None:
    payload = example_payload("disbursement")
    payload["amount"] = 1000.5
    with pytest.raises(EventValidationError) as info:
        validate_payload("disbursement", payload)
    text = info.value.diagnostics()
    assert "payload.amount" in text and "12345.60" in text and "float 1000.5" in text


@given(
    st.decimals(
        min_value=0,
        max_value=Decimal("999999999999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_money_wire_form_round_trips(amount: Decimal) -> None:
    text = format_money(amount)
    assert parse_money(text) == amount
    assert format_money(parse_money(text)) == text


def test_json_schema_shows_money_as_string() -> None:
    schema = payload_model("disbursement").model_json_schema()
    assert schema["properties"]["amount"]["type"] == "string"
    assert schema["additionalProperties"] is False


def test_story_examples_are_valid() -> None:
    for event_type, payload in example_story():
        validate_payload(event_type, payload)
