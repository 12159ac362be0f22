"""The 24 % total-cost test (法发〔2017〕22号 第2条): issue 14 item 7's constructed cases.

Both loans: 100,000.00 disbursed 2024-02-01, 36 months, equal installments (等额本息),
罚息 = contract rate × 1.5, 复利 allowed, nothing repaid, 暂计至 2024-06-10 (130 days; the
installments due 2024-03-01, 04-01, 05-01 and 06-01 unpaid). The cap, by hand:

    100,000.00 × 24% ÷ 360 × 130 = 8,666.666… → 8,666.67

The 15 % loan reproduces the issue's figures exactly (5,309.02 against 8,666.67). The 8 %
loan's figures in the issue (23,005.95 against 9,657.55) could not be reproduced from its
description; the 8 % case here is the same loan at 8 % with the same 20,000 律师费, with its
figures worked out below (22,797.35 against 8,666.67).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dispute.claim import build_claim
from dispute.cost_cap import (
    COST_KINDS,
    CostCapError,
    PrincipalSpan,
    cost_cap_for,
    principal_spans,
    total_cost_cap,
)
from lending_core.interest import compute_arrears
from lending_core.interest_model import ArrearsStatement, Charge, Disbursement, LoanTerms
from lending_core.schedule import RepaymentMethod
from tests.unit.dispute import story_records

D = Decimal
LOAN = [Disbursement(D("100000.00"), date(2024, 2, 1))]
AS_OF = date(2024, 6, 10)
LAWYER = Charge(D("20000.00"), date(2024, 6, 1), "律师费", "合同第12条")


def statement(rate: str, charges: list[Charge]) -> ArrearsStatement:
    terms = LoanTerms(principal=D("100000.00"), annual_rate=D(rate),
                      method=RepaymentMethod.EQUAL_INSTALLMENT, term_months=36,
                      penalty_markup=D("0.5"), compound_allowed=True)
    return compute_arrears(terms, LOAN, [], AS_OF, charges=charges)


def zeros(**given: str) -> dict[str, Decimal]:
    return {k: D(given.get(k, "0")) for k in COST_KINDS}


def test_15pct_loan_is_within_the_cap_although_the_old_rate_check_said_over() -> None:
    s = statement("0.15", [])
    # The old point-in-time check: 22.5% penalty rate + compound ratio > 24%.
    assert s.exceeds_24pct and s.combined_annual_rate > D("0.34")
    r = cost_cap_for(s, LOAN)
    # 期内利息 by hand: 1,250.00 + 1,222.29 + 1,194.24 + 1,165.84 (each period's opening
    # balance × 15% ÷ 12) = 4,832.37; 罚息 42.95 + 83.64 + 130.45 + 50.81 = 307.85;
    # 复利 24.22 + 46.36 + 71.04 + 27.18 = 168.80.
    assert r.charged == zeros(interest="4832.37", penalty="307.85", compound="168.80")
    assert r.total_cost == D("5309.02") == D("4832.37") + D("307.85") + D("168.80")
    assert r.spans == (PrincipalSpan(date(2024, 2, 1), AS_OF, D("100000.00")),)
    assert r.spans[0].days == 130
    assert r.cap == D("8666.67")
    assert not r.exceeded and r.total_reduction == 0 and r.capped == r.claimed
    assert "100000.00元×24%÷360×130天" in r.formula()
    assert "=5309.02元" in r.formula() and "不予调减" in r.formula()
    assert "法发〔2017〕22号）第2条" in r.formula()


def test_8pct_loan_with_20000_lawyer_fee_is_over_the_cap_and_lowered() -> None:
    s = statement("0.08", [LAWYER])
    # The old check only looked at rates: 12% penalty rate + compound ratio, "within".
    assert not s.exceeds_24pct
    r = cost_cap_for(s, LOAN)
    # 期内利息 666.67 + 650.22 + 633.66 + 617.00 = 2,567.55; 罚息 25.49 + 49.50 + 76.99
    # + 29.90 = 181.88; 复利 6.89 + 13.17 + 20.16 + 7.70 = 47.92; 律师费 20,000.00.
    assert r.charged == zeros(interest="2567.55", penalty="181.88", compound="47.92",
                              fees="20000.00")
    assert r.total_cost == D("22797.35")
    assert r.cap == D("8666.67")
    # Excess 22,797.35 − 8,666.67 = 14,130.68, all taken off the fee (first in the order).
    assert r.excess == D("14130.68") and r.unabsorbed == 0
    assert r.reduction == zeros(fees="14130.68")
    assert r.capped == zeros(interest="2567.55", penalty="181.88", compound="47.92",
                             fees="5869.32")
    assert sum(r.capped.values(), D(0)) == r.cap
    assert "按年利率24%上限调减14130.68元" in r.formula()
    assert "依次调减费用14130.68元" in r.formula()


def test_8pct_loan_without_fees_counted_is_within() -> None:
    r = cost_cap_for(statement("0.08", [LAWYER]), LOAN, include_fees=False)
    assert r.total_cost == D("2797.35") and r.cap == D("8666.67") and not r.exceeded
    assert r.capped["fees"] == D("20000.00")
    assert "律师费等费用20000.00元不计入综合成本" in r.formula()


def test_reduction_order_fees_then_damages_then_penalty_then_compound_then_interest() -> None:
    span = [PrincipalSpan(date(2024, 1, 1), date(2024, 4, 10), D("10000.00"))]  # 100 days
    # cap 10,000 × 24% ÷ 360 × 100 = 666.666… → 666.67
    charged = zeros(interest="500.00", compound="100.00", penalty="300.00",
                    liquidated_damages="200.00", fees="50.00")
    r = total_cost_cap(charged, charged, span)
    assert r.cap == D("666.67") and r.total_cost == D("1150.00")
    assert r.excess == D("483.33")
    # fees 50.00, 违约金 200.00, then 233.33 of the 罚息 300.00.
    assert r.reduction == zeros(fees="50.00", liquidated_damages="200.00", penalty="233.33")
    assert sum(r.capped.values(), D(0)) == r.cap
    # What is already paid is not reduced: claimed only 100.00 of the interest.
    claimed = zeros(interest="100.00")
    r2 = total_cost_cap(charged, claimed, span)
    assert r2.reduction == zeros(interest="100.00") and r2.unabsorbed == D("383.33")
    assert "另有383.33元超出部分已由借款人清偿" in r2.formula()


def test_principal_spans_follow_repayments() -> None:
    spans = principal_spans(LOAN, [(date(2024, 3, 1), D("2216.53"))], AS_OF)
    assert [(s.from_date, s.days, s.principal) for s in spans] == [
        (date(2024, 2, 1), 29, D("100000.00")), (date(2024, 3, 1), 101, D("97783.47"))]
    r = total_cost_cap(zeros(), zeros(), spans)
    # 100,000 × 0.24 × 29 / 360 + 97,783.47 × 0.24 × 101 / 360 = 1,933.333… + 6,584.087…
    assert r.cap == D("8517.42")


@pytest.mark.parametrize(("charged", "claimed", "match"), [
    (zeros(fees="-1"), zeros(), "charged\\['fees'\\]"),
    (zeros(), zeros(penalty="1"), "claimed\\['penalty'\\] at most"),
    ({"interest": D(0)}, zeros(), "expected charged keys"),
])
def test_bad_inputs_are_named(charged: dict[str, Decimal], claimed: dict[str, Decimal],
                              match: str) -> None:
    with pytest.raises(CostCapError, match=match):
        total_cost_cap(charged, claimed, [])


def test_spans_must_be_consecutive() -> None:
    a = PrincipalSpan(date(2024, 1, 1), date(2024, 2, 1), D("1.00"))
    b = PrincipalSpan(date(2024, 2, 2), date(2024, 3, 1), D("1.00"))
    with pytest.raises(CostCapError, match="span 1 to start on 2024-02-01"):
        total_cost_cap(zeros(), zeros(), [a, b])


def test_claim_lowered_to_the_cap_keeps_totals_the_sum_of_parts() -> None:
    fee = Charge(D("60000.00"), date(2024, 8, 1), "律师费", "合同第12条")
    as_of = date(2024, 9, 30)
    capped = build_claim(story_records(dispute_venue="court"), "court", as_of, charges=[fee])
    free = build_claim(story_records(dispute_venue="court"), "court", as_of, charges=[fee],
                       include_fees=False)
    c, a = capped["ceiling"], capped["amounts"]
    assert c["exceeds_24pct"] and c["fees_included"] and not free["ceiling"]["exceeds_24pct"]
    assert D(c["total_cost"]) - D(c["cap"]) == D(c["excess"]) == D(c["total_reduction"])
    # Only the fee is cut (first in the order), and the claim says so.
    assert a["costs"]["cap_reduction"] == c["total_reduction"] == a["cap_reduction"]
    assert D(a["costs"]["amount"]) == D("60000.00") - D(c["total_reduction"])
    assert f"按年利率24%上限调减{c['total_reduction']}元" in c["text"]
    assert any(f"上限调减{c['total_reduction']}元" in line for line in capped["requests"])
    parts = (D(a["principal"]) + D(a["interest"]["amount"]) + D(a["penalty_interest"]["amount"])
             + D(a["compound_interest"]["amount"]) + D(a["costs"]["amount"]))
    assert D(a["total"]) == parts == D(a["total_due"])
    fa = free["amounts"]
    assert D(fa["total"]) - D(a["total"]) == D(c["total_reduction"])
    assert fa["cap_reduction"] == "0.00" and fa["costs"]["amount"] == "60000.00"
