"""The per-process cache of API keys and producer policies (issue 17, the request hot path):
a change made in this process applies to the very next request; a change made by another
process (simulated by writing the row with plain SQL, as a second worker or a CLI run
would, which does not invalidate this process's cache) applies once
`READ_CACHE_TTL_SECONDS` has passed on the cache's clock, injected here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert, update

from anchoring.producers import ProducerRegistry
from anchoring.tables import producer_policies
from anchoring.ttl_cache import READ_CACHE_TTL_SECONDS
from service.auth import authenticate
from service.errors import AuthError
from service.settings import Settings
from service.tables import api_keys
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_in_use_revoked_through_the_api_is_refused_by_the_next_request(api: Api) -> None:
    key = api.key("auditor")
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(3):  # cached now
        assert api.client.get("/v1/log/key", headers=headers).status_code == 200
    r = api.request("DELETE", f"/v1/admin/keys/{key.split('_')[1]}", role="admin")
    assert r.status_code == 204, r.text
    r = api.client.get("/v1/log/key", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_a_second_app_in_the_same_process_sees_the_revocation_at_once(
        sqlite_settings: Settings) -> None:
    with running_api(sqlite_settings) as one, running_api(sqlite_settings) as two:
        key = one.key("auditor")
        headers = {"Authorization": f"Bearer {key}"}
        assert two.client.get("/v1/log/key", headers=headers).status_code == 200  # cached
        r = one.request("DELETE", f"/v1/admin/keys/{key.split('_')[1]}", role="admin")
        assert r.status_code == 204, r.text
        assert two.client.get("/v1/log/key", headers=headers).status_code == 401


def test_a_policy_change_through_the_api_applies_to_the_next_event(api: Api) -> None:
    assert api.request("POST", "/v1/events", json=make_event("p-1")).status_code == 201
    r = api.request("PUT", "/v1/admin/producer-policies/bank-a", role="admin",
                    json={"require_signatures": True})
    assert r.status_code == 200, r.text
    r = api.request("POST", "/v1/events", json=make_event("p-2", "L-2"))
    assert r.status_code == 422 and r.json()["reason_code"] == "producer-signature-required"
    r = api.request("PUT", "/v1/admin/producer-policies/bank-a", role="admin",
                    json={"require_signatures": False})
    assert r.status_code == 200, r.text
    assert api.request("POST", "/v1/events", json=make_event("p-3", "L-3")).status_code == 201
    assert api.ctx.store.tree_size() == 2


def test_a_revocation_by_another_process_applies_within_the_ttl(
        sqlite_settings: Settings) -> None:
    clock = FakeClock()
    with running_api(sqlite_settings) as api:
        key = api.key("auditor")
        engine = api.ctx.engine
        assert authenticate(engine, key, clock).role == "auditor"
        with engine.begin() as conn:  # what another process's revoke_key writes
            conn.execute(update(api_keys).where(api_keys.c.key_id == key.split("_")[1])
                         .values(revoked_at="2026-01-01T00:00:00Z"))
        clock.now += READ_CACHE_TTL_SECONDS * 0.9
        assert authenticate(engine, key, clock).role == "auditor"  # still the cached row
        clock.now += READ_CACHE_TTL_SECONDS * 0.2
        with pytest.raises(AuthError, match="revoked"):
            authenticate(engine, key, clock)
        # a wrong secret for a cached key id is refused whatever the cache holds
        with pytest.raises(AuthError, match="unknown"):
            authenticate(engine, key[:-2] + "xx", clock)


def test_a_policy_change_by_another_process_applies_within_the_ttl(
        sqlite_settings: Settings) -> None:
    clock = FakeClock()
    with running_api(sqlite_settings) as api:
        registry = ProducerRegistry(api.ctx.engine, clock=clock)
        assert registry.policy("bank-z").require_signatures is False
        with api.ctx.engine.begin() as conn:  # what another process's set_policy writes
            conn.execute(insert(producer_policies).values(
                tenant="bank-z", require_signatures=True, updated_at="2026-01-01T00:00:00Z"))
        clock.now += READ_CACHE_TTL_SECONDS * 0.9
        assert registry.policy("bank-z").require_signatures is False
        clock.now += READ_CACHE_TTL_SECONDS * 0.2
        policy = registry.policy("bank-z")
        assert policy.require_signatures is True and policy.explicit
        # in this process a change is seen at once, cache or not
        registry.set_policy("bank-z", False, "2026-01-01T00:00:01Z")
        assert registry.policy("bank-z").require_signatures is False
