"""Shared fixtures: real SQLite files and a real PostgreSQL server (skipped with a reason
when none answers), an app per test, API keys per role."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from service.settings import Settings

POSTGRES_URL = os.environ.get(
    "CUNZHENG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - depends on the machine
        return f"no PostgreSQL at {POSTGRES_URL}: {type(exc).__name__}"


_PG_REASON = _postgres_reason()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server, dropped afterwards."""
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"drop schema {schema} cascade"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cunzheng.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    checkpoint_interval=0.05, anchor_enabled=False)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", checkpoint_interval=0.05, anchor_enabled=False)


def make_event(event_id: str, loan_id: str = "L-1", type_: str = "credit_decision",
               **overrides: Any) -> dict[str, Any]:
    from lending_core.events import example_payload

    event = {"event_id": event_id, "loan_id": loan_id, "type": type_,
             "occurred_at": "2026-03-02T09:30:00+08:00", "payload": example_payload(type_),
             "documents": [], "source": {"system": "core-banking", "ref": f"REF-{event_id}"}}
    event.update(overrides)
    return event
