"""Issue 10, the low findings, each written as the attack that found it: a document existence
oracle across tenants, citing another tenant's document, far-future dates, error messages
that do not echo what was sent, files readable by other users, admin input unchecked."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from anchoring.tables import document_tenants, leaves
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _put(api: Api, data: bytes, tenant: str) -> Any:
    return api.request("PUT", f"/v1/documents/{hashlib.sha256(data).hexdigest()}",
                       tenant=tenant, content=data, headers={"content-type": "application/pdf"})


def _cite(data: bytes) -> dict[str, Any]:
    return {"role": "contract", "sha256": hashlib.sha256(data).hexdigest(),
            "media_type": "application/pdf", "filename": "合同.pdf", "size": len(data)}


def _leaf_count(api: Api) -> int:
    with api.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(leaves)).scalar_one())


# --- documents: no existence oracle, no citing another tenant's upload ----------------------


def test_upload_answer_does_not_reveal_another_tenants_document(api: Api) -> None:
    """The attack: bank-b uploads a guessed contract and reads 200 ("already there") when
    bank-a holds it. The answer must be the one bank-b gets for a document nobody has."""
    held_by_a = "借款合同 bank-a 机密".encode() * 40
    held_by_nobody = "借款合同 nobody".encode() * 40
    assert _put(api, held_by_a, "bank-a").status_code == 201
    probe, control = _put(api, held_by_a, "bank-b"), _put(api, held_by_nobody, "bank-b")
    assert (probe.status_code, control.status_code) == (201, 201), (probe.text, control.text)
    assert probe.json().keys() == control.json().keys()
    # the tenant's own repeat is still recognised (idempotent, 200)
    assert _put(api, held_by_a, "bank-b").status_code == 200
    assert _put(api, held_by_a, "bank-a").status_code == 200


def test_an_event_may_not_cite_another_tenants_document(api: Api) -> None:
    secret = "借款合同 bank-a 专有".encode() * 40
    assert _put(api, secret, "bank-a").status_code == 201
    before = _leaf_count(api)
    r = api.request("POST", "/v1/events", tenant="bank-b",
                    json=make_event("steal-1", "L-X", documents=[_cite(secret)]))
    assert r.status_code == 422, r.text
    body = r.json()
    sha = hashlib.sha256(secret).hexdigest()
    assert sha in body["detail"] and "bank-b" in body["detail"], body
    assert body["errors"][0]["field"] == "documents[0].sha256"
    assert _leaf_count(api) == before
    # a document nobody uploaded is refused the same way (same words, same field)
    ghost = b"never uploaded"
    r2 = api.request("POST", "/v1/events", tenant="bank-b",
                     json=make_event("steal-2", "L-X", documents=[_cite(ghost)]))
    assert r2.status_code == 422
    assert r2.json()["detail"].replace(hashlib.sha256(ghost).hexdigest(), "H") == \
        body["detail"].replace(sha, "H")
    # in a batch, the whole batch is refused and the item is named
    r3 = api.post_events([make_event("ok-1", "L-Y"),
                          make_event("steal-3", "L-X", documents=[_cite(secret)])],
                         tenant="bank-b")
    assert r3.status_code == 422 and r3.json()["item"] == 1, r3.text
    assert _leaf_count(api) == before
    # once bank-b uploads the same bytes itself, it may cite them
    assert _put(api, secret, "bank-b").status_code == 201
    ok = api.request("POST", "/v1/events", tenant="bank-b",
                     json=make_event("own-1", "L-X", documents=[_cite(secret)]))
    assert ok.status_code == 201, ok.text
    with api.ctx.engine.connect() as conn:
        owners = {r[0] for r in conn.execute(select(document_tenants.c.tenant)
                                             .where(document_tenants.c.sha256 == sha))}
    assert owners == {"bank-a", "bank-b"}


# --- occurred_at: no events from the future; errors echo what was sent ----------------------


@pytest.mark.parametrize("when", ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                  "9999-12-31T23:59:59.999999+14:00"])
def test_far_future_occurred_at_is_refused(api: Api, when: str) -> None:
    r = api.request("POST", "/v1/events", json=make_event("future-1", occurred_at=when))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"][0]["field"] == "occurred_at"
    assert repr(when) in body["detail"], body
    assert "future" in body["detail"] or "outside years" in body["detail"], body
    assert _leaf_count(api) == 0


def test_future_skew_is_a_setting(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime, timedelta

    from cunzheng_verify.records import format_utc

    soon = format_utc(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=120))
    monkeypatch.setenv("CUNZHENG_MAX_FUTURE_SKEW", "30")
    strict = Settings(data_dir=tmp_path / "strict", checkpoint_interval=0.05, anchor_enabled=False)
    assert strict.max_future_skew == 30
    with running_api(strict) as api:
        r = api.request("POST", "/v1/events", json=make_event("soon-1", occurred_at=soon))
        assert r.status_code == 422 and "30 s" in r.json()["detail"], r.text
    monkeypatch.delenv("CUNZHENG_MAX_FUTURE_SKEW")
    default = Settings(data_dir=tmp_path / "default", checkpoint_interval=0.05,
                       anchor_enabled=False)
    assert default.max_future_skew == 300
    with running_api(default) as api:  # two minutes ahead: within the default 300 s
        r = api.request("POST", "/v1/events", json=make_event("soon-1", occurred_at=soon))
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00",
                                  "2026-02-30T00:00:00.1234567z"])
def test_time_errors_echo_exactly_what_was_sent(api: Api, sent: str) -> None:
    r = api.request("POST", "/v1/events", json=make_event("odd-1", occurred_at=sent))
    assert r.status_code == 422, r.text
    assert f"got {sent!r}" in r.json()["detail"], r.json()
    assert _leaf_count(api) == 0


def test_year_one_is_kept_as_sent_not_as_1_01_01(api: Api) -> None:
    """The attack sent 0001-01-01T00:00:00Z and read an error quoting '1-01-01T00:00:00Z'
    (the record's own time format dropped the year's zeros)."""
    sent = "0001-01-01T00:00:00Z"
    r = api.request("POST", "/v1/events", json=make_event("old-1", occurred_at=sent))
    assert "'1-01-01" not in r.text, r.text
    if r.status_code == 201:
        stored = api.request("GET", "/v1/events/old-1").json()
        assert f'"occurred_at":"{sent}"' in stored["record"]
    else:
        # the loan's rules refuse it (decided before it occurred), quoting the year whole
        assert r.status_code == 422 and "0001-01-01T00:00:00" in r.json()["detail"], r.text


# --- admin input: checked like `cunzheng keys create`; unknown keys are 404 ------------------


def _keys(api: Api) -> list[dict[str, Any]]:
    return list(api.request("GET", "/v1/admin/keys", role="admin").json()["keys"])


@pytest.mark.parametrize(("body", "field", "needle"), [
    ({"role": "auditor", "tenant": "bank-a"}, "tenant", "only lender keys have a tenant"),
    ({"role": "admin", "tenant": "bank-a"}, "tenant", "only lender keys have a tenant"),
    ({"role": "lender", "tenant": "<script>"}, "tenant", "'<script>'"),
    ({"role": "lender"}, "tenant", "needs a tenant"),
    ({"role": "lender", "tenant": "bank-a", "label": "x\u202eevil\x1b[2J"}, "label", "U+202E"),
])
def test_admin_key_input_is_checked(api: Api, body: dict[str, Any], field: str,
                                    needle: str) -> None:
    before = _keys(api)
    r = api.request("POST", "/v1/admin/keys", role="admin", json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert needle in problem["detail"] and problem["errors"][0]["field"] == field, problem
    assert _keys(api) == before


def test_the_cli_refuses_the_same_key_input(settings: Settings) -> None:
    from typer.testing import CliRunner

    from service.cli import app

    if not settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("the CLI test needs only one database")
    args = ["--database-url", settings.resolved_database_url]
    umask = os.umask(0o077)  # the CLI sets its own; give the rest of this process its own back
    try:
        r = CliRunner().invoke(app, ["keys", "create", "--role", "auditor", "--tenant",
                                     "bank-a", *args])
        ok = CliRunner().invoke(app, ["keys", "create", "--role", "auditor", *args])
    finally:
        os.umask(umask)
    assert r.exit_code == 2 and "only lender keys have a tenant" in r.output, r.output
    assert ok.exit_code == 0, ok.output


def test_producer_key_for_a_script_tenant_is_refused(api: Api) -> None:
    import base64

    r = api.request("POST", "/v1/admin/producer-keys", role="admin",
                    json={"tenant": "<script>", "public_key": base64.b64encode(
                        bytes(range(32))).decode()})
    assert r.status_code == 422 and "'<script>'" in r.json()["detail"], r.text
    assert api.request("GET", "/v1/admin/producer-keys", role="admin").json()["keys"] == []


def test_deleting_an_unknown_key_is_404_and_a_revoked_one_says_when(api: Api) -> None:
    r = api.request("DELETE", "/v1/admin/keys/0123456789abcdef", role="admin")
    assert r.status_code == 404 and "0123456789abcdef" in r.json()["detail"], r.text
    victim = api.key("auditor")
    key_id = victim.split("_")[1]
    assert api.request("DELETE", f"/v1/admin/keys/{key_id}", role="admin").status_code == 204
    again = api.request("DELETE", f"/v1/admin/keys/{key_id}", role="admin")
    assert again.status_code == 400 and "already revoked at" in again.json()["detail"], again.text
