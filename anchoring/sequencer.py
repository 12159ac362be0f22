"""Group commit: one sequencer per process gathers the batches that arrive together (single
events and small batches from many clients) into one transaction, so one commit and one
fsync serve them all.

Callers block in `Sequencer.append` until the commit that holds their leaves has returned
(SQLite WAL with `synchronous=FULL`, or a PostgreSQL commit): a receipt is never built
before its leaf is durable. Each batch in a group stays all or nothing on its own and is
judged as if it came alone after the accepted batches before it (`LogStore.append_group`),
so a refused batch fails only its own caller. If the commit itself fails, every caller of
the group gets that error and none of their events was accepted.

Batching is natural first: whatever queued up while the previous group was committing
forms the next group. Only when the previous group held more than one batch (the log is
under concurrent load) does the sequencer also wait up to `window` seconds for more, so a
lone client never pays the window. With several worker processes (PostgreSQL), each has
its own sequencer; the log's write lock keeps leaf indices contiguous across them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from anchoring.store import Accepted, BatchItemError, LoanPolicy, Pending

logger = logging.getLogger("cunzheng.sequencer")

DEFAULT_WINDOW = 0.002
"""Seconds a group waits for more batches, under concurrent load only."""
DEFAULT_MAX_EVENTS = 1000
"""Events per group (one transaction); a bigger batch is committed alone."""

Outcome = list[Accepted] | BatchItemError


class GroupStore(Protocol):
    """What the sequencer needs of the store (`anchoring.store.LogStore`)."""

    def append(self, items: Sequence[Pending],
               policy: LoanPolicy | None = None) -> list[Accepted]: ...

    def append_group(
        self, requests: Sequence[tuple[Sequence[Pending], LoanPolicy | None]]
    ) -> list[Outcome]: ...


@dataclass(slots=True)
class _Job:
    items: Sequence[Pending]
    policy: LoanPolicy | None
    future: Future[list[Accepted]] = field(default_factory=Future)


_STOP = object()


class Sequencer:
    def __init__(self, store: GroupStore, *, window: float = DEFAULT_WINDOW,
                 max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if window < 0 or max_events < 1:
            raise ValueError(f"need window >= 0 and max_events >= 1, got {window}, {max_events}")
        self.store = store
        self.window = window
        self.max_events = max_events
        self.groups = 0  # groups committed (or failed), for tests and benchmarks
        self.batches = 0
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def queued(self) -> int:
        """Batches waiting for a group (approximate while the log is busy)."""
        return self._queue.qsize()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cunzheng-sequencer",
                                                daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Commit what is queued, then stop; later appends commit alone (no group)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def append(self, items: Sequence[Pending], policy: LoanPolicy | None = None) -> list[Accepted]:
        """`LogStore.append` through the group: returns once the commit holding these items
        is durable, or raises (`BatchItemError` for a refused item; the commit's error)."""
        if self._thread is None:
            return self.store.append(items, policy)
        job = _Job(items, policy)
        self._queue.put(job)
        return job.future.result()

    def _run(self) -> None:
        carry: _Job | None = None
        previous = 1
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                return
            assert isinstance(first, _Job)
            group = [first]
            count = len(first.items)
            deadline = time.monotonic() + (self.window if previous > 1 else 0.0)
            stop = False
            while count < self.max_events:
                try:
                    remaining = deadline - time.monotonic()
                    nxt = (self._queue.get(timeout=remaining) if remaining > 0
                           else self._queue.get_nowait())
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                assert isinstance(nxt, _Job)
                if count + len(nxt.items) > self.max_events:
                    carry = nxt
                    break
                group.append(nxt)
                count += len(nxt.items)
            self._commit(group)
            previous = len(group)
            if stop:
                if carry is not None:
                    self._commit([carry])
                self._drain()
                return

    def _drain(self) -> None:
        """Jobs queued after the stop mark (a race with `close`) still get an answer."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(job, _Job):
                self._commit([job])

    def _commit(self, group: list[_Job]) -> None:
        self.groups += 1
        self.batches += len(group)
        try:
            outcomes = self.store.append_group([(job.items, job.policy) for job in group])
            if len(outcomes) != len(group):
                raise RuntimeError(f"{len(group)} batches, {len(outcomes)} outcomes")
        except BaseException as exc:  # the commit failed: every caller of the group hears it
            for job in group:
                job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            logger.warning("group commit of %d batches failed: %s", len(group), type(exc).__name__)
            return
        for job, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BatchItemError):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)
