"""The `monitoring_flag` event: its schema's cross-field checks and its transition."""

from __future__ import annotations

from typing import Any

import pytest

from lending_core.errors import EventValidationError
from lending_core.events import example_payload, validate_payload
from lending_core.state import LoanState
from tests.unit.lending_core.test_state import post, refused


def flag(**changes: Any) -> dict[str, Any]:
    payload = example_payload("monitoring_flag")
    payload.update(changes)
    return payload


@pytest.fixture
def disbursed() -> LoanState:
    s = post(None, "credit_decision", "2024-03-01")
    s = post(s, "contract_signed", "2024-03-02")
    return post(s, "disbursement", "2024-03-05")


def test_normal_exactly_when_nothing_is_past_due() -> None:
    validate_payload("monitoring_flag", flag(classification="正常", days_past_due=0,
                                             warnings=[], previous_classification="关注"))
    with pytest.raises(EventValidationError) as info:
        validate_payload("monitoring_flag", flag(classification="正常"))
    assert info.value.errors[0]["field"] == "payload.classification"
    with pytest.raises(EventValidationError):
        validate_payload("monitoring_flag", flag(days_past_due=0))


def test_dispute_reasons_only_for_candidates() -> None:
    with pytest.raises(EventValidationError) as info:
        validate_payload("monitoring_flag", flag(dispute_reasons=["逾期91天"]))
    assert info.value.errors[0]["field"] == "payload.dispute_reasons"
    validate_payload("monitoring_flag", flag(dispute_candidate=True, dispute_reasons=["x"]))


@pytest.mark.parametrize("bad", ["B", "normal", None])
def test_classification_is_one_of_the_five(bad: Any) -> None:
    with pytest.raises(EventValidationError):
        validate_payload("monitoring_flag", flag(classification=bad))


def test_flags_are_kept_and_the_latest_classification_wins(disbursed: LoanState) -> None:
    assert disbursed.classification == "正常"
    s = post(disbursed, "monitoring_flag", "2024-06-21")
    assert s.classification == "关注" and len(s.monitoring_flags) == 1
    s = post(s, "monitoring_flag", "2024-09-21",
             flag(as_of="2024-09-20", classification="次级", previous_classification="关注",
                  days_past_due=123, dispute_candidate=True, dispute_reasons=["逾期123天"]))
    assert s.classification == "次级"


def test_flag_refusals(disbursed: LoanState) -> None:
    contracted_only = post(post(None, "credit_decision", "2024-03-01"),
                           "contract_signed", "2024-03-02")
    refused(contracted_only, "monitoring_flag", "2024-06-21", flag(), "not_disbursed")
    refused(disbursed, "monitoring_flag", "2024-06-19", flag(), "future_dated")
    refused(disbursed, "monitoring_flag", "2024-06-21",
            flag(previous_classification="次级"), "classification_mismatch")
    s = post(disbursed, "monitoring_flag", "2024-06-21")
    refused(s, "monitoring_flag", "2024-06-22", flag(as_of="2024-06-01",
                                                     previous_classification="关注"),
            "stale_monitoring_flag")
