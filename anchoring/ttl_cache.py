"""Short-lived per-process caches of rows read on every request (issue 17).

Each `POST /v1/events` used to spend about half its busy time reading two rows that almost
never change: the tenant's producer policy and the API key. `ReadCache` keeps such reads for
`READ_CACHE_TTL_SECONDS`:

- in the process that changes a row (the admin API, the CLI), the writer calls
  `invalidate(engine, namespace, key)` after its commit, and every cache of that process on
  the same database drops the entry at once: the next read sees the change;
- in any other process (another `--workers` worker, a CLI run beside the server), the change
  takes effect when the entry expires, at most `READ_CACHE_TTL_SECONDS` later.

Caches are per engine (a new engine starts empty, so tests that recreate a database see
nothing stale) and invalidation reaches every engine of the process on the same database
URL. A value read before an invalidation and stored after it is discarded (a generation
count), so a concurrent reader cannot put the old row back. Only rows found are cached:
a key created elsewhere works on its first request.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine

__all__ = ["READ_CACHE_TTL_SECONDS", "ReadCache", "cache_for", "invalidate"]

READ_CACHE_TTL_SECONDS = 1.0
"""How long a cached API key or producer policy is trusted; the bound on how late another
process sees a revocation or a policy change."""

MAX_ENTRIES = 10_000
"""Entries per namespace; beyond it the cache is emptied (a flood of distinct keys cannot
grow memory)."""

T = TypeVar("T")
Clock = Callable[[], float]


class ReadCache:
    """Values by (namespace, key) with an expiry; thread-safe."""

    def __init__(self, ttl: float = READ_CACHE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, Hashable], tuple[float, Any]] = {}
        self._generation = 0

    def get(self, namespace: str, key: Hashable, load: Callable[[], T | None],
            clock: Clock = time.monotonic) -> T | None:
        """The cached value, or `load()` (cached unless it is None)."""
        now = clock()
        with self._lock:
            hit = self._entries.get((namespace, key))
            generation = self._generation
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value
        loaded = load()
        if loaded is not None:
            with self._lock:
                if generation == self._generation:  # no invalidation while loading
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[(namespace, key)] = (now + self.ttl, loaded)
        return loaded

    def drop(self, namespace: str, key: Hashable | None = None) -> None:
        """Forget one entry (or the whole namespace when `key` is None)."""
        with self._lock:
            self._generation += 1
            if key is None:
                for k in [k for k in self._entries if k[0] == namespace]:
                    del self._entries[k]
            else:
                self._entries.pop((namespace, key), None)


_CACHES: weakref.WeakKeyDictionary[Engine, ReadCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def cache_for(engine: Engine) -> ReadCache:
    """The process's cache for `engine`."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = ReadCache()
        return cache


def invalidate(engine: Engine, namespace: str, key: Hashable | None = None) -> None:
    """Drop the entry from every cache of this process on `engine`'s database."""
    url = _url(engine)
    with _CACHES_LOCK:
        caches = [c for e, c in _CACHES.items() if e is engine or _url(e) == url]
    for cache in caches:
        cache.drop(namespace, key)
