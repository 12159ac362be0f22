"""Claims for reversed, corrected, prepaid and extended loans, worked out by hand.

Loan A (tests.unit.lending_core.test_adjustments): 120 000.00 lent 2024-01-10 at 6 % a year,
等额本金 over 12 months, due on the 10th: 10 000.00 principal a month, interest = balance
x 6 % / 12 (installment 1: 600.00, 2: 550.00, ...). 罚息 rate 6 % x 1.5 = 9 % a year, i.e.
per day 0.09 / 360; 复利 on unpaid interest at the same rate. In every test the claim's
total equals the computation table: principal claimed + the outstanding of every row +
costs.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from dispute.claim import arrears_in_force, build_claim
from dispute.selection import loan_state
from tests.unit.lending_core.test_adjustments import (
    CORRECTED,
    REVERSED,
    Story,
    base_story,
    extension,
    loan_records,
    prepayment,
    repayment,
)

D = Decimal


def claim_of(story: Story, as_of: date) -> dict[str, Any]:
    return build_claim(loan_records(story), "court", as_of)


def table_total(claim: dict[str, Any]) -> Decimal:
    """What the computation table adds up to: principal + every row's outstanding + costs."""
    a = claim["amounts"]
    rows = sum((D(r["outstanding"]) for r in claim["computation"]), D("0.00"))
    return D(a["principal"]) + rows + D(a["costs"]["amount"])


