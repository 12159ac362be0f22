"""The ledger served in-process, for `cunzheng simulate` without `--url`.

The app is built from the settings exactly as `cunzheng serve` builds it and is driven
through an ASGI test client (same request handling, no socket), with a fresh lender key for
the tenant and an admin key to register its producer key. Only `simulate` uses this, and
only when no ledger URL is given; FastAPI's test client is imported here and nowhere else
in the production code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from service.settings import Settings

__all__ = ["in_process"]


@contextmanager
def in_process(settings: Settings, tenant: str) -> Iterator[tuple[httpx.Client, str, str]]:
    """The app built from `settings`, served in-process: (client, lender key, admin key)."""
    from fastapi.testclient import TestClient

    from cunzheng_verify.records import format_utc
    from service.app import create_app
    from service.auth import Role, create_key
    from service.context import build_context, utc_now

    ctx = build_context(settings)
    lender, _ = create_key(ctx.engine, Role.LENDER, tenant, "simulate", format_utc(utc_now()))
    admin, _ = create_key(ctx.engine, Role.ADMIN, None, "simulate", format_utc(utc_now()))
    try:
        with TestClient(create_app(settings, ctx)) as http:
            yield http, lender, admin
    finally:
        ctx.engine.dispose()
