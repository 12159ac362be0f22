"""The ingestion and log API against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from anchoring.receipts import verify_receipt
from cunzheng_verify import merkle
from cunzheng_verify.notes import verify_checkpoint
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _log_key(api: Api) -> tuple[str, bytes]:
    body = api.request("GET", "/v1/log/key", role="auditor").json()
    return body["key_name"], base64.b64decode(body["public_key"])


def test_post_event_returns_a_receipt_the_log_key_verifies(api: Api) -> None:
    r = api.request("POST", "/v1/events", json=make_event("e-1", "L-1"))
    assert r.status_code == 201, r.text
    receipt = r.json()
    name, pub = _log_key(api)
    checked = verify_receipt(receipt, key_name=name, public_key=pub)
    assert checked.leaf_index == 0 and receipt["evidence_id"].endswith("#0")
    stored = api.request("GET", "/v1/events/e-1").json()
    assert merkle.leaf_hash(stored["record"].encode()) == bytes.fromhex(receipt["leaf_hash"])
    assert '"salt":"' in stored["record"] and '"tenant":"bank-a"' in stored["record"]
    assert '"occurred_at":"2026-03-02T01:30:00Z"' in stored["record"]


def test_same_event_again_returns_the_original_receipt(api: Api) -> None:
    event = make_event("e-1", "L-1")
    first = api.request("POST", "/v1/events", json=event)
    again = api.request("POST", "/v1/events", json=event)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert api.ctx.store.tree_size() == 1


def test_same_id_with_other_content_is_a_409_with_both_hashes(api: Api) -> None:
    api.request("POST", "/v1/events", json=make_event("e-1", "L-1"))
    r = api.request("POST", "/v1/events", json=make_event("e-1", "L-1", source={"system": "x"}))
    assert r.status_code == 409
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert len(body["existing_hash"]) == 64 and len(body["new_hash"]) == 64
    assert body["existing_hash"] != body["new_hash"]
    assert body["existing_hash"] in body["detail"] and body["new_hash"] in body["detail"]


def test_tenants_have_separate_event_ids_and_cannot_read_each_other(api: Api) -> None:
    assert api.request("POST", "/v1/events", json=make_event("e-1", "L-1")).status_code == 201
    r = api.request("POST", "/v1/events", tenant="bank-b", json=make_event("e-1", "L-1"))
    assert r.status_code == 201 and r.json()["leaf_index"] == 1
    assert api.request("GET", "/v1/events/e-1", tenant="bank-b").json()["leaf_index"] == 1
    assert api.request("GET", "/v1/records/0", tenant="bank-b").status_code == 404
    assert api.request("GET", "/v1/records/0", role="legal").status_code == 200


def test_batch_is_all_or_nothing(api: Api) -> None:
    good = [make_event(f"e-{i}", f"L-{i}") for i in range(5)]
    bad = make_event("e-bad", "L-bad")
    bad["payload"] = {**bad["payload"], "unexpected": "x"}
    r = api.post_events(good + [bad])
    assert r.status_code == 422
    assert r.json()["item"] == 5
    assert any("unexpected" in e["field"] for e in r.json()["errors"])
    assert api.ctx.store.tree_size() == 0
    r = api.post_events(good + [good[0]])
    assert r.status_code == 201
    receipts = r.json()["receipts"]
    assert [x["leaf_index"] for x in receipts] == [0, 1, 2, 3, 4, 0]
    assert [x["replay"] for x in receipts] == [False] * 5 + [True]


@pytest.mark.parametrize("body, status, needle", [
    (b'{"event_id": "a", "amount": 1.5}', 422, "non-integer JSON number"),
    (b'{"event_id": "a", "event_id": "b"}', 400, "duplicate JSON key"),
    (b'{"event_id": "\xff"}', 400, "not valid UTF-8"),
    (b"[" * 100 + b"]" * 100, 400, "nested deeper"),
    (b'{"x": 123456789012345678901234567890}', 422, "outside"),
    (b'{"event_id": "a"', 400, "invalid JSON"),
])
def test_malformed_bodies_get_a_clear_4xx(api: Api, body: bytes, status: int, needle: str) -> None:
    r = api.request("POST", "/v1/events", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    assert api.ctx.store.tree_size() == 0


@pytest.mark.parametrize("change, field", [
    ({"type": "loan_teleported"}, "type"),
    ({"occurred_at": "2026-03-02 09:30"}, "occurred_at"),
    ({"event_id": "has space"}, "event_id"),
    ({"documents": [{"role": "c", "sha256": "ab", "media_type": "a/b", "filename": "f",
                     "size": 1}]}, "documents[0].sha256"),
    ({"documents": [{"role": "c", "sha256": "a" * 64, "media_type": "a/b",
                     "filename": "../../etc/passwd", "size": 1}]}, "documents[0].filename"),
    ({"unknown_top": 1}, "unknown_top"),
])
def test_invalid_events_name_the_field(api: Api, change: dict, field: str) -> None:
    r = api.request("POST", "/v1/events", json={**make_event("e-1"), **change})
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()


def test_missing_field_and_bad_amount_are_named(api: Api) -> None:
    event = make_event("e-1")
    del event["source"]
    r = api.request("POST", "/v1/events", json=event)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "source"
    event = make_event("e-2", type_="credit_decision")
    money_field = next(k for k, v in event["payload"].items()
                       if isinstance(v, str) and v.replace(".", "").isdigit() and "." in v)
    event["payload"][money_field] = 100
    r = api.request("POST", "/v1/events", json=event)
    assert r.status_code == 422
    assert any(money_field in e["field"] for e in r.json()["errors"])


def test_oversized_body_is_413_and_writes_nothing(api: Api) -> None:
    limit = api.ctx.settings.max_body_bytes
    r = api.request("POST", "/v1/events/batch", content=b" " * (limit + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    big = make_event("e-1", source={"system": "x" * 70_000})
    r = api.request("POST", "/v1/events", json=big)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert api.ctx.store.tree_size() == 0


def test_keys_and_roles(api: Api) -> None:
    event = make_event("e-1")
    assert api.client.post("/v1/events", json=event).status_code == 401
    r = api.client.post("/v1/events", json=event, headers={"Authorization": "Bearer cz_00_nope"})
    assert r.status_code == 401 and r.json()["detail"] == "unknown API key"
    for role in ("auditor", "verifier", "legal", "admin"):
        r = api.request("POST", "/v1/events", role=role, json=event)
        assert r.status_code == 403, role
        assert "may not" in r.json()["detail"]
    assert api.request("GET", "/v1/admin/keys", role="lender").status_code == 403
    assert api.request("GET", "/v1/admin/keys", role="admin").status_code == 200
    assert api.ctx.store.tree_size() == 0


def test_documents_are_checked_against_their_hash(api: Api) -> None:
    data = "借款合同 第1条".encode() * 100
    digest = hashlib.sha256(data).hexdigest()
    wrong = hashlib.sha256(b"other").hexdigest()
    r = api.request("PUT", f"/v1/documents/{wrong}", content=data,
                    headers={"content-type": "application/pdf"})
    assert r.status_code == 422 and digest in r.json()["detail"]
    r = api.request("PUT", f"/v1/documents/{digest}", content=data,
                    headers={"content-type": "application/pdf"})
    assert r.status_code == 201
    got = api.request("GET", f"/v1/documents/{digest}")
    assert got.content == data and got.headers["content-type"] == "application/pdf"
    assert api.request("GET", f"/v1/documents/{digest}", tenant="bank-b").status_code == 404
    assert api.request("GET", f"/v1/documents/{digest}", role="legal").status_code == 200
    assert api.request("PUT", "/v1/documents/xyz", content=data).status_code == 422


def test_proofs_verify_with_the_standard_library(api: Api) -> None:
    events = [make_event(f"e-{i}", f"L-{i}") for i in range(37)]
    receipts = api.post_events(events[:20]).json()["receipts"]
    first = api.wait_checkpoint(20)
    receipts += api.post_events(events[20:]).json()["receipts"]
    latest = api.wait_checkpoint(37)
    name, pub = _log_key(api)
    cp = verify_checkpoint(latest["note"], key_name=name, public_key=pub,
                           origin=api.ctx.settings.log_origin)
    assert cp.tree_size == 37 and cp.root.hex() == latest["root"]
    for receipt in receipts:
        for query in (f"leaf_index={receipt['leaf_index']}", f"leaf_hash={receipt['leaf_hash']}"):
            p = api.request("GET", f"/v1/log/proofs/inclusion?{query}", role="auditor").json()
            merkle.verify_inclusion(p["leaf_index"], p["tree_size"],
                                    bytes.fromhex(receipt["leaf_hash"]),
                                    [bytes.fromhex(h) for h in p["audit_path"]], cp.root)
    c = api.request("GET", f"/v1/log/proofs/consistency?first={first['tree_size']}&second=37",
                    role="auditor").json()
    merkle.verify_consistency(first["tree_size"], 37, [bytes.fromhex(h) for h in c["proof"]],
                              bytes.fromhex(first["root"]), cp.root)
    leaves = api.request("GET", "/v1/log/leaves?start=0&end=37", role="verifier").json()
    assert merkle.root([bytes.fromhex(h) for h in leaves["leaf_hashes"]]) == cp.root
    assert api.request("GET", "/v1/log/leaves?start=0&end=38", role="auditor").status_code == 404
    assert api.request("GET", "/v1/log/checkpoints/999", role="auditor").status_code == 404
    note = api.request("GET", "/v1/log/checkpoints/37/note", role="auditor")
    assert note.text == latest["note"]


def test_an_event_false_on_its_own_is_a_422_that_says_why(api: Api) -> None:
    # value date 2024-03-05 after the event's own date: no later event can make it true
    r = api.request("POST", "/v1/events", json=make_event(
        "d-1", "L-9", type_="disbursement", occurred_at="2024-03-04T09:00:00+08:00"))
    assert r.status_code == 422
    assert r.json()["reason_code"] == "future_dated" and "2024-03-05" in r.json()["detail"]
    assert api.ctx.store.tree_size() == 0


def test_serve_schedules_the_monitoring_job_per_tenant(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "m", anchor_enabled=False,
                        monitoring_tenants="bank-a, bank-b", monitoring_interval=3600)
    with running_api(settings) as a:
        scheduler = a.client.app.state.scheduler
        assert {j.id for j in scheduler.get_jobs()} == {"monitoring:bank-a", "monitoring:bank-b"}


def test_producer_signatures_from_the_client_library_verify_on_the_server(api: Api) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from anchoring.log import producer_key_id as server_key_id
    from lending_core.client import producer_key_id, sign_event

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    assert producer_key_id(public) == server_key_id(public)  # two copies, one definition
    r = api.request("POST", "/v1/admin/producer-keys", role="admin",
                    json={"tenant": "bank-a", "public_key": base64.b64encode(public).decode()})
    assert r.status_code == 201
    signed = sign_event(make_event("p-1", "L-P"), key)
    assert api.request("POST", "/v1/events", json=signed).status_code == 201
    forged = sign_event(make_event("p-2", "L-Q"), Ed25519PrivateKey.generate())
    forged["producer_signature"]["key_id"] = signed["producer_signature"]["key_id"]
    r = api.request("POST", "/v1/events", json=forged)
    assert r.status_code == 422 and "signature" in r.json()["detail"]
