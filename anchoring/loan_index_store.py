"""The loan index kept with the log: the nodes of `cunzheng_verify.loanindex`'s sparse Merkle
tree in `loan_index_nodes`, versioned by tree size, updated in the transaction that appends
the leaves, read at any tree size for roots and proofs.

Storage. A node is named by its position: `node_id = u16be(depth) || the first depth bits
of the path` (bits past `depth` zero, `ceil(depth / 8)` bytes). Only non-empty subtrees are
stored: kind "node" (two or more entries; its hash) and kind "entry" (a single-entry
subtree: its hash and its entry). The transaction that leaves the log at N leaves writes the
nodes it changed with `version = N`, each at most once; rows are never updated or deleted.
The tree at size N is every node's latest version <= N. Keys are only ever added and counts
only grow, so a position, once non-empty, stays so: a position without a version <= N is
empty at N. The index exists from size 0 (a new log) or from the size migration 0008 built
it at; a non-empty log whose root has no version <= N had no index at N.

Cost. An update reads, for each changed loan, the nodes on its path and their siblings
(a window of levels per query, all loans of the transaction at once: one query for most
transactions) and writes one row per level of its path; a proof is one such read. The
result equals `loanindex.root_of` and `loanindex.prove` over the same entries (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from anchoring.errors import IntegrityError, NotFound
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
FIRST_WINDOW = 24  # levels read by the first query of a walk (then it follows the tree)
CACHE_DEPTH = 16  # updates keep the newest nodes above this depth in memory ...
MAX_CACHED_NODES = 1 << 18  # ... at most this many (2 per position: a node and its sibling)
_CHUNK = 200  # node ids per query
_COLUMNS = ("node_id", "version", "kind", "hash", "entry_key", "entry_count",
            "entry_last_index", "entry_last_hash")
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


@dataclass(frozen=True, slots=True)
class StoredNode:
    kind: str
    hash: bytes
    entry: Entry | None


LogHead = tuple[int, bytes]
"""A log's tree size and Merkle root: names the leaves, so the loan index too."""


@dataclass(slots=True)
class _LatestNodes:
    """The newest version of the index's upper nodes (depth < CACHE_DEPTH; None: empty), as
    of the log head `head`: what every update reads first, kept between transactions.

    An update's own writes become part of it only once the log is seen at the head that
    update produced (`pending`), so a transaction that rolls back leaves nothing behind; and
    a log found at any other head (another process wrote, or this one rolled back and then
    someone else wrote) empties it. A head names its leaves, and the index is a function of
    the leaves, so equal heads mean equal indexes."""

    head: LogHead | None = None
    nodes: dict[bytes, StoredNode | None] = field(default_factory=dict)
    pending: tuple[LogHead, LogHead, dict[bytes, StoredNode]] | None = None

    def at(self, head: LogHead) -> dict[bytes, StoredNode | None]:
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


Row = tuple[bytes, int, str, bytes, bytes | None, int | None, int | None, bytes | None]
"""A row of `loan_index_nodes`, its columns in `_COLUMNS` order."""


def _row(nid: bytes, version: int, kind: str, h: bytes, entry: Entry | None) -> Row:
    if entry is None:
        return (nid, version, kind, h, None, None, None, None)
    return (nid, version, kind, h, entry.key, entry.count, entry.last_index, entry.last_hash)


def _stored(row: Row) -> StoredNode:
    _, _, kind, h, key, count, last_index, last_hash = row
    if kind != ENTRY:
        return StoredNode(kind, h, None)
    assert key is not None and count is not None and last_index is not None
    assert last_hash is not None
    return StoredNode(kind, h, Entry(key, count, last_index, last_hash))


