"""The loan index kept with the log: the nodes of `cunzheng_verify.loanindex`'s sparse Merkle
tree in `loan_index_nodes`, versioned by tree size, updated in the transaction that appends
the leaves, read at the tree size of any such transaction for roots and proofs.

Storage. A position in the tree is named `node_id = u16be(depth) || the first depth bits of
the path` (bits past `depth` zero, `ceil(depth / 8)` bytes). Only non-empty subtrees are
stored: kind "node" (two or more entries: its hash, and for each child its hash and the
version it was written at, NULL for an empty child) and kind "entry" (a single-entry
subtree: its hash and its entry). The transaction that leaves the log at N leaves writes
every position it changed with `version = N`, each once, the root always; rows are never
updated or deleted. The tree at size N is read from the root written at N down the child
versions, each of which is that child's latest version <= N. Rows are clustered by
(version, node_id), so a transaction's rows land together at the end of the table (a few
pages a commit, not one page per level); a node is found from its parent, never by a
search over its versions. The index exists at size 0 (empty) and at every size an append
transaction (or migration 0008's build) left the log at; at other sizes there is none.

Cost. An update walks each changed loan's path from the root (the upper levels kept in
memory between transactions, the rest read a level at a time for all loans of the
transaction at once) and writes one row per level of its path; a proof reads one row a
level. The result equals `loanindex.root_of` and `loanindex.prove` over the same entries
(tested).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from anchoring.errors import IntegrityError, LogError, NotFound
from anchoring.sql import as_bytes
from anchoring.tables import leaves
from cunzheng_verify.loanindex import (
    EMPTY,
    KEY_BITS,
    Entry,
    IndexProof,
    key_bit,
    loan_key,
    node_hash,
)

__all__ = ["ENTRY", "NODE", "ROOT_ID", "LoanIndexStore", "StoredNode", "build_index",
           "index_changes", "index_rows", "node_id", "sibling_id"]

NODE, ENTRY = "node", "entry"
ROOT_ID = (0).to_bytes(2, "big")  # node_id(0, any key)
CACHE_DEPTH = 16  # updates keep the newest nodes above this depth in memory ...
MAX_CACHED_NODES = 1 << 17  # ... at most this many
_CHUNK = 200  # rows per query
_COLUMNS = ("version", "node_id", "kind", "hash", "left_hash", "right_hash", "left_version",
            "right_version", "entry_key", "entry_count", "entry_last_index", "entry_last_hash")
_MASK = [0, 0x80, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE]


def node_id(depth: int, key: bytes) -> bytes:
    """The id of the position at `depth` on `key`'s path."""
    full, rest = depth >> 3, depth & 7
    if rest:
        return bytes((depth >> 8, depth & 0xFF, *key[:full], key[full] & _MASK[rest]))
    return bytes((depth >> 8, depth & 0xFF)) + key[:full]


def sibling_id(depth: int, key: bytes) -> bytes:
    """The id of the position at `depth` (>= 1) beside `key`'s path: the other child of the
    path's node at `depth - 1`."""
    nid = bytearray(node_id(depth, key))
    bit = depth - 1
    nid[2 + (bit >> 3)] ^= 0x80 >> (bit & 7)
    return bytes(nid)


Child = tuple[bytes, int]
"""A child of a stored node: its hash and the version its row was written at."""


@dataclass(frozen=True, slots=True)
class StoredNode:
    """A stored position: a node (its children, None where empty) or a single entry."""

    kind: str
    hash: bytes
    entry: Entry | None = None
    left: Child | None = None
    right: Child | None = None


Row = tuple[int, bytes, str, bytes, bytes | None, bytes | None, int | None, int | None,
            bytes | None, int | None, int | None, bytes | None]
"""A row of `loan_index_nodes`, its columns in `_COLUMNS` order."""


def _row(version: int, nid: bytes, node: StoredNode) -> Row:
    left, right, e = node.left, node.right, node.entry
    return (version, nid, node.kind, node.hash,
            None if left is None else left[0], None if right is None else right[0],
            None if left is None else left[1], None if right is None else right[1],
            None if e is None else e.key, None if e is None else e.count,
            None if e is None else e.last_index, None if e is None else e.last_hash)


def _node(kind: str, h: Any, lh: Any, rh: Any, lv: Any, rv: Any, key: Any, count: Any,
          last_index: Any, last_hash: Any) -> StoredNode:
    """A stored node from its columns, as a database driver hands them over."""
    if kind == ENTRY:
        return StoredNode(ENTRY, as_bytes(h), Entry(as_bytes(key), int(count), int(last_index),
                                                    as_bytes(last_hash)))
    return StoredNode(NODE, as_bytes(h), None,
                      None if lv is None else (as_bytes(lh), int(lv)),
                      None if rv is None else (as_bytes(rh), int(rv)))


