"""Reversals (冲正), corrections (调账), fees, prepayments (提前还款) and extensions (展期) in the
state: what the fold takes, what becomes a finding, and that arrival order changes nothing.

The loans here are small enough to check by hand (figures in tests/unit/dispute/
test_claim_adjustments.py): `loan_records()` is a 120 000.00 loan at 6 % a year, 等额本金
over 12 months from 2024-01-10, due on the 10th (10 000.00 principal a month, interest
balance x 0.5 %).
"""

from __future__ import annotations

import copy
import itertools
import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from dispute.selection import StoredRecord
from lending_core.errors import EventValidationError, LoanStateError
from lending_core.events import example_payload, validate_payload
from lending_core.reamortise import prepay
from lending_core.schedule import RepaymentMethod, build_schedule
from lending_core.state import LoanEvent, LoanState, apply, check_intrinsic, rebuild
from lending_core.state.adjustments import extension_limit_problem
from lending_core.state.corrections import effective
from tests.unit.dispute import record_content, stored

D = Decimal
SRC = {"system": "core-banking", "refs": {"txn_id": "T1"}}


def contract(amount: str = "120000.00", term: int = 12, method: str = "equal_principal",
             rule: str | None = None) -> dict[str, Any]:
    p = example_payload("contract_signed")
    p.pop("decision_id")
    p.update(amount=amount, term_months=term, annual_rate="0.06", repayment_method=method,
             first_due_date="2024-02-10", due_day=10)
    p["e_signature"]["signed_at"] = "2024-01-05T09:00:00+08:00"
    if rule is not None:
        p["prepayment_rule"] = rule
    return p


def disbursement(amount: str = "120000.00") -> dict[str, Any]:
    return {"receipt_no": "JJ-1", "amount": amount, "account": "6217****1234",
            "clearing_ref": "CN-D1", "value_date": "2024-01-10", "source": SRC}


def repayment(amount: str, day: str, ref: str) -> dict[str, Any]:
    return {"amount": amount, "value_date": day, "clearing_ref": ref, "source": SRC}


def reversal(original: str, amount: str, day: str, kind: str = "repayment_received",
             reason: str = "付款行退汇") -> dict[str, Any]:
    return {"original_event_id": original, "original_type": kind, "amount": amount,
            "reversed_on": day, "reason": reason, "source": SRC}


def correction(original: str, corrected: dict[str, Any], day: str,
               code: str = "wrong_value_date") -> dict[str, Any]:
    return {"original_event_id": original, "original_type": "repayment_received",
            "corrected": corrected, "corrected_on": day, "reason_code": code,
            "reason": "柜面录入错误", "source": SRC}


def prepayment(kind: str, amount: str, day: str, principal: str, interest: str,
               fee: str = "0.00", rule: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"kind": kind, "amount": amount, "value_date": day,
                         "clearing_ref": f"CN-P-{day}", "principal": principal,
                         "interest": interest, "fee": fee, "source": SRC}
    if D(fee) > 0:
        p["fee_clause_no"] = "7.3"
    if rule is not None:
        p["rule"] = rule
    return p


Story = list[tuple[str, str, dict[str, Any], str]]  # (event_id, type, payload, occurred day)


def base_story(**contract_args: Any) -> Story:
    return [
        ("c", "contract_signed", contract(**contract_args), "2024-01-05"),
        ("d", "disbursement", disbursement(contract_args.get("amount", "120000.00")),
         "2024-01-10"),
    ]


def loan_records(story: Story, order: list[int] | None = None) -> list[StoredRecord]:
    """The story as stored records; `order` gives each one's arrival (leaf index)."""
    out = []
    for i, (eid, kind, payload, day) in enumerate(story):
        content = record_content(i, kind, copy.deepcopy(payload), day)
        content["event_id"] = eid
        out.append(stored(100 + (order[i] if order else i), content))
    return out


def events(story: Story, order: list[int] | None = None) -> list[LoanEvent]:
    return [LoanEvent.from_record(r.content, seq=r.leaf_index)
            for r in loan_records(story, order)]


