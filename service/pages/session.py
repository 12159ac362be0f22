"""Who is looking at a page: a server-side session named by a random id in a cookie.

The login form (`/ui/login`) takes an API key and checks it like the API does
(`service.auth.authenticate`). It then opens a session: a random 256-bit id goes into a
cookie that scripts cannot read (HttpOnly), that no other site can make the browser send
(SameSite=Strict) and that only the `/ui` pages receive (Path=/ui); the database keeps only
the SHA-256 of that id, with the key id that logged in and an expiry (`ui_sessions`). The
API key itself is never stored in the cookie or the session, so neither a stolen cookie
nor a copy of the database yields a key.

Every page looks the session up and joins it to its API key on each request, so a session
ends at its expiry, on logout (the row is deleted) and as soon as its key is revoked
(`DELETE /v1/admin/keys/{id}` also deletes the key's sessions; `cunzheng keys revoke`
needs nothing more, because the revoked key fails the join at the next click). Sessions
live in the database, so they work with several workers and with PostgreSQL.

Cross-site requests change nothing: a request that merely lacks the cookie (what a link
or form from another site produces, since the SameSite=Strict cookie is not sent) is sent
to the login form without touching the cookie, and every form post, logout included, must
come from this origin (the `Origin` header, and `Sec-Fetch-Site` when the browser sends it).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine, delete, insert, select

from cunzheng_verify.records import format_utc
from service.auth import Principal, Role
from service.context import AppContext
from service.tables import api_keys, ui_sessions

COOKIE = "cz_ui_session"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 8 * 3600  # a working day; log in again after that
MAX_KEY_LENGTH = 200
SESSION_ID_BYTES = 32
MAX_COOKIE_LENGTH = 100  # a session id is 43 characters; anything much longer is not one

PAGE_ROLES: dict[str, frozenset[Role]] = {
    # the same roles as the verification API (service/routes/verify.py)
    "verify": frozenset({Role.VERIFIER, Role.ADMIN}),
    "legal": frozenset({Role.LEGAL, Role.ADMIN}),
    "audit": frozenset({Role.AUDITOR, Role.ADMIN}),
}
HOME = {Role.LEGAL: "/ui/legal", Role.AUDITOR: "/ui/audit", Role.VERIFIER: "/ui/verify",
        Role.ADMIN: "/ui/verify"}


def home_for(role: Role) -> str | None:
    """The first page of a role, or None for a role with no pages (lenders use the API)."""
    return HOME.get(role)


def safe_next(target: str | None) -> str | None:
    """Only a path under /ui on this site is a place to go back to after logging in."""
    if not target or not target.startswith("/ui/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def open_session(engine: Engine, key_id: str, now: datetime) -> str:
    """Store a new session for `key_id`; return its id (for the cookie only, never stored).
    Expired sessions are swept on the way."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    with engine.begin() as conn:
        conn.execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= _unix(now)))
        conn.execute(insert(ui_sessions).values(
            id_hash=_digest(session_id), key_id=key_id, created_at=format_utc(now),
            expires_at=_unix(now + timedelta(seconds=SESSION_SECONDS))))
    return session_id


def close_session(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(ui_sessions).where(ui_sessions.c.id_hash == _digest(session_id)))


def close_sessions_of_key(engine: Engine, key_id: str) -> int:
    """End every session opened with `key_id` (on key revocation); the number ended."""
    with engine.begin() as conn:
        return conn.execute(delete(ui_sessions).where(ui_sessions.c.key_id == key_id)).rowcount


def session_principal(engine: Engine, session_id: str, now: datetime) -> Principal | None:
    """The live session's key as a principal: None when unknown, expired or the key was
    revoked since."""
    if not session_id or len(session_id) > MAX_COOKIE_LENGTH:
        return None
    query = (select(api_keys.c.key_id, api_keys.c.role, api_keys.c.tenant, api_keys.c.label,
                    api_keys.c.revoked_at, ui_sessions.c.expires_at)
             .join(api_keys, api_keys.c.key_id == ui_sessions.c.key_id)
             .where(ui_sessions.c.id_hash == _digest(session_id)))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.revoked_at is not None or row.expires_at <= _unix(now):
        return None
    return Principal(row.key_id, Role(row.role), row.tenant, row.label)


def principal_from_cookie(request: Request, ctx: AppContext) -> Principal | None:
    return session_principal(ctx.engine, request.cookies.get(COOKIE, ""), ctx.clock())


def login_redirect(request: Request) -> RedirectResponse:
    """To the login form and back. The cookie is cleared only when the request carried one
    that is no longer valid: a request without it (a link from another site, which the
    SameSite=Strict cookie does not follow) must not log the visitor out."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/ui/login?next={quote(target, safe='/')}", status_code=303)
    if request.cookies.get(COOKIE):
        clear_session_cookie(response)
    return response


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another origin."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False  # same-site is another port or subdomain: still not this origin
    origin = request.headers.get("origin")
    same_site = request.headers.get("sec-fetch-site") == "same-origin"
    if origin is None or origin == "null" and same_site:
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, max_age=SESSION_SECONDS, path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def allowed(principal: Principal, roles: Collection[Role]) -> bool:
    return principal.role in roles
