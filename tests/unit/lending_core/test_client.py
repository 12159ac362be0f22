"""The lending client against a fake transport: signing, retries with backoff, refusals,
receipt verification and the receipt store. (The real app: tests/integration/test_simulate.)"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lending_core.client import (
    LedgerClient,
    LedgerRequestError,
    LedgerUnavailable,
    LogKey,
    ReceiptError,
    ReceiptStore,
    producer_key_id,
    sign_event,
    verify_receipt,
)

LOG_KEY = Ed25519PrivateKey.generate()
LOG = LogKey("test.local/log", "test.local/log", LOG_KEY.public_key().public_bytes_raw())


def receipt(index: int) -> dict[str, Any]:
    body = {"schema": "cunzheng.receipt/v1", "origin": LOG.origin,
            "evidence_id": f"{LOG.origin}#{index}", "leaf_index": index,
            "leaf_hash": hashlib.sha256(str(index).encode()).hexdigest(),
            "received_at": "2026-01-01T00:00:00Z"}
    return {**body, "key_name": LOG.key_name, "key_id": LOG.key_id.hex(),
            "signature": base64.b64encode(LOG_KEY.sign(rfc8785.dumps(body))).decode()}


def event(n: int) -> dict[str, Any]:
    return {"event_id": f"e-{n}", "loan_id": "L-1", "type": "credit_decision",
            "occurred_at": "2024-03-01T10:00:00+08:00", "payload": {"x": n}, "documents": [],
            "source": {"system": "test"}}


class FakeLedger:
    """Answers like the ledger; `script` gives the status (or exception) of each batch post."""

    def __init__(self, script: list[Any] | None = None) -> None:
        self.script = list(script or [])
        self.batches: list[list[dict[str, Any]]] = []
        self.leaves = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/log/key":
            return httpx.Response(200, json={
                "origin": LOG.origin, "key_name": LOG.key_name,
                "public_key": base64.b64encode(LOG.public_key).decode()})
        if request.url.path.startswith("/v1/documents/"):
            assert hashlib.sha256(request.content).hexdigest() == request.url.path.rsplit("/")[-1]
            return httpx.Response(201, json={})
        step = self.script.pop(0) if self.script else 201
        if isinstance(step, Exception):
            raise step
        if step != 201:
            return httpx.Response(step, json={"detail": "refused", "item": 1})
        events = json.loads(request.content)["events"]
        self.batches.append(events)
        out = [receipt(self.leaves + i) for i in range(len(events))]
        self.leaves += len(events)
        return httpx.Response(201, json={"receipts": out})


def client(fake: FakeLedger, **kw: Any) -> tuple[LedgerClient, list[float]]:
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(fake), base_url="http://ledger")
    return LedgerClient(None, "k", http=http, sleep=sleeps.append, **kw), sleeps


def test_events_are_signed_over_their_jcs_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_event(event(1), key)
    sig = signed["producer_signature"]
    assert sig["key_id"] == producer_key_id(key.public_key().public_bytes_raw())
    key.public_key().verify(base64.b64decode(sig["sig"]), rfc8785.dumps(event(1)))
    assert sign_event(signed, key) == signed  # re-signing replaces, deterministically


def test_batches_and_receipts(tmp_path: Path) -> None:
    fake = FakeLedger()
    store = ReceiptStore(tmp_path)
    c, _ = client(fake, batch_size=2, receipts=store)
    receipts = c.post_events(event(n) for n in range(5))
    assert [len(b) for b in fake.batches] == [2, 2, 1] and len(receipts) == 5
    assert len(store) == 5 and store.get("e-4") == receipt(4)
    store.close()
    reopened = ReceiptStore(tmp_path)
    reopened.add("e-0", "L-1", receipt(0))  # known: not written twice
    reopened.close()
    assert len((tmp_path / "receipts.jsonl").read_text().splitlines()) == 5


def test_retries_5xx_and_connection_errors_with_backoff() -> None:
    fake = FakeLedger([503, httpx.ConnectError("refused"), 502, 201])
    c, sleeps = client(fake)
    assert len(c.post_events([event(1)])) == 1
    assert sleeps == [0.25, 0.5, 1.0] and c.retries == 3


def test_gives_up_after_the_retries() -> None:
    c, sleeps = client(FakeLedger([500] * 10), max_retries=2)
    with pytest.raises(LedgerUnavailable, match="3 attempts; last: HTTP 500"):
        c.post_events([event(1)])
    assert len(sleeps) == 2


def test_4xx_is_raised_at_once_with_the_item() -> None:
    c, sleeps = client(FakeLedger([422]))
    with pytest.raises(LedgerRequestError) as info:
        c.post_events([event(1), event(2)])
    assert info.value.status == 422 and info.value.item == 1 and sleeps == []


def test_documents_are_put_under_their_hash() -> None:
    c, _ = client(FakeLedger())
    assert c.upload_document(b"%PDF-1.7", "application/pdf") == hashlib.sha256(
        b"%PDF-1.7").hexdigest()


@pytest.mark.parametrize("change", [
    {"leaf_index": 8}, {"evidence_id": "test.local/log#8"}, {"origin": "other"},
    {"key_id": "00000000"}, {"signature": base64.b64encode(b"x" * 64).decode()},
    {"signature": "not base64!"}, {"leaf_hash": "zz"}])
def test_a_tampered_receipt_does_not_verify(change: dict[str, Any]) -> None:
    verify_receipt(receipt(7), LOG)
    with pytest.raises(ReceiptError):
        verify_receipt({**receipt(7), **change}, LOG)


def test_a_bad_receipt_from_the_ledger_is_an_error() -> None:
    fake = FakeLedger()
    c, _ = client(fake)
    c._log_key = LogKey(LOG.origin, LOG.key_name,
                        Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    with pytest.raises(ReceiptError):
        c.post_events([event(1)])
