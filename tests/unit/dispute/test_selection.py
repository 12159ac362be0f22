"""Evidence selection per venue from the example loan, and every gap it must report."""

from __future__ import annotations

import hashlib

import pytest

from dispute.selection import SelectionError, StoredRecord, select_evidence
from tests.unit.dispute import story_records


def _types(selection) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [(e.no, e.event_type) for e in selection.exhibits]


def test_court_selection_orders_and_numbers_the_exhibits() -> None:
    s = select_evidence(story_records(dispute_venue="court"), "court")
    assert _types(s) == [
        ("1-1", "contract_signed"), ("1-2", "security"), ("2-1", "disbursement"),
        ("3-1", "repayment_received"), ("3-2", "repayment_missed"),
        ("4-1", "notice_sent"), ("4-2", "notice_delivered"), ("5-1", "acceleration"),
        ("6-1", None), ("7-1", None),
    ]
    assert s.gaps == ()
    assert [e.no for e in s.recorded] == [e.no for e in s.exhibits][:8]
    contract = s.exhibit("1-1")
    assert contract.leaf_index == 41 and contract.leaf_hash is not None
    assert contract.source_system == "core-banking"
    assert ("contract_id", "K20240302001") in contract.source_refs
    assert "K20240302001" in contract.source and "第8.2条" in contract.purpose
    assert [d.role for d in contract.documents] == ["contract"]
    assert s.exhibit("2-1").title.startswith("借据") and "CNAPS-20240305-000981" in s.exhibit(
        "2-1").source
    assert s.exhibit("6-1").title == "欠款本息计算表" and s.exhibit("6-1").leaf_index is None


def test_leaf_hash_is_the_rfc9162_leaf_hash_of_the_bytes() -> None:
    data = b'{"event_id":"x","loan_id":"L"}'
    r = StoredRecord.from_bytes(7, data)
    assert r.leaf_hash == hashlib.sha256(b"\x00" + data).digest()


def test_arbitration_names_the_clause_and_the_commission() -> None:
    s = select_evidence(story_records(dispute_venue="arbitration"), "arbitration")
    contract = s.exhibit("1-1")
    assert "仲裁条款（第15.1条）" in contract.title
    assert "重庆仲裁委员会" in contract.purpose
    assert s.gaps == ()


def test_notary_selection_adds_the_verification_channels() -> None:
    s = select_evidence(story_records(dispute_venue="notary"), "notary")
    assert "赋强公证条款" in s.exhibit("1-1").title
    assert "执行证书" in s.exhibit("1-1").purpose
    assert s.exhibit("6-1").title.startswith("欠款金额核算表")
    last = s.exhibits[-1]
    assert last.group == "verification" and last.leaf_index == 41
    assert "+86-138-0000-0000" in last.purpose
    assert s.gaps == ()


def test_missing_delivery_receipt_is_a_gap_named_with_its_date() -> None:
    records = story_records(dispute_venue="notary", skip=("notice_delivered",))
    s = select_evidence(records, "notary")
    codes = {g.code: g for g in s.gaps}
    gap = codes["no_delivery_receipt"]
    assert "no delivery receipt for the demand of 2024-05-25" in gap.message
    assert "2024年5月25日" in gap.message_zh
    assert gap.severity == "required" and gap.exhibit_no == "4-1"
    assert "no_delivered_demand" in codes
    # For a court the same hole weakens the case but does not block it.
    court = select_evidence(story_records(skip=("notice_delivered",), dispute_venue="court"),
                            "court")
    assert {g.code: g.severity for g in court.gaps}["no_delivery_receipt"] == "advisory"


@pytest.mark.parametrize(("clause", "venue", "words"), [
    ("arbitration", "court", ("the contract names arbitration (重庆仲裁委员会, clause 15.1), "
                             "not a court")),
    ("court", "arbitration", "not arbitration"),
    ("arbitration", "notary", "not a notary"),
])
def test_venue_mismatch_is_a_required_gap(clause: str, venue: str, words: str) -> None:
    s = select_evidence(story_records(dispute_venue=clause), venue)  # type: ignore[arg-type]
    (gap,) = [g for g in s.gaps if g.code == "venue_mismatch"]
    assert words in gap.message and gap.severity == "required" and gap.exhibit_no == "1-1"


def test_missing_contract_and_erased_documents_are_gaps() -> None:
    records = story_records(dispute_venue="court")
    contract_doc = records[1].content["documents"][0]["sha256"]
    available = {d["sha256"] for r in records for d in r.content["documents"]} - {contract_doc}
    s = select_evidence(records, "court", documents_available=available)
    (gap,) = [g for g in s.gaps if g.code == "document_missing"]
    assert contract_doc in gap.message and gap.exhibit_no == "1-1"


def test_no_default_and_no_delivery_gaps_for_a_performing_loan() -> None:
    s = select_evidence(story_records(upto="repayment_received", dispute_venue="court"), "court")
    assert [g.code for g in s.gaps] == ["no_default"]


def test_selection_refuses_mixed_loans_and_unknown_venues() -> None:
    records = story_records()
    other = StoredRecord(999, b"\x00" * 32, {**records[0].content, "loan_id": "OTHER"})
    with pytest.raises(SelectionError, match="one loan"):
        select_evidence([*records, other], "court")
    with pytest.raises(SelectionError, match="venue"):
        select_evidence(records, "mediation")  # type: ignore[arg-type]


def test_records_are_ordered_by_instant_not_by_text() -> None:
    records = story_records(dispute_venue="court")
    sent, delivered = records[6], records[7]
    # A delivery receipt logged first with a fractional time a string sort would misplace.
    late_sent = {**sent.content, "occurred_at": "2024-05-27T10:00:00Z"}
    early_delivered = {**delivered.content, "occurred_at": "2024-05-27T10:00:00.500000Z"}
    reordered = [*records[:6], StoredRecord(sent.leaf_index, sent.leaf_hash, late_sent),
                 StoredRecord(delivered.leaf_index, delivered.leaf_hash, early_delivered),
                 *records[8:]]
    s = select_evidence(reordered, "court")
    assert [e.event_type for e in s.exhibits if e.group == "notices"] == [
        "notice_sent", "notice_delivered"]
