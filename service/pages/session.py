"""Who is looking at a page: the API key kept in an HttpOnly, SameSite=Strict cookie.

The login form (`/ui/login`) takes an API key, checks it like the API does
(`service.auth.authenticate`) and stores the key itself in a cookie that scripts cannot
read (HttpOnly), that no other site can make the browser send (SameSite=Strict) and that
only the `/ui` pages receive (Path=/ui). Every page reads the key from the cookie on the
server and authenticates it again, so a revoked key stops working at the next click. No
session table, no server-side state: the key is the session. Form posts must also come
from this origin (the `Origin` header, when the browser sends one), a second guard
against cross-site requests besides SameSite.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from service.auth import AuthError, Principal, Role, authenticate
from service.context import AppContext

COOKIE = "cz_ui_key"
COOKIE_PATH = "/ui"
COOKIE_MAX_AGE = 8 * 3600  # a working day; the key itself lives on until revoked
MAX_KEY_LENGTH = 200

PAGE_ROLES: dict[str, frozenset[Role]] = {
    # verification answers facts about what the caller brings: every role may use it
    "verify": frozenset(Role),
    "legal": frozenset({Role.LEGAL, Role.ADMIN}),
    "audit": frozenset({Role.AUDITOR, Role.ADMIN}),
}
HOME = {Role.LEGAL: "/ui/legal", Role.AUDITOR: "/ui/audit"}


def home_for(role: Role) -> str:
    return HOME.get(role, "/ui/verify")


def safe_next(target: str | None) -> str | None:
    """Only a path under /ui on this site is a place to go back to after logging in."""
    if not target or not target.startswith("/ui/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def principal_from_cookie(request: Request, ctx: AppContext) -> Principal | None:
    key = request.cookies.get(COOKIE, "")
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    try:
        return authenticate(ctx.engine, key)
    except AuthError:
        return None


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/ui/login?next={quote(target, safe='/')}", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null" and request.headers.get("sec-fetch-site") == "same-origin":
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def set_key_cookie(request: Request, response: Response, key: str) -> None:
    response.set_cookie(COOKIE, key, max_age=COOKIE_MAX_AGE, path=COOKIE_PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def clear_key_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


def allowed(principal: Principal, roles: Collection[Role]) -> bool:
    return principal.role in roles