def state_of(story: Story, order: list[int] | None = None) -> LoanState:
    return rebuild(events(story, order))


def codes(state: LoanState) -> list[tuple[str, str]]:
    return sorted((f.code, f.event_id) for f in state.findings)


REVERSED = [
    *base_story(),
    ("r1", "repayment_received", repayment("10600.00", "2024-02-10", "CN-R1"), "2024-02-10"),
    ("r2", "repayment_received", repayment("10550.00", "2024-03-10", "CN-R2"), "2024-03-10"),
    ("x2", "reversal", reversal("r2", "10550.00", "2024-03-12"), "2024-03-12"),
]


def test_a_reversed_repayment_stays_in_the_log_but_not_in_the_state() -> None:
    s = state_of(REVERSED)
    assert [f.event_id for f in s.repayments] == ["r1"]
    assert s.received_total == D("10600.00")
    assert "r2" not in s.event_ids and "x2" in s.event_ids
    assert [f.event_id for f in s.adjustments.reversals] == ["x2"]
    [note] = s.corrections
    assert (note.kind, note.original_event_id, note.outcome) == ("reversal", "r2", "applied")
    assert s.findings == ()


def test_reversing_twice_is_a_finding_and_reverses_once() -> None:
    story = [*REVERSED, ("x3", "reversal", reversal("r2", "10550.00", "2024-03-13"),
                         "2024-03-13")]
    s = state_of(story)
    assert codes(s) == [("already_reversed", "x3")]
    assert [f.event_id for f in s.repayments] == ["r1"]
    assert [f.event_id for f in s.adjustments.reversals] == ["x2"]


def test_reversing_an_unknown_event_is_a_finding_resolved_when_it_arrives() -> None:
    early = [e for e in REVERSED if e[0] != "r2"]
    s = state_of(early)
    assert codes(s) == [("unknown_original", "x2")]
    assert s.adjustments.reversals == ()
    # The original arrives late: same state as if it had come on time.
    late = state_of([*early, REVERSED[3]])
    assert late.findings == () and [f.event_id for f in late.repayments] == ["r1"]


@pytest.mark.parametrize(("payload", "code"), [
    (reversal("r2", "10551.00", "2024-03-12"), "reversal_amount_mismatch"),
    (reversal("r2", "10550.00", "2024-03-12", kind="disbursement"), "original_type_mismatch"),
])
def test_a_reversal_that_does_not_fit_its_original_is_a_finding(
        payload: dict[str, Any], code: str) -> None:
    s = state_of([*REVERSED[:-1], ("x2", "reversal", payload, "2024-03-12")])
    assert codes(s) == [(code, "x2")]
    assert [f.event_id for f in s.repayments] == ["r1", "r2"]  # nothing reversed


def test_a_reversal_before_its_original_in_event_time_is_a_finding() -> None:
    story = [*REVERSED[:-1], ("x2", "reversal", reversal("r2", "10550.00", "2024-03-09"),
                              "2024-03-09")]
    assert codes(state_of(story)) == [("adjustment_before_original", "x2")]


def test_reversing_the_disbursement_leaves_repayments_as_findings() -> None:
    story = [*base_story(),
             ("r1", "repayment_received", repayment("10600.00", "2024-02-10", "CN-R1"),
              "2024-02-10"),
             ("xd", "reversal", reversal("d", "120000.00", "2024-02-11", kind="disbursement",
                                         reason="放款账户错误"), "2024-02-11")]
    s = state_of(story)
    assert s.disbursements == () and s.disbursed_total == 0
    assert codes(s) == [("not_disbursed", "r1")]


