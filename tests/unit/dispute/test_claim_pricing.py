"""A repriced (LPR + spread) loan's claim and case file, worked by hand.

The loan: 120 000.00 lent on 2024-03-20, 12 months of 等额本金 (10 000.00 principal a
month, due on the 20th), priced at the 1-year LPR + 100 bp: 3.45 % (published 2024-02-20)
+ 1.00 % = 4.45 %, repriced each 1 January. Penalty rate = rate × 1.5; compound interest
allowed. The borrower pays periods 1-8 on time and nothing after. On 2025-01-01 the loan is
repriced to the LPR of 2024-12-20, 3.10 % + 1.00 % = 4.10 %. Claim as of 2025-01-31.
"""

from __future__ import annotations

import io
import random
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from dispute.casefile import render_case_file
from dispute.claim import build_claim
from dispute.selection import StoredRecord, select_evidence
from lending_core.events import example_payload
from lending_core.events.examples import FLOATING_PRICING
from tests.unit.dispute import record_content, stored
from tests.unit.dispute.test_casefile import ATTACHMENTS, BASE_URL, CREATED, PRESERVATION

D = Decimal
AS_OF = date(2025, 1, 31)
# Interest of periods 1-8 on the opening balance at 4.45 % / 12, paid with the principal.
PAID_INTEREST = ["445.00", "407.92", "370.83", "333.75", "296.67", "259.58", "222.50", "185.42"]


def events() -> list[tuple[str, dict[str, Any], str]]:
    c = example_payload("contract_signed")
    c.update(amount="120000.00", annual_rate="0.0445", repayment_method="equal_principal",
             first_due_date="2024-04-20", due_day=20)
    c["pricing"] = dict(FLOATING_PRICING, spread_bp=100)
    c["e_signature"]["signed_at"] = "2024-03-18T10:00:00+08:00"
    d = example_payload("disbursement")
    d.update(amount="120000.00", value_date="2024-03-20", clearing_ref="CNAPS-20240320-0001")
    out = [("credit_decision", example_payload("credit_decision"), "2024-03-01"),
           ("contract_signed", c, "2024-03-18"), ("disbursement", d, "2024-03-20")]
    for k, interest in enumerate(PAID_INTEREST, start=1):
        day = f"2024-{3 + k:02d}-20"
        out.append(("repayment_received", {
            "amount": f"{D('10000.00') + D(interest):f}", "value_date": day,
            "clearing_ref": f"CNAPS-REPAY-{k}",
            "source": {"system": "core-banking", "refs": {"txn_id": f"T-{k}"}}}, day))
    r = example_payload("repricing")
    r.update(lpr="0.0310", spread_bp=100, new_rate="0.0410", previous_rate="0.0445")
    out.append(("repricing", r, "2025-01-01"))
    return out


def records(leaves: list[int] | None = None) -> list[StoredRecord]:
    story = events()
    leaves = leaves or list(range(40, 40 + len(story)))
    return [stored(leaf, record_content(i, t, p, day))
            for leaf, (i, (t, p, day)) in zip(leaves, enumerate(story), strict=True)]


def test_the_repriced_claim_worked_by_hand() -> None:
    claim = build_claim(records(), "notary", AS_OF)
    rows = [(r["kind"], r["base"], r["from"], r["to"], r["days"], r["annual_rate"], r["amount"],
             r["outstanding"]) for r in claim["computation"] if r["outstanding"] != "0.00"]
    assert rows == [
        # Period 9 (due 2024-12-20), unpaid: 40 000.00 × 4.45 % / 12 = 148.333… -> 148.33
        ("期内利息", "40000.00", "2024-11-20", "2024-12-19", 30, "0.0445", "148.33", "148.33"),
        # Period 10 is cut by the reset: 30 000.00 × 4.45 % × 12 / 360 = 44.50 ...
        ("期内利息", "30000.00", "2024-12-20", "2024-12-31", 12, "0.0445", "44.50", "44.50"),
        # 罚息 on period 9's principal, 21-31 Dec at 4.45 % × 1.5 = 6.675 %:
        # 10 000.00 × 6.675 % × 11 / 360 = 20.395… -> 20.40
        ("罚息", "10000.00", "2024-12-21", "2024-12-31", 11, "0.06675", "20.40", "20.40"),
        # 复利 on period 9's interest: 148.33 × 6.675 % × 11 / 360 = 0.3025… -> 0.30
        ("复利", "148.33", "2024-12-21", "2024-12-31", 11, "0.06675", "0.30", "0.30"),
        # ... and 30 000.00 × 4.10 % × 19 / 360 = 64.916… -> 64.92 (1-19 January)
        ("期内利息", "30000.00", "2025-01-01", "2025-01-19", 19, "0.041", "64.92", "64.92"),
        # From the reset, penalty rate 4.10 % × 1.5 = 6.15 %, 1-20 January:
        # 10 000.00 × 6.15 % × 20 / 360 = 34.166… -> 34.17; 148.33 × … = 0.5067… -> 0.51
        ("罚息", "10000.00", "2025-01-01", "2025-01-20", 20, "0.0615", "34.17", "34.17"),
        ("复利", "148.33", "2025-01-01", "2025-01-20", 20, "0.0615", "0.51", "0.51"),
        # Period 10 falls due too (2025-01-20): 21-31 January on 20 000.00 and on 257.75:
        # 20 000.00 × 6.15 % × 11 / 360 = 37.583… -> 37.58; 257.75 × … = 0.4843… -> 0.48
        ("罚息", "20000.00", "2025-01-21", "2025-01-31", 11, "0.0615", "37.58", "37.58"),
        ("复利", "257.75", "2025-01-21", "2025-01-31", 11, "0.0615", "0.48", "0.48"),
    ]
    a = claim["amounts"]
    assert a["principal"] == "20000.00"
    assert a["interest"]["amount"] == "257.75"  # 148.33 + 44.50 + 64.92
    assert a["penalty_interest"]["amount"] == "92.15"  # 20.40 + 34.17 + 37.58
    assert a["compound_interest"]["amount"] == "1.29"  # 0.30 + 0.51 + 0.48
    assert a["total"] == "20351.19"
    # The claim total is the computation table's outstanding column plus the principal.
    table = sum((D(r["outstanding"]) for r in claim["computation"]), D(0))
    assert D(a["total"]) == D(a["principal"]) + table + D(a["costs"]["amount"])
    assert claim["ceiling"]["penalty_rate"] == "0.0615"


