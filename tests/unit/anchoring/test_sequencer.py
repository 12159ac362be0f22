"""The sequencer alone, with a fake store (the real store and databases are exercised by
tests/integration/test_group_commit.py): groups form from what queues up, each caller gets
its own outcome, and no caller gets a result from a group whose commit failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from anchoring.errors import RecordError
from anchoring.sequencer import Sequencer
from anchoring.store import Accepted, BatchItemError, LoanPolicy, Pending


def _pending(n: int) -> list[Pending]:
    return [Pending("t", f"h{n}-{i}", None) for i in range(n)]  # type: ignore[arg-type]


class FakeStore:
    """Accepts every batch (indices in order) unless its first item's hash starts with
    "bad"; `gate` holds the first group; `fail_commit` raises after the "writes"."""

    def __init__(self) -> None:
        self.groups: list[int] = []
        self.size = 0
        self.durable = 0
        self.gate = threading.Event()
        self.gate.set()
        self.fail_commit = False

    def append(self, items: Sequence[Pending], policy: LoanPolicy | None = None) -> list[Accepted]:
        raise AssertionError("the running sequencer always goes through append_group")

    def append_group(self, requests: Sequence[tuple[Sequence[Pending], Any]]) -> list[Any]:
        self.gate.wait(10)
        self.groups.append(len(requests))
        out: list[Any] = []
        size = self.size
        for items, _policy in requests:
            if items[0].posted_hash.startswith("bad"):
                out.append(BatchItemError(0, RecordError("refused")))
                continue
            out.append([Accepted(size + i, b"", "t", False) for i in range(len(items))])
            size += len(items)
        if self.fail_commit:  # written, but the commit (fsync) fails
            raise OSError("injected commit failure")
        self.size = self.durable = size
        return out


def _threads(seq: Sequencer, batches: list[list[Pending]], hold: FakeStore) -> list[Any]:
    """Submit the first batch, wait until it is taken, queue the rest behind it, release."""
    out: list[Any] = [None] * len(batches)

    def run(i: int) -> None:
        try:
            out[i] = seq.append(batches[i])
        except Exception as exc:  # noqa: BLE001 - returned for the test
            out[i] = exc

    hold.gate.clear()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    threads[0].start()
    _wait(lambda: seq.groups == 1)
    for i, t in enumerate(threads[1:], 1):
        t.start()
        _wait(lambda i=i: seq.queued() == i)
    hold.gate.set()
    for t in threads:
        t.join(10)
    return out


def _wait(cond: Any) -> None:
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def test_what_queues_during_a_commit_is_the_next_group_and_each_caller_gets_its_own() -> None:
    store = FakeStore()
    seq = Sequencer(store, window=0)
    seq.start()
    try:
        bad = [Pending("t", "bad", None)]  # type: ignore[arg-type]
        out = _threads(seq, [_pending(1), _pending(2), bad, _pending(1), _pending(3)], store)
    finally:
        seq.close()
    assert store.groups == [1, 4]
    assert [a.leaf_index for a in out[0]] == [0]
    assert [a.leaf_index for a in out[1]] == [1, 2]
    assert isinstance(out[2], BatchItemError)
    assert [a.leaf_index for a in out[3]] == [3]
    assert [a.leaf_index for a in out[4]] == [4, 5, 6]


def test_a_failed_commit_fails_every_caller_of_the_group_and_no_result_escapes() -> None:
    store = FakeStore()
    seq = Sequencer(store, window=0)
    seq.start()
    try:
        store.fail_commit = True
        out = _threads(seq, [_pending(1)] + [_pending(2) for _ in range(6)], store)
        assert all(isinstance(o, OSError) for o in out), out
        assert store.durable == 0
        store.fail_commit = False
        assert [a.leaf_index for a in seq.append(_pending(1))] == [0]
    finally:
        seq.close()


def test_a_group_holds_at_most_max_events_and_the_rest_waits_for_the_next() -> None:
    store = FakeStore()
    seq = Sequencer(store, window=0, max_events=4)
    seq.start()
    try:
        out = _threads(seq, [_pending(1), _pending(2), _pending(2), _pending(3), _pending(5)],
                       store)
    finally:
        seq.close()
    # taken alone; then 2 + 2 (full); 3 (with the 5 it would overflow); the 5 alone
    assert store.groups == [1, 2, 1, 1]
    assert all(isinstance(o, list) for o in out)
    assert sorted(a.leaf_index for o in out for a in o) == list(range(13))


def test_after_close_appends_commit_alone_and_window_must_be_sane() -> None:
    store = FakeStore()
    seq = Sequencer(store)
    seq.start()
    seq.close()
    assert not seq.running
    with pytest.raises(AssertionError, match="append_group"):
        seq.append(_pending(1))  # straight to the store's own append
    with pytest.raises(ValueError, match="window"):
        Sequencer(store, window=-1)