def figures(claim: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    a = claim["amounts"]
    return (a["principal"], a["interest"]["amount"], a["penalty_interest"]["amount"],
            a["compound_interest"]["amount"], a["costs"]["amount"], a["total"])


def test_reversed_repayment_by_hand() -> None:
    """Installment 2 (10 550.00 on 2024-03-10) paid, then reversed (退汇) on 2024-03-12.

    On 2024-03-31 installment 2 is unpaid: principal 10 000.00 and interest 550.00, overdue
    from 03-11, 21 days to 03-31 inclusive:
      罚息 10000 x 0.09 x 21 / 360 = 52.50
      复利   550 x 0.09 x 21 / 360 =  2.8875 -> 2.89
      total 10000.00 + 550.00 + 52.50 + 2.89 = 10 605.39
    """
    claim = claim_of(REVERSED, date(2024, 3, 31))
    assert figures(claim) == ("10000.00", "550.00", "52.50", "2.89", "0.00", "10605.39")
    assert table_total(claim) == D("10605.39")
    assert [r["event_id"] for r in claim["repayments"]] == ["r1"]
    [rev] = claim["adjustments"]["reversals"]
    assert rev["applied"] and rev["original_event_id"] == "r2"
    assert "冲正还款记录r2" in rev["text"] and "不计入计算" in rev["text"]
    penalty = next(r for r in claim["computation"] if r["kind"] == "罚息")
    assert (penalty["base"], penalty["from"], penalty["to"], penalty["days"]) == (
        "10000.00", "2024-03-11", "2024-03-31", 21)


def test_corrected_value_date_by_hand() -> None:
    """Installment 2 posted with value date 2024-03-10, corrected (调账) to 2024-03-20.

    Overdue 03-11..03-20 (10 days): 罚息 10000 x 0.09 x 10 / 360 = 25.00; 复利 550 x 0.09 x
    10 / 360 = 1.375 -> 1.38. The 10 550.00 of 03-20 pays 25.00 + 1.38 + 550.00 and
    9 973.62 of principal, leaving 26.38 overdue; 03-21..03-31 (11 days): 罚息 26.38 x 0.09 x
    11 / 360 = 0.0725 -> 0.07. Total 26.38 + 0.07 = 26.45.
    """
    claim = claim_of(CORRECTED, date(2024, 3, 31))
    assert figures(claim) == ("26.38", "0.00", "0.07", "0.00", "0.00", "26.45")
    assert table_total(claim) == D("26.45")
    alloc = claim["allocations"][-1]
    assert (alloc["value_date"], alloc["penalty"], alloc["compound"], alloc["interest"],
            alloc["principal"]) == ("2024-03-20", "25.00", "1.38", "550.00", "9973.62")
    [cor] = claim["adjustments"]["corrections"]
    assert cor["changed"] == [{"field": "value_date", "from": "2024-03-10", "to": "2024-03-20"}]
    assert "value_date由2024-03-10更正为2024-03-20" in cor["text"]


def test_corrected_amount_by_hand() -> None:
    """Installment 2 posted as 10 550.00, corrected to 5 550.00: it pays 550.00 interest and
    5 000.00 principal; 5 000.00 overdue 03-11..03-31 (21 days): 5000 x 0.09 x 21 / 360 =
    26.25. Total 5026.25."""
    story = [*CORRECTED[:-1],
             ("k2", "correction", {"original_event_id": "r2",
                                   "original_type": "repayment_received",
                                   "corrected": {"amount": "5550.00"},
                                   "corrected_on": "2024-03-25", "reason_code": "wrong_amount",
                                   "reason": "金额录入错误",
                                   "source": {"system": "core-banking",
                                              "refs": {"txn_id": "T2"}}}, "2024-03-25")]
    claim = claim_of(story, date(2024, 3, 31))
    assert figures(claim) == ("5000.00", "0.00", "26.25", "0.00", "0.00", "5026.25")
    assert table_total(claim) == D("5026.25")


PREPAID = [
    *base_story(),
    ("r1", "repayment_received", repayment("10600.00", "2024-02-10", "CN-R1"), "2024-02-10"),
    ("r2", "repayment_received", repayment("10550.00", "2024-03-10", "CN-R2"), "2024-03-10"),
    ("p", "prepayment", prepayment("partial", "30550.00", "2024-03-25", "30000.00", "250.00",
                                   fee="300.00"), "2024-03-25"),
    ("r3", "repayment_received", repayment("7186.67", "2024-04-10", "CN-R3"), "2024-04-10"),
]


def test_partial_prepayment_lower_installment_by_hand() -> None:
    """30 000.00 prepaid on 2024-03-25 with 250.00 interest (100000 x 0.06 x 15 / 360) and a
    300.00 fee (1 %, clause 7.3): 30 550.00. Left 70 000.00 over the same 10 periods
    (contract default, 期限不变): 7 000.00 a month; 2024-04-10: 7 000.00 + 70000 x 0.06 x
    16 / 360 = 186.67 -> 7 186.67 (paid); 2024-05-10: 7 000.00 + 63000 x 0.005 = 315.00,
    unpaid. On 2024-05-31, 21 days overdue: 罚息 7000 x 0.09 x 21 / 360 = 36.75; 复利 315 x
    0.09 x 21 / 360 = 1.65375 -> 1.65. Total 7000.00 + 315.00 + 36.75 + 1.65 = 7 353.40.
    """
    claim = claim_of(PREPAID, date(2024, 5, 31))
    assert figures(claim) == ("7000.00", "315.00", "36.75", "1.65", "0.00", "7353.40")
    assert table_total(claim) == D("7353.40")
    # The fee is a cost paid by the prepayment; the cut period's interest is in the table.
    alloc = next(a for a in claim["allocations"] if a["value_date"] == "2024-03-25")
    assert (alloc["costs"], alloc["interest"], alloc["principal"], alloc["unapplied"]) == (
        "300.00", "250.00", "30000.00", "0.00")
    cut = next(r for r in claim["computation"] if r["from"] == "2024-03-10")
    assert (cut["base"], cut["to"], cut["days"], cut["amount"], cut["daily_rate"]) == (
        "100000.00", "2024-03-24", 15, "250.00", "0.0001666667")
    assert "提前还款日2024-03-25结息" in cut["note"]
    rebuilt = next(r for r in claim["computation"] if r["from"] == "2024-03-25")
    assert (rebuilt["base"], rebuilt["days"], rebuilt["amount"]) == ("70000.00", 16, "186.67")
    assert "期限不变、减少月供" in rebuilt["note"]
    [p] = claim["adjustments"]["prepayments"]
    assert p["rule"] == "lower_installment" and p["fee"] == "300.00"
    assert claim["contract"]["end_date"] == "2025-01-10"
    assert claim["amounts"]["costs"]["items"][0]["description"] == "提前还款违约金"


def test_partial_prepayment_shorten_term_by_hand() -> None:
    """The contract says 月供不变、缩短期限: 10 000.00 a month kept, 7 periods, last on
    2024-10-10. 2024-04-10: 10 000.00 + 186.67 (paid); 2024-05-10: 10 000.00 + 60000 x
    0.005 = 300.00 unpaid. 21 days: 罚息 10000 x 0.09 x 21 / 360 = 52.50; 复利 300 x 0.09 x
    21 / 360 = 1.575 -> 1.58. Total 10000.00 + 300.00 + 52.50 + 1.58 = 10 354.08."""
    story = [*base_story(rule="shorten_term"), *PREPAID[2:-1],
             ("r3", "repayment_received", repayment("10186.67", "2024-04-10", "CN-R3"),
              "2024-04-10")]
    claim = claim_of(story, date(2024, 5, 31))
    assert figures(claim) == ("10000.00", "300.00", "52.50", "1.58", "0.00", "10354.08")
    assert table_total(claim) == D("10354.08")
    assert claim["contract"]["end_date"] == "2024-10-10"
    assert claim["adjustments"]["prepayments"][0]["rule"] == "shorten_term"


def test_full_prepayment_by_hand() -> None:
    """提前结清 on 2024-03-25: 100 000.00 principal + 250.00 interest = 100 250.00; then the
    settlement. On 2024-03-31 nothing is owed, and the schedule ends on 2024-03-25."""
    story = [*PREPAID[:4],
             ("p", "prepayment", prepayment("full", "100250.00", "2024-03-25", "100000.00",
                                            "250.00"), "2024-03-25"),
             ("s", "settlement", {"settled_on": "2024-03-25", "reason": "repaid",
                                  "source": {"system": "core-banking", "refs": {"c": "1"}}},
              "2024-03-25")]
    records = loan_records(story)
    state = loan_state(records)
    assert state.status.value == "settled" and state.findings == ()
    claim = build_claim(records, "court", date(2024, 3, 31))
    assert figures(claim) == ("0.00", "0.00", "0.00", "0.00", "0.00", "0.00")
    assert table_total(claim) == D("0.00")
    assert claim["contract"]["end_date"] == "2024-03-25"
    s = arrears_in_force(state, date(2024, 3, 31))
    assert s.outstanding_principal == 0 and s.unapplied_credit == 0


EXTENDED = [
    *base_story(amount="60000.00", term=6),
    *[(f"r{k}", "repayment_received", repayment(amount, day, f"CN-R{k}"), day)
      for k, (amount, day) in enumerate([("10300.00", "2024-02-10"), ("10250.00", "2024-03-10"),
                                         ("10200.00", "2024-04-10"), ("10150.00", "2024-05-10"),
                                         ("10100.00", "2024-06-10"), ("50.00", "2024-07-09")],
                                        start=1)],
    ("e", "extension", extension(), "2024-07-05"),
    ("r7", "repayment_received", repayment("3393.33", "2024-08-10", "CN-R7"), "2024-08-10"),
]


def test_extension_by_hand() -> None:
    """60 000.00 over 6 months (10 000.00 a month); installments 1-5 paid and the interest
    of the 6th (50.00) paid 2024-07-09. 展期 from 2024-07-10: the last 10 000.00 over 3
    months to 2024-10-10 at 7.2 % (0.6 % a month), 等额本金 3 333.33 / 3 333.33 / 3 333.34:
    2024-08-10: 3 333.33 + 10000 x 0.006 = 60.00 -> 3 393.33 (paid); 2024-09-10: 3 333.33 +
    6666.67 x 0.006 = 40.00, unpaid. 罚息 rate 7.2 % x 1.5 = 10.8 %; 09-11..09-30 = 20 days:
    罚息 3333.33 x 0.108 x 20 / 360 = 19.99998 -> 20.00; 复利 40 x 0.108 x 20 / 360 = 0.24.
    Total 3333.33 + 40.00 + 20.00 + 0.24 = 3 393.57.
    """
    claim = claim_of(EXTENDED, date(2024, 9, 30))
    assert figures(claim) == ("3333.33", "40.00", "20.00", "0.24", "0.00", "3393.57")
    assert table_total(claim) == D("3393.57")
    assert claim["contract"]["extended_by"] == ["ZQ-1"]
    assert claim["contract"]["end_date"] == "2024-10-10"
    assert claim["ceiling"]["penalty_rate"] == "0.108"
    [ext] = claim["adjustments"]["extensions"]
    assert ext["new_maturity"] == "2024-10-10" and ext["exceeds_limit"] is None
    assert "展期至2024-10-10" in ext["text"]


def test_fee_charged_is_a_cost_and_its_reversal_removes_it() -> None:
    """A 30.00 notice fee charged 2024-03-15 with installment 2 unpaid (REVERSED): costs
    30.00, total 10 605.39 + 30.00 = 10 635.39; reversed, it is gone again."""
    fee = {"fee_id": "F1", "kind": "notice_fee", "amount": "30.00", "charged_on": "2024-03-15",
           "description": "EMS催收函邮寄费", "clause_no": "12.1",
           "source": {"system": "core-banking", "refs": {"txn_id": "T9"}}}
    story = [*REVERSED, ("f1", "fee_charged", fee, "2024-03-15")]
    claim = claim_of(story, date(2024, 3, 31))
    assert figures(claim) == ("10000.00", "550.00", "52.50", "2.89", "30.00", "10635.39")
    assert table_total(claim) == D("10635.39")
    assert claim["adjustments"]["fees"][0]["fee_id"] == "F1"
    story.append(("xf", "reversal", {"original_event_id": "f1", "original_type": "fee_charged",
                                     "amount": "30.00", "reversed_on": "2024-03-20",
                                     "reason": "误收",
                                     "source": {"system": "core-banking",
                                                "refs": {"txn_id": "T10"}}}, "2024-03-20"))
    assert figures(claim_of(story, date(2024, 3, 31)))[-1] == "10605.39"


def test_claim_figures_do_not_depend_on_arrival_order() -> None:
    order = list(reversed(range(len(PREPAID))))
    a = build_claim(loan_records(PREPAID), "court", date(2024, 5, 31))
    b = build_claim(loan_records(PREPAID, order), "court", date(2024, 5, 31))
    assert figures(a) == figures(b) and a["computation"] == b["computation"]


def test_case_file_shows_the_adjustments_and_their_figures() -> None:
    """The court's case file states the reversal, the prepayment and the rebuilt rows."""
    import io
    import re

    pypdf = pytest.importorskip("pypdf")
    from dispute.casefile import render_case_file
    from dispute.selection import select_evidence
    from tests.unit.dispute.test_casefile import ATTACHMENTS, BASE_URL, CREATED, PRESERVATION

    story = [*PREPAID[:3],
             ("r2", "repayment_received", repayment("10550.00", "2024-03-10", "CN-R2"),
              "2024-03-10"),
             ("x2", "reversal", {"original_event_id": "r2", "original_type": "repayment_received",
                                 "amount": "10550.00", "reversed_on": "2024-03-12",
                                 "reason": "付款行退汇",
                                 "source": {"system": "core-banking", "refs": {"t": "1"}}},
              "2024-03-12"),
             ("r2b", "repayment_received", repayment("10550.00", "2024-03-10", "CN-R2B"),
              "2024-03-14"),
             *PREPAID[4:]]
    records = loan_records(story)
    claim = build_claim(records, "court", date(2024, 5, 31))
    # The repayment re-posted under a new id restores the figures of PREPAID.
    assert figures(claim) == ("7000.00", "315.00", "36.75", "1.65", "0.00", "7353.40")
    selection = select_evidence(records, "court")
    pdf = render_case_file("court", claim, selection, PRESERVATION, BASE_URL, ATTACHMENTS,
                           CREATED)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    flat = re.sub(r"\s+", "", "\n".join(p.extract_text() for p in reader.pages))
    for words in ("冲正、调账、提前还款、展期及费用", "冲正还款记录r2", "部分提前还款30,550.00元",
                  "期限不变、减少月供", "提前还款日2024-03-25结息", "提前还款违约金"):
        assert words.replace(",", "") in flat.replace(",", ""), words
    assert "7353.40" in flat.replace(",", "")


def test_evidence_list_keeps_the_reversed_record_and_names_the_adjustments() -> None:
    from dispute.selection import select_evidence

    story = [*REVERSED, ("p", "prepayment", prepayment("partial", "30550.00", "2024-03-25",
                                                      "30000.00", "250.00", fee="300.00"),
                         "2024-03-25"),
             ("e", "extension", {**extension(), "effective_date": "2024-04-10",
                                 "original_maturity": "2025-01-10",
                                 "new_maturity": "2025-04-10",
                                 "principal": "60000.00", "first_due_date": "2024-05-10",
                                 "e_signature": {"certificate_serial": "CFCA-1",
                                                 "signed_at": "2024-04-08T09:00:00+08:00",
                                                 "identity_check_refs": ["FACE-1"]}},
              "2024-04-08")]
    titles = {e.event_id: e.title for e in select_evidence(loan_records(story), "court").exhibits}
    assert titles["r2"] == "还款记录（已冲正，r2）"
    assert titles["x2"].startswith("冲正记录（2024-03-12")
    assert titles["p"].startswith("提前还款记录（2024-03-25")
    assert titles["e"] == "展期协议（编号ZQ-1）"


def test_restructuring_rebuilt_from_its_effective_date_by_hand() -> None:
    """60 000.00 over 6 months; installments 1-3 paid. 重组 effective 2024-04-25: 30 000.00
    over 3 months at 6 %, 等额本金, first due 2024-05-10 (a broken first period of 15 days):
    2024-05-10: 10 000.00 + 30000 x 0.06 x 15 / 360 = 75.00 -> 10 075.00 (paid);
    2024-06-10: 10 000.00 + 20000 x 0.005 = 100.00, unpaid. 06-11..06-30 = 20 days:
    罚息 10000 x 0.09 x 20 / 360 = 50.00; 复利 100 x 0.09 x 20 / 360 = 0.50.
    Total 10000.00 + 100.00 + 50.00 + 0.50 = 10 150.50."""
    restructuring = {
        "agreement_no": "CZ-1", "effective_date": "2024-04-25", "principal": "30000.00",
        "term_months": 3, "annual_rate": "0.06", "repayment_method": "equal_principal",
        "first_due_date": "2024-05-10", "clause_no": "3",
        "e_signature": {"certificate_serial": "CFCA-2", "signed_at": "2024-04-24T10:00:00+08:00",
                        "identity_check_refs": ["FACE-2"]},
        "source": {"system": "core-banking", "refs": {"agreement_id": "R1"}}}
    story = [*EXTENDED[:5], ("q", "restructuring", restructuring, "2024-04-24"),
             ("r8", "repayment_received", repayment("10075.00", "2024-05-10", "CN-R8"),
              "2024-05-10")]
    claim = claim_of(story, date(2024, 6, 30))
    assert figures(claim) == ("10000.00", "100.00", "50.00", "0.50", "0.00", "10150.50")
    assert table_total(claim) == D("10150.50")
    first = next(r for r in claim["computation"] if r["from"] == "2024-04-25")
    assert (first["days"], first["amount"]) == (15, "75.00")
    assert claim["contract"]["end_date"] == "2024-07-10"


def test_claim_figures_are_the_same_for_every_arrival_order() -> None:
    """Property (hypothesis): a loan with a reversal, a correction, a fee and a prepayment
    gives the same claim whatever order its records arrive in."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    fee = {"fee_id": "F1", "kind": "notice_fee", "amount": "30.00", "charged_on": "2024-03-15",
           "description": "EMS催收函邮寄费", "clause_no": "12.1",
           "source": {"system": "core-banking", "refs": {"txn_id": "T9"}}}
    story = [*CORRECTED,
             ("x1", "reversal", {"original_event_id": "r1", "original_type": "repayment_received",
                                 "amount": "10600.00", "reversed_on": "2024-02-12",
                                 "reason": "退汇", "source": {"system": "core-banking",
                                                             "refs": {"t": "2"}}},
              "2024-02-12"),
             ("f1", "fee_charged", fee, "2024-03-15"),
             ("p", "prepayment", prepayment("partial", "30550.00", "2024-03-28", "30000.00",
                                            "300.00", fee="250.00", rule="shorten_term"),
              "2024-03-28")]
    as_of = date(2024, 5, 31)
    expected = build_claim(loan_records(story), "court", as_of)
    assert table_total(expected) == D(expected["amounts"]["total"])

    @settings(max_examples=40, deadline=None)
    @given(st.permutations(range(len(story))))
    def check(order: list[int]) -> None:
        claim = build_claim(loan_records(story, list(order)), "court", as_of)
        assert figures(claim) == figures(expected)
        assert claim["computation"] == expected["computation"]
        assert claim["adjustments"] == expected["adjustments"]

    check()
