"""fsck's loan index check: the loan index re-derived from the leaves, compared at every
checkpoint with the `loan-index` root the checkpoint's signed note commits to.

`IncrementalIndex` keeps the map of `cunzheng_verify.loanindex` (same shape, same hashes)
with every subtree hash it computed, and recomputes only the paths of the loans that changed
since the last checkpoint, so a walk over n leaves and c checkpoints costs about
O(n log loans) hashes instead of c from-scratch roots. A test holds it equal to
`loanindex.root_of` after any sequence of updates.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from anchoring.checkpoint_store import StoredCheckpoint
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.loanindex import EMPTY, Entry, loan_key, node_hash
from cunzheng_verify.notes import parse_checkpoint

Head = tuple[int, int, bytes]  # (count, last leaf index, last leaf hash)
MAX_NAMED_LOANS = 20  # loans named per divergent checkpoint


class IncrementalIndex:
    """The loan index as a sparse Merkle tree whose subtree hashes are kept between roots."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self._keys: list[int] = []  # sorted
        self._cache: dict[tuple[int, int], bytes] = {}
        self._dirty: set[int] = set()
        self._depth = 0  # the deepest cached subtree

    def put(self, entry: Entry) -> None:
        k = int.from_bytes(entry.key, "big")
        if k not in self.entries:
            insort(self._keys, k)
        self.entries[k] = entry
        self._dirty.add(k)

    def root(self) -> bytes:
        for k in self._dirty:
            for depth in range(self._depth + 1):
                self._cache.pop((depth, k >> (256 - depth)), None)
        self._dirty.clear()
        return self._node(0, 0, 0, len(self._keys))

    def _node(self, depth: int, prefix: int, lo: int, hi: int) -> bytes:
        if lo == hi:
            return EMPTY
        cached = self._cache.get((depth, prefix))
        if cached is not None:
            return cached
        if hi - lo == 1:
            h = self.entries[self._keys[lo]].hash
        else:
            mid = bisect_left(self._keys, ((prefix << 1) | 1) << (255 - depth), lo, hi)
            h = node_hash(self._node(depth + 1, prefix << 1, lo, mid),
                          self._node(depth + 1, (prefix << 1) | 1, mid, hi))
        self._cache[(depth, prefix)] = h
        self._depth = max(self._depth, depth)
        return h


class IndexAudit:
    """At each checkpoint, the index of the leaves walked so far against its note's root."""

    def __init__(self, store: Any, checkpoints: Sequence[StoredCheckpoint],
                 note: Callable[..., None]) -> None:
        """`note(kind=, detail=, checkpoint_size=, expected=, found=)` reports a finding."""
        self.store = store
        self.note = note
        self.notes: list[str] = []
        self.index = IncrementalIndex()
        self._names: dict[bytes, tuple[str, str]] = {}
        self.committing = 0
        self._stored_entries = getattr(store, "loan_index_entries", None)
        if not any(_commits(cp) for cp in checkpoints):
            if checkpoints:
                self.notes.append("loan index not checked: no checkpoint commits to one "
                                  "(every checkpoint predates the loan index)")
        elif self._stored_entries is None:
            self.notes.append("loan index: checked against every checkpoint's root; the "
                              "store cannot list its entries (no LogStore.loan_index_entries),"
                              " so a divergent root does not name its loans")

    def update(self, changed: Mapping[tuple[str, str], Head]) -> None:
        for (tenant, loan_id), (count, last_index, last_hash) in changed.items():
            key = loan_key(tenant, loan_id)
            self._names[key] = (tenant, loan_id)
            self.index.put(Entry(key, count, last_index, last_hash))

    def at_checkpoint(self, cp: StoredCheckpoint, changed: Mapping[tuple[str, str], Head]) -> None:
        """`changed`: the loans whose head moved since the previous call."""
        self.update(changed)
        try:
            committed = _committed(cp)
        except CunzhengError as exc:
            self.note(kind="loan-index", detail=f"checkpoint {cp.tree_size}: {exc}",
                      checkpoint_size=cp.tree_size)
            return
        if committed is None:
            return
        self.committing += 1
        derived = self.index.root()
        if derived == committed:
            return
        self.note(kind="loan-index", detail=(
            f"checkpoint {cp.tree_size}: it commits to loan-index root {committed.hex()}, "
            f"the leaves give {derived.hex()}{self._which(cp.tree_size)}"),
            checkpoint_size=cp.tree_size, expected=derived.hex(), found=committed.hex())

    def _which(self, tree_size: int) -> str:
        """The loans whose stored entry differs from the leaves' (when the store lists them)."""
        if self._stored_entries is None:
            return ""
        try:
            stored = {e.key: e for e in self._stored_entries(tree_size)}
        except CunzhengError as exc:
            return f" (the stored index at that size cannot be read: {exc})"
        derived = {e.key: e for e in self.index.entries.values()}
        named = []
        for key in sorted(set(stored) | set(derived)):
            a, b = stored.get(key), derived.get(key)
            if a != b:
                tenant, loan = self._names.get(key, ("?", key.hex()))
                named.append(f"loan {loan!r} of tenant {tenant!r}: index "
                             f"{_value(a)}, leaves {_value(b)}")
        if not named:
            return "; the stored index equals the leaves' (the checkpoint's root was changed)"
        more = f" and {len(named) - MAX_NAMED_LOANS} more" if len(named) > MAX_NAMED_LOANS else ""
        return "; " + "; ".join(named[:MAX_NAMED_LOANS]) + more


def _value(e: Entry | None) -> str:
    return "none" if e is None else f"(count {e.count}, last leaf {e.last_index})"


def _committed(cp: StoredCheckpoint) -> bytes | None:
    return parse_checkpoint(cp.note)[0].loan_index_root


def _commits(cp: StoredCheckpoint) -> bool:
    try:
        return _committed(cp) is not None
    except CunzhengError:
        return True  # a malformed line: at_checkpoint names it
