"""anchoring.ttl_cache: expiry on an injected clock, no caching of absent rows, an
invalidation racing a load wins, and the size bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from anchoring import ttl_cache
from anchoring.ttl_cache import ReadCache, cache_for, invalidate


def test_entries_expire_after_the_ttl_on_the_injected_clock() -> None:
    cache, now, loads = ReadCache(ttl=1.0), [0.0], []

    def load() -> str:
        loads.append(1)
        return f"v{len(loads)}"

    assert cache.get("ns", "k", load, lambda: now[0]) == "v1"
    now[0] = 0.99
    assert cache.get("ns", "k", load, lambda: now[0]) == "v1"
    now[0] = 1.0
    assert cache.get("ns", "k", load, lambda: now[0]) == "v2"
    assert len(loads) == 2


def test_absent_rows_are_not_cached() -> None:
    cache, loads = ReadCache(), []

    def load() -> None:
        loads.append(1)

    assert cache.get("ns", "k", load) is None and cache.get("ns", "k", load) is None
    assert len(loads) == 2


def test_a_value_loaded_across_an_invalidation_is_not_stored() -> None:
    cache = ReadCache()

    def stale_load() -> str:
        cache.drop("ns", "k")  # the writer commits and invalidates while we read
        return "old"

    assert cache.get("ns", "k", stale_load) == "old"
    assert cache.get("ns", "k", lambda: "new") == "new"


def test_drop_a_namespace_and_the_size_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ReadCache()
    cache.get("a", 1, lambda: "x")
    cache.get("b", 1, lambda: "y")
    cache.drop("a")
    assert cache.get("a", 1, lambda: "x2") == "x2" and cache.get("b", 1, lambda: "y2") == "y"
    monkeypatch.setattr(ttl_cache, "MAX_ENTRIES", 3)
    for i in range(10):
        assert cache.get("c", i, lambda i=i: i + 1) == i + 1  # type: ignore[misc]
    assert len(cache._entries) <= 3


def test_invalidation_reaches_every_engine_on_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    one, two, other = create_engine(url), create_engine(url), create_engine("sqlite://")
    for engine in (one, two, other):
        cache_for(engine).get("ns", "k", lambda: "cached")
    invalidate(one, "ns", "k")
    assert cache_for(two).get("ns", "k", lambda: "fresh") == "fresh"
    assert cache_for(other).get("ns", "k", lambda: "fresh") == "cached"
    assert cache_for(one) is not cache_for(two)
