"""Roles (DESIGN.md, "Roles") on every route of the app: each route is called with every
role's key and with none; the roles allowed per route are the table below. A route the
table does not name fails the test: add it here with the roles DESIGN.md gives it.

Then the must-holds: a verifier reads no records, loans or cases; a lender reads no other
tenant's events; an auditor sees hashes, never record content."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from service.context import utc_now
from service.pages.session import COOKIE, open_session
from service.settings import Settings
from tests.conftest import make_event
from tests.integration.api_client import Api, running_api

ROLES = ("admin", "lender", "legal", "auditor", "verifier")
ALL = frozenset(ROLES)
PUBLIC = None  # no key needed
LENDER = frozenset({"lender"})
CONTENT_READERS = frozenset({"lender", "legal", "admin"})
ADMIN = frozenset({"admin"})
VERIFIER = frozenset({"verifier", "admin"})

ALLOWED: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/docs/assets/{name}"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # ingestion and content: lenders (their own tenant), legal, admin
    ("POST", "/v1/events"): LENDER,
    ("POST", "/v1/events/batch"): LENDER,
    ("GET", "/v1/events/{event_id}"): LENDER,
    ("GET", "/v1/records/{leaf_index}"): CONTENT_READERS,
    ("GET", "/v1/loans/{loan_id}/events"): CONTENT_READERS,
    ("GET", "/v1/loans/{loan_id}"): CONTENT_READERS,
    # findings: codes and places for auditors (no reasons, which carry figures)
    ("GET", "/v1/loans/{loan_id}/findings"): CONTENT_READERS | {"auditor"},
    # completeness: places and hashes for auditors (no event type, no time)
    ("GET", "/v1/loans/{loan_id}/completeness"): CONTENT_READERS | {"auditor"},
    ("PUT", "/v1/documents/{sha256}"): LENDER,
    ("GET", "/v1/documents/{sha256}"): CONTENT_READERS,
    # the log as an auditor reads it (hashes only; DESIGN.md lists it in the verification API)
    ("GET", "/v1/log/key"): ALL,
    ("GET", "/v1/log/anchors"): ALL,
    ("GET", "/v1/log/checkpoint"): ALL,
    ("GET", "/v1/log/checkpoints"): ALL,
    ("GET", "/v1/log/checkpoints/{tree_size}"): ALL,
    ("GET", "/v1/log/checkpoints/{tree_size}/note"): ALL,
    ("GET", "/v1/log/proofs/inclusion"): ALL,
    ("GET", "/v1/log/proofs/consistency"): ALL,
    ("GET", "/v1/log/leaves"): ALL,
    # keys and tenants
    ("POST", "/v1/admin/keys"): ADMIN,
    ("GET", "/v1/admin/keys"): ADMIN,
    ("DELETE", "/v1/admin/keys/{key_id}"): ADMIN,
    ("POST", "/v1/admin/producer-keys"): ADMIN,
    ("GET", "/v1/admin/producer-keys"): ADMIN,
    ("POST", "/v1/admin/producer-keys/{tenant}/{key_id}/retire"): ADMIN,
    ("GET", "/v1/admin/producer-policies/{tenant}"): ADMIN,
    ("PUT", "/v1/admin/producer-policies/{tenant}"): ADMIN,
    ("GET", "/v1/admin/access-log"): ADMIN,
    ("DELETE", "/v1/admin/loans/{loan_id}/personal-data"): ADMIN,
    # the verification API
    ("POST", "/v1/verify/record"): VERIFIER,
    ("GET", "/v1/verify/record/{leaf_hash}"): VERIFIER,
    ("POST", "/v1/verify/document"): VERIFIER,
    ("GET", "/v1/verify/document/{sha256}"): VERIFIER,
    ("GET", "/v1/verify/evidence"): VERIFIER,
    ("POST", "/v1/verify/package"): VERIFIER,
    ("GET", "/v1/verify/loan/{tenant}/{loan_id}/completeness"): VERIFIER,
    # the /ui pages: a session cookie (service/pages/session.py); none redirects to login
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/"): PUBLIC,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): PUBLIC,
    ("POST", "/ui/logout"): PUBLIC,
    ("GET", "/ui/static/{name}"): PUBLIC,
    ("GET", "/ui/verify"): VERIFIER,  # the same roles as the verification API
    ("POST", "/ui/verify"): VERIFIER,
    ("GET", "/ui/legal"): frozenset({"legal", "admin"}),
    ("GET", "/ui/legal/loans/{tenant}/{loan_id}"): frozenset({"legal", "admin"}),
    ("GET", "/ui/legal/loans/{tenant}/{loan_id}/completeness.json"): frozenset({"legal", "admin"}),
    ("POST", "/ui/legal/loans/{tenant}/{loan_id}/case"): frozenset({"legal", "admin"}),
    ("GET", "/ui/legal/cases/{package_id}.zip"): frozenset({"legal", "admin"}),
    ("GET", "/ui/legal/cases/{package_id}/case-file.pdf"): frozenset({"legal", "admin"}),
    ("GET", "/ui/audit"): frozenset({"auditor", "admin"}),
    ("POST", "/ui/audit/fsck"): frozenset({"auditor", "admin"}),
}

SAMPLE_PATH = {"event_id": "e-1", "leaf_index": "0", "loan_id": "L-1", "sha256": "a" * 64,
               "tree_size": "1", "key_id": "0000000000000000", "leaf_hash": "0" * 64,
               "package_id": "pkg-0", "tenant": "bank-a", "name": "missing.css"}
SAMPLE_QUERY: dict[str, dict[str, Any]] = {
    "/v1/log/proofs/consistency": {"first": 0},
    "/v1/log/leaves": {"start": 0, "end": 1},
    "/v1/log/proofs/inclusion": {"leaf_index": 0},
    "/v1/verify/evidence": {"evidence_id": "cunzheng.local/evidence-log#0"},
}
SAMPLE_BODY: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/events"): {"json": make_event("e-roles", "L-roles")},
    ("POST", "/v1/events/batch"): {"json": {"events": [make_event("e-roles-b", "L-roles")]}},
    ("PUT", "/v1/documents/{sha256}"): {"content": b"x"},
    ("POST", "/v1/admin/keys"): {"json": {"role": "auditor", "label": "roles test"}},
    ("POST", "/v1/admin/producer-keys"): {"json": {
        "tenant": "bank-a", "public_key": base64.b64encode(bytes(range(32))).decode()}},
    ("PUT", "/v1/admin/producer-policies/{tenant}"): {"json": {"require_signatures": False}},
    ("POST", "/v1/verify/record"): {"content": b"{}"},
    ("POST", "/v1/verify/document"): {"content": b"x"},
    ("POST", "/v1/verify/package"): {"content": b"x"},
}


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with running_api(settings) as a:
        yield a


def _flatten(routes: list[Any]) -> Iterator[tuple[set[str], str]]:
    """(methods, path) of every route, through included routers (FastAPI resolves those
    lazily in recent versions) and mounts."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for c in contexts():
                yield set(c.methods or {"GET"}), c.path
        elif hasattr(route, "path"):
            yield set(getattr(route, "methods", None) or {"GET"}), route.path