def test_a_reversed_fee_is_no_longer_charged() -> None:
    fee = {"fee_id": "F1", "kind": "notice_fee", "amount": "30.00", "charged_on": "2024-02-15",
           "description": "EMS催收函邮寄费", "clause_no": "12.1", "source": SRC}
    story = [*base_story(), ("f1", "fee_charged", fee, "2024-02-15")]
    assert [f.payload.amount for f in state_of(story).adjustments.fees] == [D("30.00")]
    story.append(("xf", "reversal", reversal("f1", "30.00", "2024-02-16", kind="fee_charged",
                                             reason="误收"), "2024-02-16"))
    assert state_of(story).adjustments.fees == ()
    # The same fee id twice is one fee and a finding.
    twice = [*base_story(), ("f1", "fee_charged", fee, "2024-02-15"),
             ("f2", "fee_charged", fee, "2024-02-16")]
    assert codes(state_of(twice)) == [("duplicate_fee", "f2")]


CORRECTED = [
    *base_story(),
    ("r1", "repayment_received", repayment("10600.00", "2024-02-10", "CN-R1"), "2024-02-10"),
    ("r2", "repayment_received", repayment("10550.00", "2024-03-10", "CN-R2"), "2024-03-10"),
    ("k2", "correction", correction("r2", {"value_date": "2024-03-20"}, "2024-03-25"),
     "2024-03-25"),
]


def test_a_correction_restates_the_original_under_its_own_id() -> None:
    s = state_of(CORRECTED)
    r2 = next(f for f in s.repayments if f.event_id == "r2")
    assert r2.payload.value_date == date(2024, 3, 20) and r2.payload.amount == D("10550.00")
    [note] = s.corrections
    assert note.applied and note.changed == (("value_date", "2024-03-10", "2024-03-20"),)
    assert [f.event_id for f in s.adjustments.corrections] == ["k2"]
    assert s.findings == ()


def test_corrections_apply_in_order_and_a_reversal_ends_them() -> None:
    story = [*CORRECTED,
             ("k3", "correction", correction("r2", {"amount": "10500.00"}, "2024-03-26",
                                             "wrong_amount"), "2024-03-26")]
    r2 = next(f for f in state_of(story).repayments if f.event_id == "r2")
    assert (r2.payload.value_date, r2.payload.amount) == (date(2024, 3, 20), D("10500.00"))
    story += [("x2", "reversal", reversal("r2", "10500.00", "2024-03-27"), "2024-03-27"),
              ("k4", "correction", correction("r2", {"amount": "10550.00"}, "2024-03-28",
                                              "wrong_amount"), "2024-03-28")]
    s = state_of(story)
    assert [f.event_id for f in s.repayments] == ["r1"]
    assert codes(s) == [("original_reversed", "k4")]


def test_a_correction_that_breaks_the_schema_is_a_finding() -> None:
    story = copy.deepcopy(CORRECTED)
    story[3][2]["allocation"] = {"costs": "0.00", "penalty": "0.00", "interest": "550.00",
                                 "principal": "10000.00"}
    story[4] = ("k2", "correction", correction("r2", {"amount": "10500.00"}, "2024-03-25",
                                                "wrong_amount"), "2024-03-25")
    s = state_of(story)
    assert codes(s) == [("invalid_correction", "k2")]
    assert "allocation" in s.findings[0].reason
    assert next(f for f in s.repayments if f.event_id == "r2").payload.amount == D("10550.00")


def test_intrinsic_rules_of_the_new_types() -> None:
    ev = events([("x", "reversal", reversal("x", "1.00", "2024-03-12"), "2024-03-12")])[0]
    with pytest.raises(LoanStateError) as info:
        check_intrinsic(ev)
    assert info.value.code == "self_reference"
    late = events([("p", "prepayment", prepayment("partial", "1.00", "2024-03-13", "1.00",
                                                  "0.00"), "2024-03-12")])[0]
    with pytest.raises(LoanStateError) as info:
        check_intrinsic(late)
    assert info.value.code == "future_dated"
    with pytest.raises(EventValidationError) as bad:
        validate_payload("prepayment", prepayment("partial", "100.00", "2024-03-12", "90.00",
                                                  "0.00"))
    assert bad.value.errors[0]["field"] == "payload.principal"
    with pytest.raises(EventValidationError):
        validate_payload("correction", correction("r2", {}, "2024-03-25"))


