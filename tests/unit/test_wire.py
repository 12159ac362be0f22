"""The wire format the lender's client and the log share lives in `cunzheng_verify.wire` only."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchoring import producers, receipts
from anchoring.errors import SignatureError
from cunzheng_verify import notes, wire
from cunzheng_verify.notes import Signer
from lending_core import client


def test_both_sides_use_the_one_definition() -> None:
    assert client.producer_key_id is producers.producer_key_id is wire.producer_key_id
    assert notes.key_id is wire.note_key_id
    assert client.RECEIPT_SCHEMA == receipts.RECEIPT_SCHEMA == "cunzheng.receipt/v1"
    assert receipts.evidence_id is wire.evidence_id


def test_the_wire_module_imports_nothing_from_the_project() -> None:
    code = ("import sys, json, cunzheng_verify.wire; "
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    loaded = set(json.loads(done.stdout))
    assert not {m.split(".")[0] for m in loaded} & {"lending_core", "anchoring", "dispute",
                                                     "service"}
    assert {m for m in loaded if m.startswith("cunzheng_verify.")} == {"cunzheng_verify.wire"}


def test_key_ids_are_the_documented_hashes() -> None:
    public = bytes(range(32))
    assert wire.producer_key_id(public) == hashlib.sha256(public).hexdigest()[:16]
    assert wire.note_key_id("example.com/log", public) == hashlib.sha256(
        b"example.com/log\n\x01" + public).digest()[:4]


def test_a_receipt_the_log_signs_the_client_accepts_and_a_changed_one_neither() -> None:
    signer = Signer("example.com/log", Ed25519PrivateKey.generate())
    signed = receipts.sign_receipt(
        receipts.Receipt("example.com/log", 7, bytes(32), "2026-03-02T01:30:01Z"), signer)
    key = client.LogKey("example.com/log", signer.name, signer.public_key)
    client.verify_receipt(signed, key)
    receipts.verify_receipt(signed, key_name=signer.name, public_key=signer.public_key)
    assert signed["evidence_id"] == "example.com/log#7"
    changed = {**signed, "received_at": "2026-03-02T01:30:02Z"}
    with pytest.raises(client.ReceiptError, match="does not verify"):
        client.verify_receipt(changed, key)
    with pytest.raises(SignatureError):
        receipts.verify_receipt(changed, key_name=signer.name, public_key=signer.public_key)


@pytest.mark.parametrize("change", [
    {}, {"leaf_index": 8}, {"leaf_index": "7"}, {"leaf_index": True},
    {"evidence_id": "example.com/log#8"}, {"origin": "other"}, {"schema": "other/v1"},
    {"leaf_hash": "AB" * 32}, {"leaf_hash": "zz"}, {"key_id": "00000000"},
    {"signature": base64.b64encode(b"x" * 64).decode()}, {"signature": "not base64!"},
    {"received_at": None}])
def test_the_client_and_the_log_run_the_one_receipt_check(change: dict[str, object]) -> None:
    assert receipts.check_receipt is client.check_receipt  # both import cunzheng_verify's
    signer = Signer("example.com/log", Ed25519PrivateKey.generate())
    signed = {**receipts.sign_receipt(
        receipts.Receipt("example.com/log", 7, bytes(32), "2026-03-02T01:30:01Z"), signer),
        **change}
    key = client.LogKey("example.com/log", signer.name, signer.public_key)
    if not change:
        client.verify_receipt(signed, key)
        got = receipts.verify_receipt(signed, key_name=signer.name, public_key=signer.public_key)
        assert got == receipts.Receipt("example.com/log", 7, bytes(32), "2026-03-02T01:30:01Z")
        return
    with pytest.raises(client.ReceiptError) as refused_by_client:
        client.verify_receipt(signed, key)
    with pytest.raises(SignatureError) as refused_by_log:
        receipts.verify_receipt(signed, key_name=signer.name, public_key=signer.public_key)
    if "origin" not in change:  # the client also knows which log it posts to
        assert str(refused_by_client.value) == str(refused_by_log.value)


def test_a_producer_signature_the_client_makes_is_what_the_log_checks() -> None:
    key = Ed25519PrivateKey.generate()
    event = {"event_id": "E-1", "type": "credit_decision", "payload": {"amount": "1.00"}}
    signed = client.sign_event(event, key)
    public = key.public_key().public_bytes_raw()
    assert signed["producer_signature"]["key_id"] == wire.producer_key_id(public)
    signature = base64.b64decode(signed["producer_signature"]["sig"])
    key.public_key().verify(signature, producers.producer_message(signed))
