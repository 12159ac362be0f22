"""The pages' server-side sessions on both databases, across two app instances on one
database (what two workers are): a session opened by one is honoured by the other, and
logout or key revocation through either ends it everywhere."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from service.auth import revoke_key
from service.pages import session
from service.settings import Settings
from service.tables import ui_sessions
from tests.integration.api_client import running_api


def _cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{session.COOKIE}={session_id}"}


def _login(client, key: str, old: str | None = None) -> str:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    r = client.post("/ui/login", data={"key": key, "next": ""}, follow_redirects=False,
                    headers=_cookie(old) if old else {})
    assert r.status_code == 303, r.text[:300]
    client.cookies.clear()
    return str(r.cookies[session.COOKIE])


def _page(client, session_id: str, path: str = "/ui/audit") -> int:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    return int(client.get(path, follow_redirects=False, headers=_cookie(session_id)).status_code)


def test_sessions_are_shared_by_workers_and_end_everywhere(settings: Settings) -> None:
    with running_api(settings) as one, running_api(settings) as two:
        key = one.key("auditor")
        sid = _login(one.client, key)
        assert _page(two.client, sid) == 200  # the other worker knows the session
        with one.ctx.engine.connect() as conn:
            rows = conn.execute(select(ui_sessions)).all()
        assert [r.id_hash for r in rows] == [hashlib.sha256(sid.encode()).hexdigest()]
        assert sid not in repr(rows) and key not in repr(rows)
        # a new login replaces the old session of this browser
        new_sid = _login(two.client, key, old=sid)
        assert new_sid != sid
        assert _page(one.client, sid) == 303 and _page(one.client, new_sid) == 200
        # logout through one worker ends it on the other
        r = two.client.post("/ui/logout", follow_redirects=False, headers=_cookie(new_sid))
        assert r.status_code == 303 and f'{session.COOKIE}=""' in r.headers["set-cookie"]
        assert _page(one.client, new_sid) == 303


def test_key_revocation_ends_sessions_by_either_path(settings: Settings) -> None:
    with running_api(settings) as one, running_api(settings) as two:
        # through the admin API: the rows go at once
        key = one.key("legal")
        sid = _login(one.client, key)
        assert _page(two.client, sid, "/ui/legal") == 200
        r = two.request("DELETE", f"/v1/admin/keys/{key.split('_')[1]}", role="admin")
        assert r.status_code == 204, r.text
        assert _page(one.client, sid, "/ui/legal") == 303
        # as `cunzheng keys revoke` does (service.auth.revoke_key alone): the session row
        # stays but no longer authenticates
        key = one.key("auditor")
        sid = _login(one.client, key)
        assert _page(two.client, sid) == 200
        revoke_key(one.ctx.engine, key.split("_")[1], "2026-01-01T00:00:00Z")
        assert _page(two.client, sid) == 303
        assert session.session_principal(one.ctx.engine, sid, one.ctx.clock()) is None


def test_expired_sessions_stop_working_and_are_swept(settings: Settings) -> None:
    with running_api(settings) as api:
        key_id = api.key("verifier").split("_")[1]
        now = api.ctx.clock()
        old = session.open_session(api.ctx.engine, key_id, now - timedelta(hours=9))
        assert session.session_principal(api.ctx.engine, old, now) is None
        assert _page(api.client, old, "/ui/verify") == 303
        fresh = session.open_session(api.ctx.engine, key_id, now)  # sweeps the expired one
        with api.ctx.engine.connect() as conn:
            hashes = {r.id_hash for r in conn.execute(select(ui_sessions.c.id_hash))}
        assert hashes == {hashlib.sha256(fresh.encode()).hexdigest()}
        assert _page(api.client, fresh, "/ui/verify") == 200
