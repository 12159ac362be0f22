"""Producer signatures per tenant policy (issue 10, build 3), written as the attack: a
stolen lender API key alone must not post in a tenant's name once the tenant registered a
producer key. Refusals are RFC 9457 problems with a reason code, and nothing is written.
Rotation: a retired key signs no new event, and the events it signed still verify."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from anchoring.errors import ProducerSignatureError
from anchoring.producers import verify_record_signature
from lending_core.client import sign_event
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

UTC_TIME = "2026-03-02T01:30:00Z"  # the record keeps it as posted, so the signature re-verifies


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _register(api: Api, key: Ed25519PrivateKey, tenant: str = "bank-a") -> str:
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    r = api.request("POST", "/v1/admin/producer-keys", role="admin",
                    json={"tenant": tenant, "public_key": public})
    assert r.status_code == 201, r.text
    return str(r.json()["key_id"])


def _refused(r: Any, reason: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["type"].endswith("/producer-signature-refused")
    assert body["reason_code"] == reason
    return body


def test_a_tenant_without_producer_keys_takes_unsigned_events(api: Api) -> None:
    assert api.request("POST", "/v1/events", json=make_event("u-1", "L-1")).status_code == 201
    policy = api.request("GET", "/v1/admin/producer-policies/bank-a", role="admin").json()
    assert policy == {"tenant": "bank-a", "require_signatures": False, "source": "default",
                      "active_keys": []}


def test_once_a_key_is_registered_a_stolen_api_key_alone_cannot_post(api: Api) -> None:
    key = Ed25519PrivateKey.generate()
    kid = _register(api, key)
    policy = api.request("GET", "/v1/admin/producer-policies/bank-a", role="admin").json()
    assert policy["require_signatures"] is True and policy["active_keys"] == [kid]

    body = _refused(api.request("POST", "/v1/events", json=make_event("s-1", "L-1")),
                    "producer-signature-required")
    assert "requires producer signatures" in body["detail"]
    # one unsigned event in a batch refuses the batch: all or nothing
    batch = [sign_event(make_event("s-2", "L-2"), key), make_event("s-3", "L-3")]
    body = _refused(api.post_events(batch), "producer-signature-required")
    assert body["item"] == 1
    assert api.ctx.store.tree_size() == 0
    assert api.request("GET", "/v1/events/s-2").status_code == 404

    assert api.request("POST", "/v1/events",
                       json=sign_event(make_event("s-4", "L-4"), key)).status_code == 201
    assert api.ctx.store.tree_size() == 1
    # other tenants keep their own (default) policy
    assert api.request("POST", "/v1/events", tenant="bank-b",
                       json=make_event("b-1", "L-1")).status_code == 201


def test_wrongly_signed_or_unknown_key_is_refused_and_nothing_written(api: Api) -> None:
    key = Ed25519PrivateKey.generate()
    _register(api, key)
    forged = sign_event(make_event("f-1", "L-1"), Ed25519PrivateKey.generate())
    _refused(api.request("POST", "/v1/events", json=forged), "producer-key-unknown")
    forged["producer_signature"]["key_id"] = sign_event(forged, key)["producer_signature"]["key_id"]
    _refused(api.request("POST", "/v1/events", json=forged), "producer-signature-invalid")
    tampered = sign_event(make_event("f-2", "L-1"), key)
    tampered["source"] = {"system": "elsewhere"}  # signed content changed after signing
    _refused(api.request("POST", "/v1/events", json=tampered), "producer-signature-invalid")
    not_b64 = sign_event(make_event("f-3", "L-1"), key)
    not_b64["producer_signature"]["sig"] = "***"
    _refused(api.request("POST", "/v1/events", json=not_b64), "producer-signature-invalid")
    assert api.ctx.store.tree_size() == 0


def test_an_admin_can_turn_the_requirement_off_and_on_explicitly(api: Api) -> None:
    key = Ed25519PrivateKey.generate()
    _register(api, key)
    r = api.request("PUT", "/v1/admin/producer-policies/bank-a", role="admin",
                    json={"require_signatures": False})
    assert r.status_code == 200 and r.json()["source"] == "explicit"
    assert r.json()["require_signatures"] is False
    assert api.request("POST", "/v1/events", json=make_event("o-1", "L-1")).status_code == 201
    # a signature that is present is still checked under a relaxed policy
    forged = sign_event(make_event("o-2", "L-1"), Ed25519PrivateKey.generate())
    _refused(api.request("POST", "/v1/events", json=forged), "producer-key-unknown")
    # a tenant with no key can be made to require signatures ahead of its first key
    r = api.request("PUT", "/v1/admin/producer-policies/bank-c", role="admin",
                    json={"require_signatures": True})
    assert r.json() == {"tenant": "bank-c", "require_signatures": True, "source": "explicit",
                        "active_keys": []}
    _refused(api.request("POST", "/v1/events", tenant="bank-c", json=make_event("c-1")),
             "producer-signature-required")
    assert api.ctx.store.tree_size() == 1
    # bad input to the policy route: a clear 422, nothing stored
    r = api.request("PUT", "/v1/admin/producer-policies/<script>", role="admin",
                    json={"require_signatures": True})
    assert r.status_code == 422 and "tenant" in r.json()["detail"]
    r = api.request("PUT", "/v1/admin/producer-policies/bank-a", role="admin",
                    json={"require_signatures": "maybe"})
    assert r.status_code == 422
    assert api.request("GET", "/v1/admin/producer-policies/bank-a",
                       role="admin").json()["require_signatures"] is False


def test_rotation_retires_the_old_key_and_its_events_still_verify(api: Api) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_id = _register(api, old)
    signed_old = sign_event(make_event("r-1", "L-1", occurred_at=UTC_TIME), old)
    assert api.request("POST", "/v1/events", json=signed_old).status_code == 201
    new_id = _register(api, new)
    r = api.request("POST", f"/v1/admin/producer-keys/bank-a/{old_id}/retire", role="admin")
    assert r.status_code == 200 and r.json()["status"] == "retired"
    retired_at = r.json()["retired_at"]
    again = api.request("POST", f"/v1/admin/producer-keys/bank-a/{old_id}/retire", role="admin")
    assert again.json()["retired_at"] == retired_at  # idempotent

    body = _refused(api.request("POST", "/v1/events",
                                json=sign_event(make_event("r-2", "L-2"), old)),
                    "producer-key-retired")
    assert old_id in body["detail"] and retired_at in body["detail"]
    assert api.request("POST", "/v1/events",
                       json=sign_event(make_event("r-3", "L-3"), new)).status_code == 201
    # retirement is immediate: even a retry of an event the old key signed before is refused
    assert api.request("POST", "/v1/events", json=signed_old).status_code == 422

    listed = api.request("GET", "/v1/admin/producer-keys?tenant=bank-a", role="admin").json()
    by_id = {k["key_id"]: k for k in listed["keys"]}
    assert by_id[old_id]["status"] == "retired" and by_id[new_id]["status"] == "active"
    old_public = base64.b64decode(by_id[old_id]["public_key"])
    assert old_public == old.public_key().public_bytes_raw()
    policy = api.request("GET", "/v1/admin/producer-policies/bank-a", role="admin").json()
    assert policy["active_keys"] == [new_id] and policy["require_signatures"] is True

    record = api.request("GET", "/v1/records/0", role="legal")
    assert record.status_code == 200
    content = json.loads(record.json()["record"])
    assert content["producer_signature"]["key_id"] == old_id
    verify_record_signature(content, old_public)  # the retired key still verifies it
    with pytest.raises(ProducerSignatureError):
        verify_record_signature(content, base64.b64decode(by_id[new_id]["public_key"]))
    with pytest.raises(ProducerSignatureError):
        verify_record_signature({**content, "loan_id": "L-other"}, old_public)


def test_unknown_key_is_404_and_admin_input_is_validated(api: Api) -> None:
    r = api.request("POST", "/v1/admin/producer-keys/bank-a/0123456789abcdef/retire",
                    role="admin")
    assert r.status_code == 404
    public = base64.b64encode(bytes(32)).decode()
    r = api.request("POST", "/v1/admin/producer-keys", role="admin",
                    json={"tenant": "<script>", "public_key": public})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tenant"
    assert api.request("GET", "/v1/admin/producer-keys", role="admin").json() == {"keys": []}


def test_events_the_service_derives_are_exempt_from_the_policy(api: Api) -> None:
    _register(api, Ed25519PrivateKey.generate())
    derived = make_event("m-1", "L-1")  # unsigned, as the monitoring job's events are
    with pytest.raises(Exception, match="requires producer signatures"):
        api.ctx.log.submit("bank-a", [derived])
    assert api.ctx.log.submit("bank-a", [derived], by_service=True)[0].replay is False
    assert api.ctx.store.tree_size() == 1


def test_the_cli_sets_the_policy_and_rotates_keys(sqlite_settings: Settings,
                                                  tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    from service.cli import app

    data = str(sqlite_settings.data_dir)
    runner = CliRunner()
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "producer.pub"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    r = runner.invoke(app, ["producer-keys", "register", "--tenant", "bank-a",
                            "--public-key", str(pem), "--data-dir", data])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["producer-keys", "policy", "--tenant", "bank-a", "--data-dir", data])
    assert json.loads(r.stdout)["require_signatures"] is True
    r = runner.invoke(app, ["producer-keys", "policy", "--tenant", "bank-a", "--no-require",
                            "--data-dir", data])
    assert r.exit_code == 0 and json.loads(r.stdout)["source"] == "explicit"
    assert json.loads(r.stdout)["require_signatures"] is False
    listed = json.loads(runner.invoke(app, ["producer-keys", "list", "--data-dir", data]).stdout)
    kid = listed[0]["key_id"]
    r = runner.invoke(app, ["producer-keys", "retire", kid, "--tenant", "bank-a",
                            "--data-dir", data])
    assert r.exit_code == 0, r.output
    listed = json.loads(runner.invoke(app, ["producer-keys", "list", "--data-dir", data]).stdout)
    assert listed[0]["status"] == "retired"
    r = runner.invoke(app, ["producer-keys", "retire", "ffffffffffffffff", "--tenant", "bank-a",
                            "--data-dir", data])
    assert r.exit_code == 2 and "no producer key" in r.output
    r = runner.invoke(app, ["producer-keys", "policy", "--tenant", "Bad Tenant", "--require",
                            "--data-dir", data])
    assert r.exit_code == 2 and "Traceback" not in r.output
