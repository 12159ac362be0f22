"""Record v2 (DESIGN.md, Event record): the loan chain `loan_seq` and `loan_prev` inside the
canonical bytes, read back strictly; v1 records read as before."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.errors import RecordError
from cunzheng_verify.records import (
    LOAN_CHAIN_BYTES,
    MAX_RECORD_BYTES,
    RECORD_SCHEMA,
    RECORD_SCHEMA_V2,
    TooLarge,
    build_record,
    canonical,
    chain_record,
    record_from_bytes,
)

POSTED = {
    "event_id": "e-1", "loan_id": "L-1", "type": "disbursement",
    "occurred_at": "2026-03-02T09:30:00+08:00",
    "payload": {"amount": "12345.60", "schema": "cunzheng.event/v1", "loan_seq": 7},
    "source": {"system": "core", "ref": "T-1"},
}
NOW = datetime(2026, 3, 2, 1, 30, 1, tzinfo=UTC)
SALT = bytes(range(32))
PREV = hashlib.sha256(b"previous").digest()


def _draft(**posted: Any) -> Any:
    return build_record({**POSTED, **posted}, tenant="bank-a", received_at=NOW, salt=SALT)


def test_chain_record_adds_seq_and_prev_inside_the_canonical_bytes() -> None:
    draft = _draft()
    assert draft.schema == RECORD_SCHEMA and draft.loan_seq is None
    rec = chain_record(draft, 3, PREV)
    content = json.loads(rec.data)
    assert content["schema"] == RECORD_SCHEMA_V2
    assert content["loan_seq"] == 3 and content["loan_prev"] == PREV.hex()
    assert rec.data == canonical(content) and list(content) == sorted(content)
    assert rec.leaf_hash == hashlib.sha256(b"\x00" + rec.data).digest()
    assert rec.leaf_hash != draft.leaf_hash
    # every other field is the draft's; the payload's own look-alike keys are untouched
    assert {k: v for k, v in content.items() if k not in ("schema", "loan_seq", "loan_prev")} \
        == {k: v for k, v in draft.content.items() if k != "schema"}
    assert content["payload"] == POSTED["payload"]
    assert record_from_bytes(rec.data) == rec
    assert (rec.loan_seq, rec.loan_prev, rec.schema) == (3, PREV, RECORD_SCHEMA_V2)


def test_the_first_record_of_a_loan_has_a_null_prev() -> None:
    rec = chain_record(_draft(), 1, None)
    assert json.loads(rec.data)["loan_prev"] is None
    assert b'"loan_prev":null,"loan_seq":1,' in rec.data
    assert record_from_bytes(rec.data).loan_prev is None


def test_build_record_with_a_chain_equals_the_chained_draft() -> None:
    direct = build_record(POSTED, tenant="bank-a", received_at=NOW, salt=SALT,
                          loan_seq=2, loan_prev=PREV)
    assert direct == chain_record(_draft(), 2, PREV)
    # a v2 draft gets its chain replaced, not duplicated
    assert chain_record(direct, 5, PREV).data == chain_record(_draft(), 5, PREV).data


@pytest.mark.parametrize(("seq", "prev", "needle"), [
    (0, None, "loan_seq must be an integer from 1"),
    (-1, PREV, "loan_seq must be an integer from 1"),
    (2**53, PREV, "loan_seq must be an integer from 1"),
    (1, PREV, "loan_prev must be null for the loan's first record"),
    (2, None, "loan_prev must be the previous record's leaf hash"),
    (2, b"\x01" * 31, "loan_prev must be the previous record's leaf hash"),
])
def test_a_bad_chain_is_refused_when_built(seq: int, prev: bytes | None, needle: str) -> None:
    with pytest.raises(RecordError, match=needle):
        chain_record(_draft(), seq, prev)


def _v2_content(**changes: Any) -> dict[str, Any]:
    content = chain_record(_draft(), 2, PREV).content
    content.update(changes)
    return {k: v for k, v in content.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(("changes", "needle"), [
    ({"loan_seq": _DROP}, r"record lacks \['loan_seq'\]"),
    ({"loan_prev": _DROP}, r"record lacks \['loan_prev'\]"),
    ({"loan_seq": 0}, "loan_seq must be an integer from 1"),
    ({"loan_seq": True}, "loan_seq must be an integer from 1"),
    ({"loan_seq": "2"}, "loan_seq must be an integer from 1"),
    ({"loan_prev": None}, "loan_prev must be the previous record's leaf hash"),
    ({"loan_prev": PREV.hex().upper()}, "loan_prev must be the previous record's leaf hash"),
    ({"loan_prev": PREV.hex()[:63]}, "loan_prev must be the previous record's leaf hash"),
    ({"loan_seq": 1}, "loan_prev must be null for the loan's first record"),
    ({"schema": "cunzheng.event/v3"}, "record schema must be"),
])
def test_record_from_bytes_refuses_a_bad_v2_chain(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(RecordError, match=needle):
        record_from_bytes(canonical(_v2_content(**changes)))


def test_a_v1_record_reads_as_before_and_may_not_carry_a_chain() -> None:
    draft = _draft()
    assert record_from_bytes(draft.data) == draft
    content = {**draft.content, "loan_seq": 1, "loan_prev": None}
    with pytest.raises(RecordError, match="the loan chain is 'cunzheng.event/v2'"):
        record_from_bytes(canonical(content))


def test_a_draft_leaves_room_for_its_chain() -> None:
    empty = _draft(source={"system": "core", "ref": "T-1", "pad": ""})
    filler = "x" * (MAX_RECORD_BYTES - len(empty.data) - LOAN_CHAIN_BYTES)
    draft = _draft(source={"system": "core", "ref": "T-1", "pad": filler})
    longest = chain_record(draft, 2**53 - 1, PREV)
    assert len(longest.data) <= MAX_RECORD_BYTES
    with pytest.raises(TooLarge, match="loan chain takes up to"):
        _draft(source={"system": "core", "ref": "T-1", "pad": filler + "x"})


@settings(max_examples=60, deadline=None)
@given(seq=st.integers(1, 2**53 - 1), prev=st.binary(min_size=32, max_size=32),
       loan=st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True),
       extra=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=4))
def test_chained_bytes_are_jcs_and_read_back(seq: int, prev: bytes, loan: str,
                                             extra: dict[str, str]) -> None:
    rec = chain_record(_draft(loan_id=loan, payload=extra), seq, None if seq == 1 else prev)
    import rfc8785

    assert rec.data == rfc8785.dumps(json.loads(rec.data))
    back = record_from_bytes(rec.data)
    assert back == rec and back.loan_seq == seq and back.loan_id == loan