LogHead = tuple[int, bytes]
"""A log's tree size and Merkle root: names the leaves, so the loan index too."""


@dataclass(slots=True)
class _LatestNodes:
    """The newest version of the index's upper nodes (depth < CACHE_DEPTH: the version its
    row was written at, and the node), as of the log head `head`: what every update reads
    first, kept between transactions.

    An update's own writes become part of it only once the log is seen at the head that
    update produced (`pending`), so a transaction that rolls back leaves nothing behind; and
    a log found at any other head (another process wrote, or this one rolled back and then
    someone else wrote) empties it. A head names its leaves, and the index is a function of
    the leaves, so equal heads mean equal indexes. A node is taken from here only when its
    version is the one its parent names."""

    head: LogHead | None = None
    nodes: dict[bytes, tuple[int, StoredNode]] = field(default_factory=dict)
    pending: tuple[LogHead, LogHead, dict[bytes, tuple[int, StoredNode]]] | None = None

    def at(self, head: LogHead) -> dict[bytes, tuple[int, StoredNode]]:
        """The nodes, valid at `head` (the log's head as this transaction found it)."""
        if self.pending is not None:
            base, new, written = self.pending
            self.pending = None
            if base == self.head and new == head:  # that update committed
                self.nodes.update(written)
                self.head = head
        if self.head != head or len(self.nodes) > MAX_CACHED_NODES:
            self.nodes.clear()
            self.head = head
        return self.nodes


def _fresh(depth: int, entries: Sequence[Entry], version: int,
           emit: Callable[[bytes, StoredNode], object]) -> StoredNode:
    """The subtree at `depth` holding `entries` (sorted by key, sharing the path so far),
    written whole at `version`: every non-empty position in it, children first."""
    if len(entries) == 1:
        e = entries[0]
        node = StoredNode(ENTRY, e.hash, e)
    else:
        split = next((i for i, e in enumerate(entries) if key_bit(e.key, depth)), len(entries))
        left = _fresh(depth + 1, entries[:split], version, emit) if split else None
        right = (_fresh(depth + 1, entries[split:], version, emit) if split < len(entries)
                 else None)
        node = StoredNode(NODE, node_hash(EMPTY if left is None else left.hash,
                                          EMPTY if right is None else right.hash), None,
                          None if left is None else (left.hash, version),
                          None if right is None else (right.hash, version))
    emit(node_id(depth, entries[0].key), node)
    return node


def build_index(entries: Iterable[Entry], version: int,
                write: Callable[[list[dict[str, Any]]], object], chunk: int = 5000) -> bytes:
    """Write every row of the index holding `entries`, all at `version`, in lists of at most
    `chunk` rows (building it from scratch, as migration 0008 does); returns its root."""
    ordered = sorted(entries, key=lambda e: e.key)
    if len({e.key for e in ordered}) != len(ordered):
        raise IntegrityError("a loan index holds each key once")
    pending: list[dict[str, Any]] = []

    def emit(nid: bytes, node: StoredNode) -> None:
        pending.append(dict(zip(_COLUMNS, _row(version, nid, node), strict=True)))
        if len(pending) >= chunk:
            write(pending.copy())
            pending.clear()

    root = _fresh(0, ordered, version, emit).hash if ordered else EMPTY
    if pending:
        write(pending)
    return root


def index_rows(entries: Iterable[Entry], version: int) -> list[dict[str, Any]]:
    """Every row of the index holding `entries`, all at `version`."""
    rows: list[dict[str, Any]] = []
    build_index(entries, version, rows.extend)
    return rows


