"""The erasure event's format (`cunzheng_verify.erasure`)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from cunzheng_verify.erasure import (
    DIGEST_DOMAIN,
    ERASURE_SYSTEM,
    ERASURE_TYPE,
    MAX_ERASED_DOCUMENTS,
    erased_records_digest,
    erasure_event,
    erasure_event_id,
    read_erasure,
)
from cunzheng_verify.errors import RecordError
from cunzheng_verify.records import build_record, read_record

AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
LEAVES = [(3, b"\x01" * 32), (9, b"\x02" * 32)]


def test_the_digest_is_over_index_and_hash_in_order() -> None:
    want = hashlib.sha256(DIGEST_DOMAIN + (3).to_bytes(8, "big") + b"\x01" * 32
                          + (9).to_bytes(8, "big") + b"\x02" * 32).hexdigest()
    assert erased_records_digest(LEAVES) == want
    assert erased_records_digest(reversed(LEAVES)) != want
    assert erased_records_digest([]) == hashlib.sha256(DIGEST_DOMAIN).hexdigest()


def test_event_ids_fit_the_record_format() -> None:
    assert erasure_event_id("L-1") == "erasure:L-1"
    long_id = erasure_event_id("L" * 128)
    assert len(long_id) <= 128 and long_id.startswith("erasure:")


def test_an_erasure_event_is_a_record_that_reads_back() -> None:
    posted = erasure_event("L-1", at=AT, erased_by="DPO 张三", basis="PIPL art. 47",
                           records=LEAVES, documents=["b" * 64, "a" * 64])
    record = build_record(posted, tenant="bank-a", received_at=AT, salt=bytes(32))
    erasure = read_erasure(read_record(record.data)[1])
    assert erasure is not None
    assert (erasure.tenant, erasure.loan_id, erasure.records) == ("bank-a", "L-1", 2)
    assert erasure.documents == ("a" * 64, "b" * 64)
    assert erasure.records_sha256 == erased_records_digest(LEAVES)
    assert record.type == ERASURE_TYPE and posted["source"]["system"] == ERASURE_SYSTEM


def test_malformed_erasures_are_refused_and_others_are_not_erasures() -> None:
    posted = erasure_event("L-1", at=AT, erased_by="x", basis="y", records=[], documents=[])
    assert read_erasure({**posted, "type": "repayment_received"}) is None
    with pytest.raises(RecordError, match="comes from"):
        read_erasure({**posted, "source": {"system": "core-banking"}})
    with pytest.raises(RecordError, match="payload.records"):
        read_erasure({**posted, "payload": {**posted["payload"], "records": True}})
    with pytest.raises(RecordError, match="64 lowercase hex"):
        read_erasure({**posted, "payload": {**posted["payload"], "documents": ["A" * 64]}})
    with pytest.raises(RecordError, match="at most"):
        erasure_event("L-1", at=AT, erased_by="x", basis="y", records=[],
                      documents=[f"{i:064x}" for i in range(MAX_ERASED_DOCUMENTS + 1)])
