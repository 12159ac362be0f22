"""The evidence log on SQLAlchemy: sequencing and integrating leaves, proofs, checkpoints,
documents.

Leaves are sequenced and integrated in one transaction that holds the log's write lock (the
`log_state` row, `SELECT ... FOR UPDATE` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite, set up
by `service.db`), so indices stay contiguous with any number of writers, and an inclusion
proof exists as soon as the transaction that acknowledges an event commits. Proofs read
the O(log n) complete-subtree nodes they need in one query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring import merkle
from anchoring.errors import Conflict, LogError, NotFound
from anchoring.records import Record
from anchoring.tables import checkpoints, document_tenants, documents, leaves, log_state, nodes

MAX_RANGE = 1000  # leaf hashes per read


@dataclass(frozen=True, slots=True)
class Pending:
    """An event ready to enter the log: its canonical record and its idempotency hash."""

    tenant: str
    posted_hash: str
    record: Record


@dataclass(frozen=True, slots=True)
class Accepted:
    leaf_index: int
    leaf_hash: bytes
    received_at: str
    replay: bool  # True when the same event had been accepted before


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tree_size: int
    root: bytes
    note: str
    signed_at: str


@dataclass(frozen=True, slots=True)
class StoredLeaf:
    leaf_index: int
    leaf_hash: bytes
    tenant: str
    event_id: str
    loan_id: str
    event_type: str
    received_at: str
    record: bytes | None


class BatchItemError(LogError):
    """An item of a batch was refused; nothing of the batch was written."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"event {index} of the batch: {error}")
        self.index = index
        self.error = error


LoanPolicy = Callable[[Sequence[bytes], Sequence[Record]], None]
"""Checks new records of one loan against the records it already has (the lending state
machine); raises to refuse. Receives the stored record bytes of the loan, oldest first."""


def _blob(value: Any) -> bytes:
    # SQLite hands back TEXT if someone rewrote a BLOB with a string function; fsck must
    # still read it (and find it changed) rather than crash.
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


class LogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    # --- transactions -------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction holding the log's write lock."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(cunzheng_write=True)
            with conn.begin():
                self._ensure_state(conn)
                if self._postgres:
                    conn.execute(select(log_state.c.id).where(log_state.c.id == 1).with_for_update())
                yield conn

    def _ensure_state(self, conn: Connection) -> None:
        if conn.execute(select(log_state.c.id).where(log_state.c.id == 1)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(log_state).values(id=1, tree_size=0, root=merkle.EMPTY_ROOT))
            except SAIntegrityError:
                pass  # another writer created it first

    @staticmethod
    def _size(conn: Connection) -> int:
        row = conn.execute(select(log_state.c.tree_size).where(log_state.c.id == 1)).first()
        return int(row[0]) if row else 0

    # --- sequencing and integration -----------------------------------------------------

    def append(self, items: Sequence[Pending], policy: LoanPolicy | None = None) -> list[Accepted]:
        """Accept a batch atomically: every item is stored (or recognised as a replay), or
        none is. Raises `BatchItemError` naming the first refused item."""
        with self._write() as conn:
            results: list[Accepted | None] = [None] * len(items)
            existing = self._existing(conn, items)
            fresh: list[tuple[int, Pending]] = []
            seen: dict[tuple[str, str], tuple[int, str]] = {}
            for i, item in enumerate(items):
                key = (item.tenant, item.record.event_id)
                before = existing.get(key)
                if before is not None:
                    if before[1] != item.posted_hash:
                        raise BatchItemError(i, self._conflict(item, before[1]))
                    results[i] = before[0]
                elif key in seen:
                    if seen[key][1] != item.posted_hash:
                        raise BatchItemError(i, self._conflict(item, seen[key][1]))
                else:
                    seen[key] = (i, item.posted_hash)
                    fresh.append((i, item))
            if policy is not None:
                self._check_loans(conn, fresh, policy)
            size = self._size(conn)
            frontier = merkle.Frontier(size, self._reader(conn, merkle.nodes_for_root(size)))
            leaf_rows, node_rows = [], []
            for i, item in fresh:
                rec = item.record
                index = frontier.size
                node_rows.extend(
                    {"level": lv, "idx": ix, "hash": h} for lv, ix, h in frontier.append(rec.leaf_hash)
                )
                leaf_rows.append({
                    "leaf_index": index, "leaf_hash": rec.leaf_hash, "tenant": item.tenant,
                    "event_id": rec.event_id, "loan_id": rec.loan_id, "event_type": rec.type,
                    "posted_hash": item.posted_hash, "received_at": rec.received_at,
                    "record": rec.data,
                })
                results[i] = Accepted(index, rec.leaf_hash, rec.received_at, replay=False)
            if leaf_rows:
                conn.execute(insert(leaves), leaf_rows)
                conn.execute(insert(nodes), node_rows)
                conn.execute(
                    update(log_state).where(log_state.c.id == 1)
                    .values(tree_size=frontier.size, root=frontier.root())
                )
            for i, item in enumerate(items):  # in-batch replays point at their first copy
                if results[i] is None:
                    first = seen[(item.tenant, item.record.event_id)][0]
                    r = results[first]
                    assert r is not None
                    results[i] = Accepted(r.leaf_index, r.leaf_hash, r.received_at, replay=True)
            return [r for r in results if r is not None]

    @staticmethod
    def _conflict(item: Pending, existing_hash: str) -> Conflict:
        return Conflict(
            f"event_id {item.record.event_id!r} was already accepted with different content "
            f"(accepted content hash {existing_hash}, this one {item.posted_hash}); "
            f"use a new event_id for a new event",
            existing_hash=existing_hash,
            new_hash=item.posted_hash,
        )

    @staticmethod
    def _existing(
        conn: Connection, items: Sequence[Pending]
    ) -> dict[tuple[str, str], tuple[Accepted, str]]:
        keys = list({(i.tenant, i.record.event_id) for i in items})
        found: dict[tuple[str, str], tuple[Accepted, str]] = {}
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(
                select(leaves.c.tenant, leaves.c.event_id, leaves.c.leaf_index,
                       leaves.c.leaf_hash, leaves.c.received_at, leaves.c.posted_hash)
                .where(tuple_(leaves.c.tenant, leaves.c.event_id).in_(keys[chunk:chunk + 500]))
            )
            for t, e, idx, lh, at, ph in rows:
                found[(t, e)] = (Accepted(int(idx), bytes(lh), at, replay=True), ph)
        return found

    @staticmethod
    def _check_loans(
        conn: Connection, fresh: Sequence[tuple[int, Pending]], policy: LoanPolicy
    ) -> None:
        by_loan: dict[tuple[str, str], list[tuple[int, Pending]]] = {}
        for i, item in fresh:
            by_loan.setdefault((item.tenant, item.record.loan_id), []).append((i, item))
        histories: dict[tuple[str, str], list[bytes]] = {k: [] for k in by_loan}
        keys = list(by_loan)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(
                select(leaves.c.tenant, leaves.c.loan_id, leaves.c.record)
                .where(tuple_(leaves.c.tenant, leaves.c.loan_id).in_(keys[chunk:chunk + 500]))
                .where(leaves.c.record.is_not(None))
                .order_by(leaves.c.leaf_index)
            )
            for t, loan, data in rows:
                histories[(t, loan)].append(bytes(data))
        for key, group in by_loan.items():
            try:
                policy(histories[key], [item.record for _, item in group])
            except BatchItemError:
                raise
            except Exception as exc:
                index = getattr(exc, "item", 0)
                raise BatchItemError(group[min(index, len(group) - 1)][0], exc) from exc

    # --- reading the tree ---------------------------------------------------------------

    @staticmethod
    def _reader(conn: Connection, keys: Sequence[merkle.NodeKey]) -> merkle.NodeReader:
        found: dict[merkle.NodeKey, bytes] = {}
        for chunk in range(0, len(keys), 200):
            part = keys[chunk:chunk + 200]
            if not part:
                continue
            rows = conn.execute(
                select(nodes.c.level, nodes.c.idx, nodes.c.hash)
                .where(tuple_(nodes.c.level, nodes.c.idx).in_(part))
            )
            found.update({(int(lv), int(ix)): bytes(h) for lv, ix, h in rows})

        def read(level: int, index: int) -> bytes:
            try:
                return found[(level, index)]
            except KeyError:
                raise LogError(f"stored tree lacks node level {level} index {index}") from None

        return read

    def tree_size(self) -> int:
        with self.engine.connect() as conn:
            return self._size(conn)

    def tree_head(self) -> tuple[int, bytes]:
        with self.engine.connect() as conn:
            row = conn.execute(select(log_state.c.tree_size, log_state.c.root)).first()
        return (int(row[0]), bytes(row[1])) if row else (0, merkle.EMPTY_ROOT)

    def root(self, size: int) -> bytes:
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            return merkle.root_from_nodes(size, self._reader(conn, merkle.nodes_for_root(size)))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, size)
            if not 0 <= index < size:
                raise NotFound(f"leaf {index} is not in a tree of size {size}")
            keys = merkle.nodes_for_inclusion(index, size)
            return merkle.inclusion_proof_from_nodes(index, size, self._reader(conn, keys))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self.engine.connect() as conn:
            self._check_size(conn, size2)
            if not 0 <= size1 <= size2:
                raise LogError(f"need 0 <= first <= second, got {size1} and {size2}")
            keys = merkle.nodes_for_consistency(size1, size2)
            return merkle.consistency_proof_from_nodes(size1, size2, self._reader(conn, keys))

    def _check_size(self, conn: Connection, size: int) -> None:
        current = self._size(conn)
        if not 0 <= size <= current:
            raise NotFound(f"tree size {size} is beyond the log's size {current}")

    # --- leaves -------------------------------------------------------------------------

    _LEAF_COLUMNS = (leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.tenant, leaves.c.event_id,
                     leaves.c.loan_id, leaves.c.event_type, leaves.c.received_at, leaves.c.record)

    @staticmethod
    def _leaf(row: Any) -> StoredLeaf:
        return StoredLeaf(int(row[0]), _blob(row[1]), row[2], row[3], row[4], row[5], row[6],
                          None if row[7] is None else _blob(row[7]))

    def leaf(self, index: int) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(select(*self._LEAF_COLUMNS).where(leaves.c.leaf_index == index)).first()
        if row is None:
            raise NotFound(f"no leaf at index {index}")
        return self._leaf(row)

    def leaf_by_hash(self, leaf_hash: bytes) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._LEAF_COLUMNS).where(leaves.c.leaf_hash == leaf_hash)
                .order_by(leaves.c.leaf_index).limit(1)
            ).first()
        if row is None:
            raise NotFound(f"no leaf with hash {leaf_hash.hex()}")
        return self._leaf(row)

    def event(self, tenant: str, event_id: str) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._LEAF_COLUMNS)
                .where(and_(leaves.c.tenant == tenant, leaves.c.event_id == event_id))
            ).first()
        if row is None:
            raise NotFound(f"no event {event_id!r} for tenant {tenant!r}")
        return self._leaf(row)

    def loan_events(self, tenant: str, loan_id: str) -> list[StoredLeaf]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*self._LEAF_COLUMNS)
                .where(and_(leaves.c.tenant == tenant, leaves.c.loan_id == loan_id))
                .order_by(leaves.c.leaf_index)
            ).all()
        return [self._leaf(r) for r in rows]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        if not 0 <= start <= end or end - start > MAX_RANGE:
            raise LogError(f"range must satisfy 0 <= start <= end and at most {MAX_RANGE} "
                           f"leaves; got [{start}, {end})")
        with self.engine.connect() as conn:
            self._check_size(conn, end)
            rows = conn.execute(
                select(nodes.c.hash).where(and_(nodes.c.level == 0, nodes.c.idx >= start,
                                                nodes.c.idx < end)).order_by(nodes.c.idx)
            ).all()
        return [bytes(r[0]) for r in rows]

    def iter_leaves(self, start: int = 0, batch: int = 5000) -> Iterator[StoredLeaf]:
        """Every stored leaf row in index order (for fsck)."""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(*self._LEAF_COLUMNS).where(leaves.c.leaf_index >= start)
                    .order_by(leaves.c.leaf_index).limit(batch)
                ).all()
            if not rows:
                return
            for r in rows:
                yield self._leaf(r)
            start = int(rows[-1][0]) + 1

    def count_leaves(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(leaves)).scalar_one())

    # --- checkpoints --------------------------------------------------------------------

    def add_checkpoint(self, cp: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False if one of that size exists already."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(checkpoints).values(
                    tree_size=cp.tree_size, root=cp.root, note=cp.note, signed_at=cp.signed_at))
            return True
        except SAIntegrityError:
            return False

    @staticmethod
    def _checkpoint(row: Any) -> StoredCheckpoint:
        return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])

    _CP_COLUMNS = (checkpoints.c.tree_size, checkpoints.c.root, checkpoints.c.note,
                   checkpoints.c.signed_at)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._CP_COLUMNS).order_by(checkpoints.c.tree_size.desc()).limit(1)
            ).first()
        return None if row is None else self._checkpoint(row)

    def checkpoint(self, size: int) -> StoredCheckpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(*self._CP_COLUMNS).where(checkpoints.c.tree_size == size)).first()
        if row is None:
            raise NotFound(f"no checkpoint of size {size}")
        return self._checkpoint(row)

    def checkpoint_covering(self, leaf_index: int) -> StoredCheckpoint | None:
        """The earliest checkpoint that contains the leaf."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._CP_COLUMNS).where(checkpoints.c.tree_size > leaf_index)
                .order_by(checkpoints.c.tree_size).limit(1)
            ).first()
        return None if row is None else self._checkpoint(row)

    def list_checkpoints(self, limit: int = 20, before: int | None = None) -> list[StoredCheckpoint]:
        query = select(*self._CP_COLUMNS).order_by(checkpoints.c.tree_size.desc()).limit(limit)
        if before is not None:
            query = query.where(checkpoints.c.tree_size < before)
        with self.engine.connect() as conn:
            return [self._checkpoint(r) for r in conn.execute(query)]

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*self._CP_COLUMNS).order_by(checkpoints.c.tree_size)).all()
        return iter([self._checkpoint(r) for r in rows])

    # --- documents ----------------------------------------------------------------------

    def put_document(self, tenant: str, sha256: str, media_type: str, content: bytes,
                     created_at: str) -> bool:
        """Store a document (content-addressed); False if it was there already."""
        with self.engine.begin() as conn:
            have = conn.execute(select(documents.c.sha256).where(documents.c.sha256 == sha256)).first()
            if have is None:
                conn.execute(insert(documents).values(sha256=sha256, media_type=media_type,
                                                      size=len(content), content=content,
                                                      created_at=created_at))
            owned = conn.execute(select(document_tenants.c.sha256).where(and_(
                document_tenants.c.sha256 == sha256, document_tenants.c.tenant == tenant))).first()
            if owned is None:
                conn.execute(insert(document_tenants).values(sha256=sha256, tenant=tenant))
            return have is None

    def document(self, sha256: str, tenant: str | None = None) -> tuple[str, bytes | None]:
        """(media type, content) of a document; with `tenant`, only if that tenant owns it."""
        query = select(documents.c.media_type, documents.c.content).where(documents.c.sha256 == sha256)
        if tenant is not None:
            query = query.where(documents.c.sha256.in_(
                select(document_tenants.c.sha256).where(document_tenants.c.tenant == tenant)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no document with SHA-256 {sha256}")
        return row[0], None if row[1] is None else bytes(row[1])

    def has_documents(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents.c.sha256).where(documents.c.sha256.in_(list(hashes))))
            return {r[0] for r in rows}