def test_the_claim_states_the_pricing_and_the_rate_periods() -> None:
    claim = build_claim(records(), "notary", AS_OF)
    assert claim["contract"]["pricing"]["text"] == (
        "1年期LPR+100个基点，每年1月1日重定价（合同第4.2条）")
    assert claim["rate_periods"] == [
        {"from": "2024-03-20", "to": "2024-12-31", "annual_rate": "0.0445",
         "penalty_rate": "0.06675", "basis": "合同约定", "event_id": "story-1",
         "lpr": "0.0345", "lpr_date": "2024-02-20", "tenor": "1y", "spread_bp": 100},
        {"from": "2025-01-01", "to": None, "annual_rate": "0.041", "penalty_rate": "0.0615",
         "basis": "重定价", "event_id": "story-11", "lpr": "0.031",
         "lpr_date": "2024-12-20", "tenor": "1y", "spread_bp": 100},
    ]
    assert "各期执行利率" in claim["amounts"]["interest"]["method"]
    assert "各期执行利率×(1+50%)" in claim["amounts"]["penalty_interest"]["method"]


def test_before_the_reset_the_claim_has_one_rate() -> None:
    claim = build_claim(records(), "notary", date(2024, 12, 25))
    assert [p["annual_rate"] for p in claim["rate_periods"]] == ["0.0445"]
    assert {r["annual_rate"] for r in claim["computation"]} <= {"0.0445", "0.06675"}


def test_late_arrival_of_the_repricing_gives_the_same_claim() -> None:
    in_order = build_claim(records(), "notary", AS_OF)
    rng = random.Random(11)
    for _ in range(5):
        leaves = list(range(40, 40 + len(events())))
        rng.shuffle(leaves)  # arrival order (leaf index) shuffled; event times unchanged
        shuffled = build_claim(records(leaves), "notary", AS_OF)
        assert shuffled["amounts"] == in_order["amounts"]
        assert shuffled["computation"] == in_order["computation"]
        assert shuffled["rate_periods"] == in_order["rate_periods"]


def test_a_fixed_rate_claim_has_no_pricing() -> None:
    from tests.unit.dispute import story_records

    claim = build_claim(story_records(), "notary", date(2024, 9, 30))
    assert claim["contract"]["pricing"] is None
    assert [p["annual_rate"] for p in claim["rate_periods"]] == ["0.0435"]


def test_the_case_file_shows_the_rate_periods_and_the_repricing_record() -> None:
    pypdf = pytest.importorskip("pypdf")
    recs = records()
    claim = build_claim(recs, "notary", AS_OF)
    selection = select_evidence(recs, "notary")
    pdf = render_case_file("notary", claim, selection, PRESERVATION, BASE_URL, ATTACHMENTS,
                           CREATED)
    text = re.sub(r"\s+", "", "".join(p.extract_text()
                                      for p in pypdf.PdfReader(io.BytesIO(pdf)).pages))
    assert "利率分段表" in text
    assert ("2024-03-20至2024-12-314.45%6.675%合同约定：1年期LPR3.45%（2024-02-20）+100个基点"
            in text)
    assert "2025-01-01起4.1%6.15%重定价：1年期LPR3.1%（2024-12-20）+100个基点" in text
    assert "第10期重定价分段计息（1/2），年利率4.45%" in text
    assert "第10期重定价分段计息（2/2），年利率4.1%" in text
    assert "利率重定价记录（2025年1月1日）" in text
    assert "1年期LPR+100个基点，每年1月1日重定价（合同第4.2条）" in text
    assert "20,351.19" in text


def test_a_repricing_date_without_a_record_is_named_and_the_rate_kept() -> None:
    story = [e for e in events() if e[0] != "repricing"]
    recs = [stored(40 + i, record_content(i, t, p, day)) for i, (t, p, day) in enumerate(story)]
    claim = build_claim(recs, "notary", AS_OF)
    assert claim["repricing_missing"] == ["2025-01-01"]
    assert [p["annual_rate"] for p in claim["rate_periods"]] == ["0.0445"]
    assert {r["annual_rate"] for r in claim["computation"]} <= {"0.0445", "0.06675"}
    assert build_claim(records(), "notary", AS_OF)["repricing_missing"] == []