def _routes(api: Api) -> list[tuple[str, str]]:
    return sorted({(m, path) for methods, path in _flatten(list(api.client.app.routes))  # type: ignore[attr-defined]
                   for m in methods - {"HEAD", "OPTIONS"}})


def _page_cookie(api: Api, role: str) -> dict[str, str]:
    """A session for `role`'s key, opened directly (a lender cannot log in to the pages)."""
    key = api.key(role, "bank-a" if role == "lender" else None)
    session_id = open_session(api.ctx.engine, key.split("_")[1], utc_now())
    return {"Cookie": f"{COOKIE}={session_id}"}


def _call(api: Api, method: str, path: str, role: str | None) -> Any:
    url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH[m.group(1)], path)
    kwargs = {"params": SAMPLE_QUERY.get(path, {}), **SAMPLE_BODY.get((method, path), {})}
    if path.startswith("/ui"):  # pages read their session cookie, never a header
        headers = {} if role is None else _page_cookie(api, role)
        return api.client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
    if role is None:
        return api.client.request(method, url, **kwargs)
    return api.request(method, url, role=role, **kwargs)


def _unauthenticated(path: str, r: Any) -> bool:
    if path.startswith("/ui"):
        return r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    return r.status_code == 401


def test_every_route_is_in_the_role_table(api: Api) -> None:
    routes = set(_routes(api))
    missing = sorted(routes - set(ALLOWED))
    assert not missing, f"routes with no entry in the role table (add them): {missing}"
    # entries for routes not (yet) in the app are harmless: several slices land separately
    documented = {(m.upper(), p) for p, ops in api.client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
                  for m in ops}
    assert {k for k, v in ALLOWED.items() if v is PUBLIC and k in documented} == {
        ("GET", "/healthz")}, "only the liveness probe may answer without a key"


