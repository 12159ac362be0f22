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
from cunzheng_verify.loanindex import EMPTY, Entry, loan_key, node_hash, verify_proof
from cunzheng_verify.notes import parse_checkpoint

Head = tuple[int, int, bytes]  # (count, last leaf index, last leaf hash)
MAX_NAMED_LOANS = 20  # loans named per divergent checkpoint
MAX_NAMED_CHECKPOINTS = 3  # divergent checkpoints whose loans are looked for
MAX_PROOFS = 2000  # loans looked up in the stored index per such checkpoint


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
    """At each checkpoint, the index of the leaves walked so far against its note's root,
    and (when the store keeps the index, `anchoring.loan_index_store`) the stored index's
    root at that size; a divergent checkpoint's loans are named from the stored index's
    proofs checked against the committed root."""

    def __init__(self, store: Any, checkpoints: Sequence[StoredCheckpoint],
                 note: Callable[..., None]) -> None:
        """`note(kind=, detail=, checkpoint_size=, expected=, found=)` reports a finding."""
        self.note = note
        self.notes: list[str] = []
        self.index = IncrementalIndex()
        self._names: dict[bytes, tuple[str, str]] = {}
        self._named = 0
        self._stored_root = getattr(store, "loan_index_root", None)
        self._stored_proof = getattr(store, "loan_index_proof_for_key", None)
        if not any(_commits(cp) for cp in checkpoints):
            if checkpoints:
                self.notes.append("loan index not checked: no checkpoint commits to one "
                                  "(every checkpoint predates the loan index)")
        elif self._stored_proof is None:
            self.notes.append("loan index: checked against every checkpoint's root; the "
                              "store keeps no index of its own, so a divergent root does "
                              "not name its loans")

    def at_checkpoint(self, cp: StoredCheckpoint, changed: Mapping[tuple[str, str], Head]) -> None:
        """`changed`: the loans whose head moved since the previous call."""
        for (tenant, loan_id), (count, last_index, last_hash) in changed.items():
            key = loan_key(tenant, loan_id)
            self._names[key] = (tenant, loan_id)
            self.index.put(Entry(key, count, last_index, last_hash))
        size = cp.tree_size
        try:
            committed = _committed(cp)
        except CunzhengError as exc:
            self.note(kind="loan-index", detail=f"checkpoint {size}: {exc}",
                      checkpoint_size=size)
            return
        if committed is None:
            return
        try:
            stored = self._stored_root(size) if self._stored_root is not None else committed
        except CunzhengError as exc:
            stored = None
            self.notes.append(f"checkpoint {size}: the stored loan index cannot be read: {exc}")
        if stored != committed:
            self.note(kind="loan-index-stored", detail=(
                f"checkpoint {size}: it commits to loan-index root {committed.hex()}, the "
                f"stored index gives {stored.hex() if stored else None} at that size: the "
                "index table or the checkpoint was changed"), checkpoint_size=size,
                expected=committed.hex(), found=stored.hex() if stored else None)
        derived = self.index.root()
        if derived != committed:
            self.note(kind="loan-index", detail=(
                f"checkpoint {size}: it commits to loan-index root {committed.hex()}, the "
                f"leaves give {derived.hex()}{self._which(size, committed)}"),
                checkpoint_size=size, expected=derived.hex(), found=committed.hex())

    def _which(self, size: int, committed: bytes) -> str:
        """The loans whose entry at the committed root differs from the leaves'."""
        if self._stored_proof is None or self._named >= MAX_NAMED_CHECKPOINTS:
            return ""
        self._named += 1
        named: list[str] = []
        entries = sorted(self.index.entries.values(), key=lambda e: e.key)
        for entry in entries[:MAX_PROOFS]:
            try:
                at_root = verify_proof(self._stored_proof(entry.key, size), committed)
            except CunzhengError as exc:
                return f"; the stored index does not prove the committed root ({exc})"
            if at_root != entry:
                tenant, loan = self._names[entry.key]
                named.append(f"loan {loan!r} of tenant {tenant!r}: the checkpoint says "
                             f"{_value(at_root)}, the leaves {_value(entry)}")
        if not named:
            return ("; no loan's entry differs (the committed root was changed)"
                    if len(entries) <= MAX_PROOFS else "")
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
