"""FastAPI dependencies: the app context, the caller's principal, role checks, bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from cunzheng_verify.records import TooLarge
from service.auth import Principal, Role, authenticate
from service.context import AppContext
from service.errors import AuthError, ForbiddenError, IncompleteBody
from service.offload import parse_body

MAX_API_KEY_LENGTH = 256  # keys are ~50 characters; anything longer is not one


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def get_principal(request: Request, ctx: Ctx) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        key = request.headers.get("x-api-key", "")
    key = key.strip()
    if not key.isprintable() or len(key) > MAX_API_KEY_LENGTH:  # NUL, control bytes, huge
        raise AuthError(f"malformed API key: printable characters only, at most "
                        f"{MAX_API_KEY_LENGTH}")
    principal = authenticate(ctx.engine, key or None)
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    allowed = frozenset(roles)

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise ForbiddenError(
                f"role {principal.role.value!r} may not do this; allowed: "
                + ", ".join(sorted(r.value for r in allowed)))
        return principal

    return check


Lender = Annotated[Principal, Depends(require(Role.LENDER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
LenderOrLegal = Annotated[Principal, Depends(require(Role.LENDER, Role.LEGAL, Role.ADMIN))]
LogReader = Annotated[Principal, Depends(require(*Role))]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body is {declared} bytes, limit {limit}")
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise TooLarge(f"body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # a client that hangs up mid-body is not a server error
        raise IncompleteBody(f"the client disconnected after {total} bytes of the body; "
                             "nothing was written") from None
    return b"".join(chunks)


async def json_body(request: Request, ctx: AppContext) -> Any:
    """The body parsed as strict JSON off the event loop (a worker thread, or for a large
    body a process of its own: `service.offload`): however hostile the bytes, the event
    loop keeps answering other requests (`/healthz`) while they are read."""
    data = await read_body(request, ctx.settings.max_body_bytes)
    return await parse_body(data, ctx.settings.max_body_bytes)