def test_every_route_allows_exactly_its_roles(api: Api) -> None:
    api.post_events([make_event("e-1", "L-1")])
    api.wait_checkpoint(1)
    wrong: list[str] = []
    for method, path in _routes(api):
        allowed = ALLOWED.get((method, path), frozenset())
        if allowed is PUBLIC:
            r = _call(api, method, path, None)
            if r.status_code == 403 or r.status_code >= 500 or (
                    r.status_code == 401 and not path.startswith("/ui/login")):
                wrong.append(f"{method} {path} without a key: {r.status_code}, expected public")
            continue
        r = _call(api, method, path, None)
        if not _unauthenticated(path, r):
            wrong.append(f"{method} {path} without a key: {r.status_code}, expected 401 "
                         "(pages: a redirect to /ui/login)")
        for role in ROLES:
            r = _call(api, method, path, role)
            if role in allowed and (r.status_code == 403 or _unauthenticated(path, r)):
                wrong.append(f"{method} {path} as {role}: {r.status_code}, expected allowed "
                             f"({r.text[:120]})")
            if role not in allowed and r.status_code != 403:
                wrong.append(f"{method} {path} as {role}: {r.status_code}, expected 403")
    assert not wrong, "\n".join(wrong)


def test_a_bad_or_revoked_key_is_401(api: Api) -> None:
    for header in ("Bearer nonsense", "Bearer cz_0000_xyz", "Basic abc"):
        r = api.client.get("/v1/log/key", headers={"Authorization": header})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    key = api.key("auditor")
    api.request("DELETE", f"/v1/admin/keys/{key.split('_')[1]}", role="admin")
    r = api.client.get("/v1/log/key", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


SECRET_LOAN, SECRET_EVENT = "LOAN-PRIVATE-42", "EVT-PRIVATE-42"


def _content_paths(api: Api) -> list[str]:
    """Records, loans and any case route the app has (their parameters filled in)."""
    cases = [re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH.get(m.group(1), "x"), p)
             for m, p in _routes(api) if m == "GET" and "case" in p]
    return ["/v1/records/0", f"/v1/loans/{SECRET_LOAN}/events?tenant=bank-a",
            f"/v1/events/{SECRET_EVENT}", f"/v1/documents/{'a' * 64}", *cases]


def test_a_verifier_reads_no_records_loans_or_cases(api: Api) -> None:
    api.post_events([make_event(SECRET_EVENT, SECRET_LOAN)])
    cookie = _page_cookie(api, "verifier")
    for path in _content_paths(api):
        r = (api.client.get(path, headers=cookie, follow_redirects=False)
             if path.startswith("/ui") else api.request("GET", path, role="verifier"))
        assert r.status_code == 403, (path, r.status_code)
        assert SECRET_LOAN not in r.text


def test_a_lender_reads_no_other_tenants_events(api: Api) -> None:
    api.post_events([make_event(SECRET_EVENT, SECRET_LOAN)], tenant="bank-a")
    digest = "9b" * 32
    for path in (f"/v1/events/{SECRET_EVENT}", "/v1/records/0",
                 f"/v1/loans/{SECRET_LOAN}/events", f"/v1/loans/{SECRET_LOAN}/events?tenant=bank-a",
                 f"/v1/documents/{digest}"):
        r = api.request("GET", path, tenant="bank-b")
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert '"record"' not in r.text and "salt" not in r.text
    own = api.request("GET", f"/v1/events/{SECRET_EVENT}", tenant="bank-a")
    assert own.status_code == 200 and SECRET_LOAN in own.text


def test_an_auditor_sees_hashes_never_content(api: Api) -> None:
    receipts = api.post_events([make_event(SECRET_EVENT, SECRET_LOAN)]).json()["receipts"]
    api.wait_checkpoint(1)  # the sample tree size of the checkpoint routes
    receipts += api.post_events([make_event("EVT-PRIVATE-43",
                                            "LOAN-PRIVATE-43")]).json()["receipts"]
    api.wait_checkpoint(2)
    for path in ("/v1/records/0", f"/v1/loans/{SECRET_LOAN}/events?tenant=bank-a",
                 f"/v1/events/{SECRET_EVENT}", f"/v1/documents/{'a' * 64}"):
        assert api.request("GET", path, role="auditor").status_code == 403, path
    secrets = (SECRET_LOAN, SECRET_EVENT, "bank-a", "salt", "payload", "core-banking")
    for method, path in _routes(api):
        if method != "GET" or not path.startswith("/v1/log"):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH[m.group(1)], path)
        r = api.request("GET", url, role="auditor", params=SAMPLE_QUERY.get(path, {}))
        assert r.status_code == 200, (path, r.text)
        assert not [s for s in secrets if s in r.text], (path, r.text[:300])
    r = api.request("GET", "/v1/log/leaves", role="auditor", params={"start": 0, "end": 2})
    assert r.json()["leaf_hashes"] == [x["leaf_hash"] for x in receipts]
