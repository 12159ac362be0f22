"""Canonical records, signed notes and receipts."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring.errors import CheckpointError, RecordError, SignatureError
from anchoring.receipts import Receipt, sign_receipt, verify_receipt
from cunzheng_verify import merkle
from cunzheng_verify.notes import (
    Checkpoint,
    Signer,
    key_id,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from cunzheng_verify.records import (
    MalformedJSON,
    build_record,
    canonical,
    format_utc,
    parse_json,
    record_from_bytes,
)

POSTED = {
    "event_id": "e-1", "loan_id": "L-1", "type": "disbursement",
    "occurred_at": "2026-03-02T09:30:00.5+08:00",
    "payload": {"amount": "12345.60", "count": 3, "名称": "借据"},
    "source": {"system": "core", "ref": "T-1"},
}
SALT = bytes(range(32))
NOW = datetime(2026, 3, 2, 1, 30, 1, tzinfo=UTC)


def test_record_is_jcs_with_server_fields_and_utc_times() -> None:
    rec = build_record(POSTED, tenant="bank-a", received_at=NOW, salt=SALT)
    content = json.loads(rec.data)
    assert content["schema"] == "cunzheng.event/v1"
    assert content["tenant"] == "bank-a"
    assert content["occurred_at"] == "2026-03-02T01:30:00.500000Z"
    assert content["received_at"] == "2026-03-02T01:30:01Z"
    assert content["salt"] == SALT.hex()
    assert content["documents"] == []
    assert rec.data == canonical(content)
    assert list(content) == sorted(content)  # JCS orders keys
    assert rec.leaf_hash == hashlib.sha256(b"\x00" + rec.data).digest()
    assert record_from_bytes(rec.data) == rec


def test_different_salts_give_different_leaves() -> None:
    a = build_record(POSTED, tenant="bank-a", received_at=NOW, salt=SALT)
    b = build_record(POSTED, tenant="bank-a", received_at=NOW, salt=bytes(32))
    assert a.leaf_hash != b.leaf_hash


def test_non_canonical_bytes_are_refused() -> None:
    rec = build_record(POSTED, tenant="bank-a", received_at=NOW, salt=SALT)
    pretty = json.dumps(json.loads(rec.data), indent=1).encode()
    with pytest.raises(RecordError, match="canonical"):
        record_from_bytes(pretty)


def test_format_utc() -> None:
    t = datetime(2026, 1, 1, 8, 0, 0, 7, tzinfo=timezone(timedelta(hours=8)))
    assert format_utc(t) == "2026-01-01T00:00:00.000007Z"
    with pytest.raises(RecordError):
        format_utc(datetime(2026, 1, 1))


@pytest.mark.parametrize("body, error", [
    (b'{"a": 1.0}', "non-integer"),
    (b'{"a": 1e3}', "non-integer"),
    (b'{"a": NaN}', "non-integer"),
    (b'{"a": 9007199254740993}', "outside"),
    (b'{"a": 1, "a": 2}', "duplicate"),
    (b'\xef\xbb\xbf{"a": 1}', "invalid JSON"),
])
def test_strict_json(body: bytes, error: str) -> None:
    with pytest.raises(RecordError, match=error):
        parse_json(body, max_bytes=1000)


def test_json_depth_and_size_limits() -> None:
    with pytest.raises(MalformedJSON, match="deeper"):
        parse_json(b"[" * 33 + b"]" * 33, max_bytes=1000)
    assert parse_json(b'{"s": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', max_bytes=1000)
    with pytest.raises(RecordError, match="limit"):
        parse_json(b"[]" * 600, max_bytes=1000)


def test_occurred_at_needs_an_offset() -> None:
    for bad in ("2026-03-02T09:30:00", "2026-03-02", 20260302, "yesterday"):
        with pytest.raises(RecordError) as info:
            build_record({**POSTED, "occurred_at": bad}, tenant="bank-a", received_at=NOW,
                         salt=SALT)
        assert info.value.field == "occurred_at"


def _signer(name: str = "example.com/log") -> Signer:
    return Signer(name, Ed25519PrivateKey.from_private_bytes(bytes(32)))


def test_checkpoint_note_format_and_key_id() -> None:
    signer = _signer()
    root = merkle.root([merkle.leaf_hash(b"a")])
    note = sign_checkpoint(Checkpoint("example.com/log", 1, root), signer)
    body, sig_line = note.split("\n\n")
    assert body == f"example.com/log\n1\n{base64.b64encode(root).decode()}"
    assert sig_line.startswith("\u2014 example.com/log ") and note.endswith("\n")
    raw = base64.b64decode(sig_line.split(" ")[-1])
    expected_id = hashlib.sha256(b"example.com/log\n\x01" + signer.public_key).digest()[:4]
    assert raw[:4] == expected_id == key_id("example.com/log", signer.public_key)
    cp = verify_checkpoint(note, key_name="example.com/log", public_key=signer.public_key)
    assert (cp.tree_size, cp.root) == (1, root)


def test_tampered_checkpoints_are_rejected() -> None:
    signer = _signer()
    note = sign_checkpoint(Checkpoint("example.com/log", 5, bytes(32)), signer)
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(note.replace("\n5\n", "\n6\n"), key_name=signer.name,
                          public_key=signer.public_key)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(CheckpointError, match="no signature"):
        verify_checkpoint(note, key_name=signer.name, public_key=other)
    with pytest.raises(CheckpointError, match="origin"):
        verify_checkpoint(note, key_name=signer.name, public_key=signer.public_key, origin="x")
    for broken in (note.replace("\n\n", "\n"), note.replace("\u2014", "-"), "a\nb\n\n"):
        with pytest.raises(CheckpointError):
            parse_checkpoint(broken)


def test_receipts_verify_and_detect_changes() -> None:
    signer = _signer()
    signed = sign_receipt(Receipt("example.com/log", 4, bytes(range(32)), "2026-03-02T01:30:01Z"),
                          signer)
    assert signed["evidence_id"] == "example.com/log#4"
    assert sign_receipt(Receipt("example.com/log", 4, bytes(range(32)), "2026-03-02T01:30:01Z"),
                        signer) == signed  # deterministic: replays get the same receipt
    verify_receipt(signed, key_name=signer.name, public_key=signer.public_key)
    for field, value in (("leaf_index", 5), ("received_at", "2026-03-02T01:30:02Z")):
        with pytest.raises(SignatureError):
            verify_receipt({**signed, field: value, "evidence_id": signed["evidence_id"]
                            if field != "leaf_index" else "example.com/log#5"},
                           key_name=signer.name, public_key=signer.public_key)


_json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text()
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_canonical_fast_path_equals_the_reference_jcs(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        with pytest.raises(RecordError):
            canonical(value)
        return
    assert canonical(value) == expected


def test_canonical_orders_keys_by_utf16_and_escapes_like_jcs() -> None:
    value = {"\U0001f600": 1, "\ue000": 2, "a\u0000\u001f\"\\\u2028": "\u00e9\u007f"}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical({"x": 1.5}) == rfc8785.dumps({"x": 1.5})  # floats take the reference path


def test_deep_nesting_is_refused_before_parsing_whatever_the_recursion_limit() -> None:
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)  # as some libraries do; the parser must not rely on it
    try:
        for body in (b"[" * 200_000, b'{"a":' * 100_000, b'["' + b"[" * 100 + b'"]'):
            if body.startswith(b'["'):
                assert parse_json(body, max_bytes=10**7) == ["[" * 100]
                continue
            with pytest.raises(MalformedJSON, match="nested deeper"):
                parse_json(body, max_bytes=10**7)
    finally:
        sys.setrecursionlimit(old)
