"""The structured claim: its figures are compute_arrears's figures, as decimal strings."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from dispute.claim import ClaimError, arrears_for, build_claim
from lending_core.interest import compute_arrears
from lending_core.interest_model import Charge, Disbursement, LoanTerms, Repayment
from lending_core.money import format_money
from lending_core.schedule import RepaymentMethod
from tests.unit.dispute import story_records

AS_OF = date(2024, 9, 30)


def test_claim_figures_equal_compute_arrears() -> None:
    records = story_records(dispute_venue="court")
    claim = build_claim(records, "court", AS_OF)
    # Computed independently from the example contract's terms.
    terms = LoanTerms(principal=Decimal("300000.00"), annual_rate=Decimal("0.0435"),
                      method=RepaymentMethod.EQUAL_INSTALLMENT, term_months=12, due_day=20,
                      penalty_markup=Decimal("0.5"), compound_allowed=True)
    s = compute_arrears(terms, [Disbursement(Decimal("300000.00"), date(2024, 3, 5))],
                        [Repayment(Decimal("25600.12"), date(2024, 4, 20))], AS_OF,
                        accelerated_on=date(2024, 7, 1))
    a = claim["amounts"]
    assert a["principal"] == format_money(s.outstanding_principal)
    assert a["interest"]["amount"] == format_money(s.interest_due)
    assert a["penalty_interest"]["amount"] == format_money(s.penalty_interest)
    assert a["compound_interest"]["amount"] == format_money(s.compound_interest)
    assert a["total"] == format_money(s.total_due) == a["total_due"]
    assert claim["daily_accrual"] == format_money(s.daily_accrual)
    assert claim["accrued_to_label"] == "暂计至2024年9月30日"
    assert claim["ceiling"]["exceeds_24pct"] is s.exceeds_24pct is False
    assert len(claim["computation"]) == len(s.rows)
    assert [r["amount"] for r in claim["computation"]] == [format_money(r.amount) for r in s.rows]
    again = arrears_for(records, AS_OF)  # the same replay, with the contract's clauses named
    assert [(r.kind, r.amount, r.days) for r in again.rows] == [
        (r.kind, r.amount, r.days) for r in s.rows]
    assert again.rows[-1].clause in ("合同第8.2条", "合同第8.3条")
    # Every row is cited by exactly one of the three components.
    cited = sorted(n for k in ("interest", "penalty_interest", "compound_interest")
                   for n in a[k]["rows"])
    assert cited == list(range(1, len(s.rows) + 1))


def test_claim_has_the_form_elements_and_is_json() -> None:
    claim = build_claim(story_records(dispute_venue="court"), "court", AS_OF)
    text = json.dumps(claim, ensure_ascii=False)
    assert json.loads(text) == claim
    assert claim["case_type"] == "金融借款合同纠纷"
    assert claim["parties"]["claimant"]["credit_code"] == "91500000202869177Y"
    borrower, guarantor = claim["parties"]["respondents"]
    assert borrower["credit_code"] == "91500103MA5U7N4Q02" and borrower["role"] == "borrower"
    assert guarantor["role"] == "guarantor"
    c = claim["contract"]
    assert (c["contract_no"], c["amount"], c["term_months"], c["annual_rate"]) == (
        "CQB-HQSX-2024-0001234", "300000.00", 12, "0.0435")
    assert c["repayment_method"]["label"] == "等额本息"
    assert c["penalty"] == {"markup": "0.5", "penalty_rate": "0.06525", "clause_no": "8.2"}
    assert c["compound_interest"] == {"allowed": True, "clause_no": "8.3"}
    assert claim["disbursements"][0]["receipt_no"] == "JJ-2024-0001234-01"
    assert claim["repayments"][0]["amount"] == "25600.12"
    assert claim["acceleration"]["accelerated_on"] == "2024-07-01"
    assert claim["security"][0]["liability"] == "joint_and_several"
    assert claim["dispute_resolution"]["matches_venue"] is True
    assert "罚息利率" in claim["amounts"]["penalty_interest"]["method"]
    assert claim["continuing"][0]["from"] == "2024-10-01"
    assert claim["requests"][0].startswith("偿还借款本金")
    assert "pre_suit_preservation" in claim["to_complete"]


def test_costs_and_venue_mismatch_flow_into_the_claim() -> None:
    charge = Charge(Decimal("3000.00"), date(2024, 8, 1), "律师费", "合同第12条")
    claim = build_claim(story_records(), "arbitration", AS_OF, charges=[charge])
    assert claim["amounts"]["costs"]["amount"] == "3000.00"
    assert claim["dispute_resolution"] == {"venue": "notary", "institution": "重庆市渝中公证处",
                                           "clause_no": "15.1", "matches_venue": False}
    assert any("实现债权的费用3000.00元" in line for line in claim["requests"])


def test_before_acceleration_only_overdue_principal_is_claimed() -> None:
    claim = build_claim(story_records(upto="notice_delivered"), "court", date(2024, 6, 1))
    a = claim["amounts"]
    assert a["principal"] == a["overdue_principal"] != a["outstanding_principal"]
    assert claim["acceleration"] is None


def test_claim_needs_a_disbursement() -> None:
    with pytest.raises(ClaimError, match="disbursement"):
        build_claim(story_records(upto="security"), "court", AS_OF)