def test_strict_apply_judges_a_reversal_against_the_state() -> None:
    s = state_of(REVERSED[:-1])
    with pytest.raises(LoanStateError) as info:
        apply(s, events([("x9", "reversal", reversal("nope", "1.00", "2024-03-12"),
                          "2024-03-12")])[0])
    assert info.value.code == "unknown_original"
    after = apply(s, events([REVERSED[-1]])[0])
    assert [f.event_id for f in after.adjustments.reversals] == ["x2"]


def test_prepayment_counts_as_money_received() -> None:
    story = [*REVERSED[:-1],
             ("p", "prepayment", prepayment("partial", "30550.00", "2024-03-25", "30000.00",
                                            "250.00", fee="300.00"), "2024-03-25")]
    s = state_of(story)
    assert s.received_total == D("10600.00") + D("10550.00") + D("30550.00")
    assert s.principal_repaid == D("30000.00")
    over = [*story, ("p2", "prepayment", prepayment("partial", "90001.00", "2024-03-26",
                                                    "90001.00", "0.00"), "2024-03-26")]
    assert codes(state_of(over)) == [("over_prepayment", "p2")]


def extension(principal: str = "10000.00", new_maturity: str = "2024-10-10",
              rate: str | None = "0.072") -> dict[str, Any]:
    p = {"agreement_no": "ZQ-1", "effective_date": "2024-07-10",
         "original_maturity": "2024-07-10", "new_maturity": new_maturity,
         "principal": principal, "first_due_date": "2024-08-10", "clause_no": "2",
         "e_signature": {"certificate_serial": "CFCA-1", "signed_at": "2024-07-05T10:00:00+08:00",
                         "identity_check_refs": ["FACE-1"]}, "source": SRC}
    if rate is not None:
        p["annual_rate"] = rate
    return p


def test_extension_replaces_the_terms_from_its_effective_date() -> None:
    story = [*base_story(amount="60000.00", term=6),
             ("e", "extension", extension(), "2024-07-05")]
    s = state_of(story)
    t = s.terms
    assert t is not None
    assert (t.principal, t.term_months, t.annual_rate, t.first_due_date, t.since) == (
        D("10000.00"), 3, D("0.072"), date(2024, 8, 10), date(2024, 7, 10))
    [record] = s.adjustments.extensions
    assert record.exceeds_limit is None and record.repayment_method == "equal_principal"
    # Rate not restated: the rate in force stays.
    kept = state_of([*story[:2], ("e", "extension", extension(rate=None), "2024-07-05")])
    assert kept.terms is not None and kept.terms.annual_rate == D("0.06")


def test_extension_beyond_the_loan_rules_is_applied_and_flagged() -> None:
    assert extension_limit_problem(6, 6) is None
    assert "不得超过原贷款期限" in (extension_limit_problem(6, 7) or "")
    assert "一半" in (extension_limit_problem(36, 19) or "")
    assert extension_limit_problem(36, 18) is None
    assert "三年" in (extension_limit_problem(120, 37) or "")
    story = [*base_story(amount="60000.00", term=6),
             ("e", "extension", extension(new_maturity="2025-04-10"), "2024-07-05")]
    [record] = state_of(story).adjustments.extensions
    assert record.exceeds_limit is not None and "9个月" in record.exceeds_limit


def test_schema_of_an_extension_checks_its_dates() -> None:
    bad = extension(new_maturity="2024-10-11")  # not on the due day
    with pytest.raises(EventValidationError) as info:
        validate_payload("extension", bad)
    assert info.value.errors[0]["field"] == "payload.new_maturity"
    model = validate_payload("extension", extension())
    assert (model.term_months, model.extension_months) == (3, 3)  # type: ignore[attr-defined]


