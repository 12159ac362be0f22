"""A TestClient over the real app (real database, real lifespan) with one key per role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from cunzheng_verify.records import format_utc
from service.app import create_app
from service.auth import Role, create_key
from service.context import AppContext, build_context, utc_now
from service.settings import Settings


class Api:
    def __init__(self, client: TestClient, ctx: AppContext) -> None:
        self.client = client
        self.ctx = ctx
        self.keys: dict[str, str] = {}

    def key(self, role: str, tenant: str | None = None) -> str:
        name = f"{role}:{tenant}"
        if name not in self.keys:
            self.keys[name], _ = create_key(self.ctx.engine, Role(role), tenant, name,
                                            format_utc(utc_now()))
        return self.keys[name]

    def headers(self, role: str, tenant: str | None = None) -> dict[str, str]:
        if role == "lender" and tenant is None:
            tenant = "bank-a"
        return {"Authorization": f"Bearer {self.key(role, tenant)}"}

    def request(self, method: str, path: str, role: str = "lender", tenant: str | None = None,
                **kwargs: Any) -> Any:
        headers = {**self.headers(role, tenant), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def post_events(self, events: list[dict[str, Any]], tenant: str = "bank-a") -> Any:
        return self.request("POST", "/v1/events/batch", tenant=tenant, json={"events": events})

    def wait_checkpoint(self, size: int, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.request("GET", "/v1/log/checkpoint", role="auditor")
            if r.status_code == 200 and r.json()["tree_size"] >= size:
                return dict(r.json())
            time.sleep(0.05)
        raise AssertionError(f"no checkpoint of size >= {size} within {timeout} s")


@contextmanager
def running_api(settings: Settings) -> Iterator[Api]:
    ctx = build_context(settings)
    with TestClient(create_app(settings, ctx)) as client:
        yield Api(client, ctx)
    ctx.engine.dispose()