def _fresh(depth: int, entries: Sequence[Entry], version: int,
           emit: Callable[[Row], object]) -> bytes:
    """The subtree at `depth` holding `entries` (sorted by key, sharing the path so far),
    written whole: the rows of every non-empty position in it, children first."""
    if len(entries) == 1:
        e = entries[0]
        emit(_row(node_id(depth, e.key), version, ENTRY, e.hash, e))
        return e.hash
    split = next((i for i, e in enumerate(entries) if key_bit(e.key, depth)), len(entries))
    left = _fresh(depth + 1, entries[:split], version, emit) if split else EMPTY
    right = (_fresh(depth + 1, entries[split:], version, emit) if split < len(entries)
             else EMPTY)
    h = node_hash(left, right)
    emit(_row(node_id(depth, entries[0].key), version, NODE, h, None))
    return h


def build_index(entries: Iterable[Entry], version: int,
                write: Callable[[list[dict[str, Any]]], object], chunk: int = 5000) -> bytes:
    """Write every row of the index holding `entries`, all at `version`, in lists of at most
    `chunk` rows (building it from scratch, as migration 0008 does); returns its root."""
    ordered = sorted(entries, key=lambda e: e.key)
    if len({e.key for e in ordered}) != len(ordered):
        raise IntegrityError("a loan index holds each key once")
    pending: list[dict[str, Any]] = []

    def emit(row: Row) -> None:
        pending.append(dict(zip(_COLUMNS, row, strict=True)))
        if len(pending) >= chunk:
            write(pending.copy())
            pending.clear()

    root = _fresh(0, ordered, version, emit) if ordered else EMPTY
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
    _index_window: int = FIRST_WINDOW
    _index_cache: _LatestNodes | None = None

    def _check_size(self, conn: Connection, size: int) -> None:
        raise NotImplementedError  # anchoring.tree_reads.TreeReads

    # --- reads --------------------------------------------------------------------------

    def _latest(self, conn: Connection, ids: Collection[bytes],
                version: int | None) -> dict[bytes, StoredNode]:
        """The nodes among `ids` at `version` (None: the newest), each its latest version."""
        found: dict[bytes, StoredNode] = {}
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        bound = "" if version is None else f" AND m.version <= {int(version)}"
        ordered = sorted(ids)
        for chunk in range(0, len(ordered), _CHUNK):
            part = ordered[chunk:chunk + _CHUNK]
            # each id's latest version by an index seek, then its row by primary key
            values = ", ".join([f"({mark})"] * len(part))
            sql = (f"WITH ids(id) AS (VALUES {values}) "
                   "SELECT n.node_id, n.kind, n.hash, n.entry_key, n.entry_count, "
                   "n.entry_last_index, n.entry_last_hash FROM ids JOIN loan_index_nodes n "
                   "ON n.node_id = ids.id AND n.version = (SELECT max(m.version) FROM "
                   f"loan_index_nodes m WHERE m.node_id = ids.id{bound})")
            for nid, kind, h, key, count, last_index, last_hash in conn.exec_driver_sql(
                    sql, tuple(part)):
                entry = None
                if kind == ENTRY:
                    entry = Entry(as_bytes(key), int(count), int(last_index),
                                  as_bytes(last_hash))
                found[as_bytes(nid)] = StoredNode(kind, as_bytes(h), entry)
        return found

    def _paths(self, conn: Connection, keys: Collection[bytes], version: int | None,
               cache: dict[bytes, StoredNode | None] | None = None) -> dict[bytes, StoredNode]:
        """Every stored node on the keys' paths down to where each ends (an empty position or
        an entry), and the siblings beside them: a window of levels per query. With `cache`
        (the newest nodes, `version` None), what it holds is not read, and what is read
        above CACHE_DEPTH is added to it."""
        found: dict[bytes, StoredNode] = {}
        open_keys = list(keys)
        low, window, deepest = 0, self._index_window, 0
        while open_keys:
            high = min(KEY_BITS + 1, low + window)
            wanted: set[bytes] = set()
            for k in open_keys:
                for d in range(low, high):
                    for nid in (node_id(d, k), sibling_id(d, k)) if d else (node_id(d, k),):
                        if cache is None or nid not in cache:
                            wanted.add(nid)
                        elif (node := cache[nid]) is not None:
                            found[nid] = node
            if wanted:
                read = self._latest(conn, wanted, version)
                found.update(read)
                if cache is not None:
                    cache.update((nid, read.get(nid)) for nid in wanted
                                 if nid[0] == 0 and nid[1] < CACHE_DEPTH)
            still = []
            for k in open_keys:
                for d in range(low, high):
                    node = found.get(node_id(d, k))
                    if node is None or node.kind == ENTRY:
                        deepest = max(deepest, d)
                        break
                else:
                    still.append(k)
            open_keys, low, window = still, high, 8
        if deepest:  # the next walk reads as deep as this one went, and a little more
            self._index_window = deepest + 3
        return found

    @staticmethod
    def _sibling_hash(found: Mapping[bytes, StoredNode], depth: int, key: bytes) -> bytes:
        node = found.get(sibling_id(depth, key))
        return EMPTY if node is None else node.hash

    def loan_index_root(self, tree_size: int) -> bytes | None:
        """The loan index root at `tree_size` (32 zero bytes for an empty map); None when the
        log kept no index at that size (it predates migration 0008)."""
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            root = self._latest(conn, [ROOT_ID], tree_size).get(ROOT_ID)
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
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            found = self._paths(conn, [key], tree_size)
        siblings: list[bytes] = []
        for depth in range(KEY_BITS + 1):
            node = found.get(node_id(depth, key))
            if node is None:
                if depth == 0 and tree_size > 0:
                    raise NotFound(f"the log kept no loan index at tree size {tree_size}")
                return IndexProof(key, tuple(siblings), None)
            if node.kind == ENTRY:
                return IndexProof(key, tuple(siblings), node.entry)
            siblings.append(self._sibling_hash(found, depth + 1, key))
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
        found = self._paths(conn, changes.keys(), None, cache)
        rows: list[Row] = []
        self._rebuild(0, sorted(changes.values(), key=lambda e: e.key), found, after[0], rows)
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        # by hand: the rows of a transaction go in one executemany without SQLAlchemy's
        # per-row processing (this runs in every append)
        conn.exec_driver_sql(f"INSERT INTO loan_index_nodes ({', '.join(_COLUMNS)}) "
                             f"VALUES ({', '.join([mark] * len(_COLUMNS))})", rows)
        self._index_cache.pending = (before, after, {
            r[0]: _stored(r) for r in rows if r[0][0] == 0 and r[0][1] < CACHE_DEPTH})

    def _rebuild(self, depth: int, changed: Sequence[Entry], found: Mapping[bytes, StoredNode],
                 version: int, rows: list[Row]) -> bytes:
        """The new hash of the position at `depth` holding `changed` (sorted, non-empty, on
        this position's path) and what it held before; writes every position that changed."""
        nid = node_id(depth, changed[0].key)
        node = found.get(nid)
        if node is None:  # empty before: a new subtree of the new entries alone
            return _fresh(depth, changed, version, rows.append)
        if node.kind == ENTRY:
            old = node.entry
            assert old is not None
            if all(e.key != old.key for e in changed):  # the lone entry gets company
                changed = sorted([*changed, old], key=lambda e: e.key)
            return _fresh(depth, changed, version, rows.append)
        split = next((i for i, e in enumerate(changed) if key_bit(e.key, depth)), len(changed))
        left, right = changed[:split], changed[split:]
        lh = (self._rebuild(depth + 1, left, found, version, rows) if left
              else self._sibling_hash(found, depth + 1, right[0].key))
        rh = (self._rebuild(depth + 1, right, found, version, rows) if right
              else self._sibling_hash(found, depth + 1, left[0].key))
        h = node_hash(lh, rh)
        rows.append(_row(nid, version, NODE, h, None))
        return h


def index_changes(heads: Mapping[tuple[str, str], tuple[int, int, bytes]],
                  loans: Iterable[tuple[str, str]]) -> dict[bytes, Entry]:
    """The index entries of `loans` from their heads (count, last index, last hash)."""
    out: dict[bytes, Entry] = {}
    for tenant, loan in loans:
        count, last_index, last_hash = heads[(tenant, loan)]
        key = loan_key(tenant, loan)
        out[key] = Entry(key, count, last_index, last_hash)
    return out