def test_arrival_order_changes_nothing() -> None:
    """Every arrival order of a story with a reversal, a correction, a prepayment and a
    late original gives the same state, findings and notes (sampled permutations)."""
    story = [*CORRECTED,
             ("x1", "reversal", reversal("r1", "10600.00", "2024-02-12"), "2024-02-12"),
             ("x9", "reversal", reversal("r1", "10600.00", "2024-02-13"), "2024-02-13"),
             ("p", "prepayment", prepayment("partial", "30550.00", "2024-03-28", "30000.00",
                                            "300.00", fee="250.00"), "2024-03-28")]
    baseline = state_of(story)

    def view(s: LoanState) -> Any:
        return (s.status, s.received_total, s.principal_repaid,
                [(f.event_id, f.payload) for f in s.repayments],
                [f.event_id for f in s.adjustments.prepayments], codes(s),
                [(n.event_id, n.outcome, n.changed) for n in s.corrections])

    assert codes(baseline) == [("already_reversed", "x9")]
    rng = random.Random(11)
    orders = [list(p) for p in itertools.islice(itertools.permutations(range(len(story))), 20)]
    for _ in range(60):
        order = list(range(len(story)))
        rng.shuffle(order)
        orders.append(order)
    for order in orders:
        assert view(state_of(story, order)) == view(baseline), order


def test_effective_passes_a_loan_without_adjustments_unchanged() -> None:
    evs = events(REVERSED[:-1])
    folded, notes = effective(evs)
    assert folded == evs and notes == ()


def test_prepay_by_hand_equal_principal() -> None:
    """120 000.00 at 6 %, 等额本金 12 months from 2024-01-10; 30 000.00 prepaid on 2024-03-25.

    Cut: period 3 (2024-03-10..03-25, 15 days) on 100 000.00: 100000 x 0.06 x 15 / 360 =
    250.00, due 2024-03-25 with the 30 000.00. Left 70 000.00.
    lower_installment: 10 periods from 2024-04-10: 7 000.00 each; the first from 03-25
    (16 days) bears 70000 x 0.06 x 16 / 360 = 186.67; 2024-05-10: 63000 x 0.005 = 315.00.
    shorten_term: 10 000.00 a month kept: 7 periods, maturity 2024-10-10 not 2025-01-10.
    """
    sch = build_schedule(RepaymentMethod.EQUAL_PRINCIPAL, D("120000.00"), D("0.06"), 12,
                         date(2024, 1, 10), 10, date(2024, 2, 10))
    lower = prepay(sch, date(2024, 3, 25), D("30000.00"), rule="lower_installment")
    rows = [(i.no, i.due_date, i.principal, i.interest) for i in lower.installments]
    assert rows[:5] == [
        (1, date(2024, 2, 10), D("10000.00"), D("600.00")),
        (2, date(2024, 3, 10), D("10000.00"), D("550.00")),
        (3, date(2024, 3, 25), D("30000.00"), D("250.00")),
        (3, date(2024, 4, 10), D("7000.00"), D("186.67")),
        (4, date(2024, 5, 10), D("7000.00"), D("315.00")),
    ]
    assert lower.installments[-1].due_date == date(2025, 1, 10)
    assert lower.total_principal == D("120000.00")
    shorter = prepay(sch, date(2024, 3, 25), D("30000.00"), rule="shorten_term")
    assert shorter.installments[-1].due_date == date(2024, 10, 10)
    assert [i.principal for i in shorter.installments[3:]] == [D("10000.00")] * 7
    assert shorter.total_principal == D("120000.00")
    full = prepay(sch, date(2024, 3, 25), D("1.00"), full=True)
    assert full.installments[-1].due_date == date(2024, 3, 25)
    assert full.installments[-1].principal == D("100000.00")


@pytest.mark.parametrize("rule", ["lower_installment", "shorten_term"])
@pytest.mark.parametrize("day", [date(2024, 3, 10), date(2024, 3, 11), date(2024, 9, 9)])
def test_prepay_equal_installment_keeps_principal_and_lowers_the_burden(
        rule: Any, day: date) -> None:
    sch = build_schedule(RepaymentMethod.EQUAL_INSTALLMENT, D("300000.00"), D("0.0435"), 24,
                         date(2024, 1, 10), 10)
    after = prepay(sch, day, D("50000.00"), rule=rule)
    assert after.total_principal == D("300000.00")
    later = [i for i in after.installments if i.due_date > day]
    before = [i for i in sch.installments if i.due_date > day]
    regular = later[1].payment
    if rule == "lower_installment":
        assert later[-1].due_date == before[-1].due_date and regular < before[1].payment
    else:
        assert later[-1].due_date < before[-1].due_date
        assert regular <= before[1].payment
    assert all(i.interest >= 0 and i.principal >= 0 for i in after.installments)