class LoanIndexStore:
    """The loan index part of `anchoring.store.LogStore`."""

    engine: Engine
    loan_index: bool  # False only for a benchmark's baseline: no index is kept
    _index_cache: _LatestNodes | None = None

    def _check_size(self, conn: Connection, size: int) -> None:
        raise NotImplementedError  # anchoring.tree_reads.TreeReads

    # --- reads --------------------------------------------------------------------------

    @staticmethod
    def _rows(conn: Connection, wanted: Collection[tuple[int, bytes]]
              ) -> dict[tuple[int, bytes], StoredNode]:
        """The stored nodes at the (version, node_id) given, by primary key."""
        found: dict[tuple[int, bytes], StoredNode] = {}
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        ordered = sorted(wanted)
        for chunk in range(0, len(ordered), _CHUNK):
            part = ordered[chunk:chunk + _CHUNK]
            # by hand, like the tree's proofs (anchoring.tree_reads): a plain indexed OR query
            where = " OR ".join([f"(version = {mark} AND node_id = {mark})"] * len(part))
            rows = conn.exec_driver_sql(
                f"SELECT {', '.join(_COLUMNS)} FROM loan_index_nodes WHERE {where}",
                tuple(v for pair in part for v in pair))
            for version, nid, *columns in rows:
                found[(int(version), as_bytes(nid))] = _node(*columns)
        return found

    def _root(self, conn: Connection, tree_size: int) -> StoredNode | None:
        return self._rows(conn, [(tree_size, ROOT_ID)]).get((tree_size, ROOT_ID))

    def loan_index_root(self, tree_size: int) -> bytes | None:
        """The loan index root at `tree_size` (32 zero bytes for an empty map); None when the
        log kept no index at that size (before migration 0008, or a size no transaction
        left the log at)."""
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            root = self._root(conn, tree_size)
        if root is not None:
            return root.hash
        return EMPTY if tree_size == 0 else None

    def loan_index_proof(self, tenant: str, loan_id: str, tree_size: int) -> IndexProof:
        """The index proof for the loan at `tree_size`: membership with its entry (count,
        last leaf index, last leaf hash), or non-membership for a loan without records
        there. `NotFound` when the log kept no index at that size."""
        return self.loan_index_proof_for_key(loan_key(tenant, loan_id), tree_size)

    def loan_index_proof_for_key(self, key: bytes, tree_size: int) -> IndexProof:
        """`loan_index_proof` for a 32-byte key."""
        if len(key) != 32:
            raise LogError(f"a loan index key is 32 bytes, got {len(key)}")
        siblings: list[bytes] = []
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            node = self._root(conn, tree_size)
            if node is None:
                if tree_size > 0:
                    raise NotFound(f"the log kept no loan index at tree size {tree_size}")
                return IndexProof(key, (), None)
            for depth in range(KEY_BITS):
                if node.kind == ENTRY:
                    return IndexProof(key, tuple(siblings), node.entry)
                child, other = ((node.right, node.left) if key_bit(key, depth)
                                else (node.left, node.right))
                siblings.append(EMPTY if other is None else other[0])
                if child is None:
                    return IndexProof(key, tuple(siblings), None)
                at = (child[1], node_id(depth + 1, key))
                found = self._rows(conn, [at]).get(at)
                if found is None:
                    raise IntegrityError(f"the stored loan index lacks node {at[1].hex()} "
                                         f"version {at[0]}, which its parent names")
                node = found
        if node.kind == ENTRY:
            return IndexProof(key, tuple(siblings), node.entry)
        raise IntegrityError(f"the stored loan index has no end on the path of {key.hex()}")

    def loan_index_entries(self, tree_size: int) -> list[Entry]:
        """The index's entries at `tree_size` recomputed from the leaves' columns, sorted by
        key: per (tenant, loan_id), how many leaves below `tree_size` and the index and hash
        of the last (fsck compares their root with every committed one)."""
        heads: dict[tuple[str, str], tuple[int, int, bytes]] = {}
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            rows = conn.execute(
                select(leaves.c.tenant, leaves.c.loan_id, leaves.c.leaf_index,
                       leaves.c.leaf_hash)
                .where(leaves.c.leaf_index < tree_size).order_by(leaves.c.leaf_index)
                .execution_options(stream_results=True, yield_per=10_000))
            for tenant, loan, index, h in rows:
                count = heads.get((tenant, loan), (0, 0, b""))[0]
                heads[(tenant, loan)] = (count + 1, int(index), as_bytes(h))
        entries = [Entry(loan_key(t, loan), c, i, h) for (t, loan), (c, i, h) in heads.items()]
        return sorted(entries, key=lambda e: e.key)

    # --- the update, inside the append transaction ---------------------------------------

    def _update_loan_index(self, conn: Connection, changes: Mapping[bytes, Entry],
                           before: LogHead, after: LogHead) -> None:
        """Write the index in the transaction that takes the log from head `before` to head
        `after` (tree size, root): `changes` holds each changed loan's new entry, by key."""
        if not self.loan_index or not changes:
            return
        if self._index_cache is None:
            self._index_cache = _LatestNodes()
        cache = self._index_cache.at(before)
        size, version = before[0], after[0]
        cached_root = cache.get(ROOT_ID)
        root = (cached_root[1] if cached_root is not None and cached_root[0] == size
                else self._root(conn, size))
        if root is None and size > 0:
            raise IntegrityError(f"the log has no loan index at its size {size}: migrate "
                                 f"(migration 0008 builds it)")
        found = self._walk(conn, root, changes.keys(), cache)
        rows: list[Row] = []
        written: dict[bytes, tuple[int, StoredNode]] = {}

        def emit(nid: bytes, node: StoredNode) -> None:
            rows.append(_row(version, nid, node))
            if nid[0] == 0 and nid[1] < CACHE_DEPTH:
                written[nid] = (version, node)

        self._rebuild(0, root, sorted(changes.values(), key=lambda e: e.key), found, version,
                      emit)
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        # by hand: the rows of a transaction go in one executemany without SQLAlchemy's
        # per-row processing (this runs in every append)
        conn.exec_driver_sql(f"INSERT INTO loan_index_nodes ({', '.join(_COLUMNS)}) "
                             f"VALUES ({', '.join([mark] * len(_COLUMNS))})", rows)
        self._index_cache.pending = (before, after, written)

    def _walk(self, conn: Connection, root: StoredNode | None, keys: Iterable[bytes],
              cache: dict[bytes, tuple[int, StoredNode]]) -> dict[bytes, StoredNode]:
        """The current nodes on the keys' paths, by node_id: down from the root by the child
        versions, a level at a time (one query a level for all keys, for what `cache` does
        not hold; what is read above CACHE_DEPTH is added to it)."""
        found: dict[bytes, StoredNode] = {}
        if root is None:
            return found
        found[ROOT_ID] = root
        at_depth = {key: root for key in keys}
        depth = 0
        while at_depth:
            below: dict[bytes, StoredNode] = {}
            wanted: dict[tuple[int, bytes], list[bytes]] = {}
            for key, node in at_depth.items():
                if node.kind != NODE:
                    continue
                child = node.right if key_bit(key, depth) else node.left
                if child is None:
                    continue
                cid = node_id(depth + 1, key)
                known = found.get(cid)
                if known is None and (hit := cache.get(cid)) is not None and hit[0] == child[1]:
                    known = found[cid] = hit[1]
                if known is not None:
                    below[key] = known
                else:
                    wanted.setdefault((child[1], cid), []).append(key)
            if wanted:
                read = self._rows(conn, wanted.keys())
                for at, waiting in wanted.items():
                    got = read.get(at)
                    if got is None:
                        raise IntegrityError(f"the stored loan index lacks node {at[1].hex()} "
                                             f"version {at[0]}, which its parent names")
                    found[at[1]] = got
                    if depth + 1 < CACHE_DEPTH:
                        cache[at[1]] = (at[0], got)
                    below.update(dict.fromkeys(waiting, got))
            at_depth, depth = below, depth + 1
        return found

    def _rebuild(self, depth: int, node: StoredNode | None, changed: Sequence[Entry],
                 found: Mapping[bytes, StoredNode], version: int,
                 emit: Callable[[bytes, StoredNode], object]) -> StoredNode:
        """The new node at the position at `depth` holding `changed` (sorted, non-empty, on
        this position's path) and what it held (`node`, None: empty); writes every
        position that changed, at `version`."""
        if node is None:  # empty before: a new subtree of the new entries alone
            return _fresh(depth, changed, version, emit)
        if node.kind == ENTRY:
            lone = node.entry
            assert lone is not None
            if all(e.key != lone.key for e in changed):  # the lone entry gets company
                changed = sorted([*changed, lone], key=lambda e: e.key)
            return _fresh(depth, changed, version, emit)
        split = next((i for i, e in enumerate(changed) if key_bit(e.key, depth)), len(changed))
        left, right = node.left, node.right
        if split:
            below = changed[:split]
            old = None if left is None else found[node_id(depth + 1, below[0].key)]
            left = (self._rebuild(depth + 1, old, below, found, version, emit).hash, version)
        if split < len(changed):
            below = changed[split:]
            old = None if right is None else found[node_id(depth + 1, below[0].key)]
            right = (self._rebuild(depth + 1, old, below, found, version, emit).hash, version)
        new = StoredNode(NODE, node_hash(EMPTY if left is None else left[0],
                                         EMPTY if right is None else right[0]),
                         None, left, right)
        emit(node_id(depth, changed[0].key), new)
        return new


def index_changes(heads: Mapping[tuple[str, str], tuple[int, int, bytes]],
                  loans: Iterable[tuple[str, str]]) -> dict[bytes, Entry]:
    """The index entries of `loans` from their heads (count, last index, last hash)."""
    out: dict[bytes, Entry] = {}
    for tenant, loan in loans:
        count, last_index, last_hash = heads[(tenant, loan)]
        key = loan_key(tenant, loan)
        out[key] = Entry(key, count, last_index, last_hash)
    return out