def test_prepay_a_floating_rate_loan_by_hand() -> None:
    """Loan A repriced to 4.8 % from 2024-03-20 (inside period 3, 03-10..04-10); 30 000.00
    prepaid 2024-03-25. Cut in two parts: 100000 x 0.06 x 10 / 360 = 166.67 and 100000 x
    0.048 x 5 / 360 = 66.67 (233.34); rebuilt at 4.8 %: 03-25..04-10 70000 x 0.048 x 16 /
    360 = 149.33; 2024-05-10: 63000 x 0.004 = 252.00."""
    from lending_core.schedule import RateChange

    sch = build_schedule(RepaymentMethod.EQUAL_PRINCIPAL, D("120000.00"), D("0.06"), 12,
                         date(2024, 1, 10), 10, date(2024, 2, 10),
                         [RateChange(date(2024, 3, 20), D("0.048"))])
    after = prepay(sch, date(2024, 3, 25), D("30000.00"))
    cut, first, second = after.installments[2:5]
    assert [(s.start, s.end, s.annual_rate, s.interest) for s in cut.segments] == [
        (date(2024, 3, 10), date(2024, 3, 20), D("0.06"), D("166.67")),
        (date(2024, 3, 20), date(2024, 3, 25), D("0.048"), D("66.67"))]
    assert (cut.interest, cut.principal) == (D("233.34"), D("30000.00"))
    assert (first.interest, first.principal, first.annual_rate) == (
        D("149.33"), D("7000.00"), D("0.048"))
    assert (second.interest, second.annual_rate) == (D("252.00"), D("0.048"))
    assert after.total_principal == D("120000.00")
    # A later reset survives the rebuild.
    later = build_schedule(RepaymentMethod.EQUAL_PRINCIPAL, D("120000.00"), D("0.06"), 12,
                           date(2024, 1, 10), 10, date(2024, 2, 10),
                           [RateChange(date(2024, 6, 10), D("0.048"))])
    rebuilt = prepay(later, date(2024, 3, 25), D("30000.00"))
    july = next(i for i in rebuilt.installments if i.due_date == date(2024, 7, 10))
    assert (july.annual_rate, july.interest) == (D("0.048"), D("196.00"))  # 49000 x 0.004


def test_a_prepayment_can_be_reversed_and_a_fee_restated() -> None:
    story = [*REVERSED[:-1],
             ("p", "prepayment", prepayment("partial", "30550.00", "2024-03-25", "30000.00",
                                            "250.00", fee="300.00"), "2024-03-25"),
             ("xp", "reversal", reversal("p", "30550.00", "2024-03-26", kind="prepayment"),
              "2024-03-26")]
    s = state_of(story)
    assert s.adjustments.prepayments == () and s.principal_repaid == 0 and s.findings == ()
    fee = {"fee_id": "F1", "kind": "legal_fee", "amount": "3000.00", "charged_on": "2024-03-15",
           "description": "律师费", "clause_no": "12.2", "source": SRC}
    restated = {"original_event_id": "f1", "original_type": "fee_charged",
                "corrected": {"value_date": "2024-03-14", "amount": "2800.00"},
                "corrected_on": "2024-03-20", "reason_code": "wrong_amount",
                "reason": "发票金额为2800元", "source": SRC}
    s = state_of([*base_story(), ("f1", "fee_charged", fee, "2024-03-15"),
                  ("k", "correction", restated, "2024-03-20")])
    [f] = s.adjustments.fees
    assert (f.event_id, f.payload.charged_on, f.payload.amount) == (
        "f1", date(2024, 3, 14), D("2800.00"))
    assert s.corrections[0].changed == (("charged_on", "2024-03-15", "2024-03-14"),
                                        ("amount", "3000.00", "2800.00"))
