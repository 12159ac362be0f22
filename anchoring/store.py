"""The evidence log on SQLAlchemy: sequencing and integrating leaves, proofs, checkpoints,
documents.

Leaves are sequenced and integrated in one transaction that holds the log's write lock (the
`log_state` row, `SELECT ... FOR UPDATE` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite, set up
by `service.db`), so indices stay contiguous with any number of writers, and an inclusion
proof exists as soon as the transaction that acknowledges an event commits. Proofs read
the O(log n) complete-subtree nodes they need in one query.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring import merkle
from anchoring.crypto import Cipher, CryptoError, document_label, is_sealed, loan_label
from anchoring.errors import Conflict, IntegrityError, LogError, NotFound, RecordError
from anchoring.records import Record
from anchoring.tables import (
    checkpoints,
    data_keys,
    document_tenants,
    documents,
    leaves,
    log_state,
    nodes,
    record_documents,
)

MAX_RANGE = 1000  # leaf hashes per read
MAX_CACHED_KEYS = 100_000  # unwrapped loan data keys kept in memory


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
    problem: str | None = None  # set (by fsck reads) when stored content cannot be opened


class BatchItemError(LogError):
    """An item of a batch was refused; nothing of the batch was written."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"event {index} of the batch: {error}")
        self.index = index
        self.error = error


LoanPolicy = Callable[[Sequence[bytes], Sequence[Record]], None]
"""Checks new records of one loan against the records it already has (the lending state
machine); raises to refuse. Receives the stored record bytes of the loan, oldest first."""


def pairs_in(first: Any, second: Any, pairs: Sequence[tuple[Any, Any]]) -> ColumnElement[bool]:
    """`(first, second) IN pairs`, written so every database uses its index: SQLite 3.40
    plans a row-value IN as a full table scan, so group by the first column instead."""
    grouped: dict[Any, list[Any]] = {}
    for a, b in pairs:
        grouped.setdefault(a, []).append(b)
    if not grouped:
        return false()
    return or_(*[and_(first == a, second.in_(bs)) for a, bs in grouped.items()])


def _now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _blob(value: Any) -> bytes:
    # SQLite hands back TEXT if someone rewrote a BLOB with a string function; fsck must
    # still read it (and find it changed) rather than crash.
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


class ErasedLoan(LogError):
    """The loan's personal data was erased: it takes no new events."""


class LogStore:
    """With a `Cipher`, record contents and documents are sealed at rest (see
    `anchoring.crypto`); without one they are stored in the clear. Either way the leaf hash
    is over the plaintext record bytes."""

    def __init__(self, engine: Engine, cipher: Cipher | None = None) -> None:
        self.engine = engine
        self.cipher = cipher
        self._postgres = engine.dialect.name == "postgresql"
        self._state_exists = False
        # unwrapped data keys of recently used loans (None: erased), least recently used first
        self._loan_keys: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()

    # --- transactions -------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction holding the log's write lock."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(cunzheng_write=True)
            with conn.begin():
                if not self._state_exists:  # the row is never deleted once it is there
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
            return  # created in this transaction: known to exist only once it commits
        self._state_exists = True

    @staticmethod
    def _size(conn: Connection) -> int:
        row = conn.execute(select(log_state.c.tree_size).where(log_state.c.id == 1)).first()
        return int(row[0]) if row else 0

    # --- sequencing and integration -----------------------------------------------------

    def append(self, items: Sequence[Pending], policy: LoanPolicy | None = None) -> list[Accepted]:
        """Accept a batch atomically: every item is stored (or recognised as a replay), or
        none is. Raises `BatchItemError` naming the first refused item."""
        [outcome] = self.append_group([(items, policy)])
        if isinstance(outcome, BatchItemError):
            raise outcome
        return outcome

    def append_group(
        self, requests: Sequence[tuple[Sequence[Pending], LoanPolicy | None]]
    ) -> list[list[Accepted] | BatchItemError]:
        """Accept several independent batches in one transaction, so one commit (one fsync)
        serves them all (group commit, `anchoring.sequencer`). Each batch is all or nothing
        on its own and is judged exactly as if it came alone, right after the accepted ones
        before it: a replay of an event accepted earlier in the group is a replay, a
        conflict with it is a conflict, strict loan checks see its records. A refused batch
        writes nothing and leaves the others alone; its outcome is the `BatchItemError`.
        Outcomes are returned only after the commit; if the commit fails, this raises and
        no batch of the group was accepted."""
        with self._write() as conn:
            return self._append_in(conn, requests)

    def _append_in(
        self, conn: Connection, requests: Sequence[tuple[Sequence[Pending], LoanPolicy | None]]
    ) -> list[list[Accepted] | BatchItemError]:
        every = [item for items, _ in requests for item in items]
        # the group's reads, once: earlier copies, erased loans, owned documents, histories
        known = self._existing(conn, every)
        # with a cipher: the loans' data keys; either way None marks an erased loan
        erased = self._loan_keys_for(conn, {(i.tenant, i.record.loan_id) for i in every},
                                     create=False)
        owned = self._owned_documents(conn, every)
        history_loans = {(item.tenant, item.record.loan_id) for items, policy in requests
                         if policy is not None and getattr(policy, "needs_history", True)
                         for item in items}
        histories = self._histories(conn, history_loans)
        size = self._size(conn)
        frontier = merkle.Frontier(size, self._reader(conn, merkle.nodes_for_root(size)))
        outcomes: list[list[Accepted] | BatchItemError] = []
        accepted: list[tuple[int, Pending]] = []
        node_rows: list[dict[str, Any]] = []
        for items, policy in requests:
            try:
                results, fresh, seen = self._judge(items, policy, known, erased, owned, histories)
            except BatchItemError as exc:
                outcomes.append(exc)
                continue
            for i, item in fresh:
                rec = item.record
                index = frontier.size
                node_rows.extend({"level": lv, "idx": ix, "hash": h}
                                 for lv, ix, h in frontier.append(rec.leaf_hash))
                results[i] = Accepted(index, rec.leaf_hash, rec.received_at, replay=False)
                known[(item.tenant, rec.event_id)] = (
                    Accepted(index, rec.leaf_hash, rec.received_at, replay=True), item.posted_hash)
                histories.setdefault((item.tenant, rec.loan_id), []).append(rec.data)
                accepted.append((index, item))
            for i, item in enumerate(items):  # in-batch replays point at their first copy
                if results[i] is None:
                    r = results[seen[(item.tenant, item.record.event_id)][0]]
                    assert r is not None
                    results[i] = Accepted(r.leaf_index, r.leaf_hash, r.received_at, replay=True)
            outcomes.append([r for r in results if r is not None])
        if accepted:
            self._write_leaves(conn, accepted, node_rows, frontier, erased)
        return outcomes

    def _judge(
        self, items: Sequence[Pending], policy: LoanPolicy | None,
        known: dict[tuple[str, str], tuple[Accepted, str]],
        erased: dict[tuple[str, str], bytes | None], owned: set[tuple[str, str]],
        histories: dict[tuple[str, str], list[bytes]],
    ) -> tuple[list[Accepted | None], list[tuple[int, Pending]], dict[tuple[str, str], tuple[int, str]]]:
        """One batch against what is known (stored, or accepted earlier in the group):
        replays found, fresh items chosen; raises `BatchItemError` for the first refused
        item, checked in the order a batch alone always was (conflicts, erased loans,
        citations, loan policy)."""
        results: list[Accepted | None] = [None] * len(items)
        fresh: list[tuple[int, Pending]] = []
        seen: dict[tuple[str, str], tuple[int, str]] = {}
        for i, item in enumerate(items):
            key = (item.tenant, item.record.event_id)
            before = known.get(key)
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
        for i, item in fresh:
            if erased.get((item.tenant, item.record.loan_id), b"") is None:
                raise BatchItemError(i, ErasedLoan(
                    f"the personal data of loan {item.record.loan_id!r} was erased; "
                    f"it takes no new events"))
        self._check_citations(fresh, owned)
        if policy is not None:
            self._check_loans(fresh, policy, histories)
        return results, fresh, seen

    def _write_leaves(self, conn: Connection, accepted: Sequence[tuple[int, Pending]],
                      node_rows: list[dict[str, Any]], frontier: merkle.Frontier,
                      found: dict[tuple[str, str], bytes | None]) -> None:
        """`found`: the data keys the group read (None: erased); loans without one are new."""
        keys = dict(found)
        if self.cipher is not None:  # data keys for new loans, only now that they are accepted
            keys.update(self._new_loan_keys(conn, sorted(
                {(i.tenant, i.record.loan_id) for _, i in accepted} - set(keys))))
        leaf_rows: list[dict[str, Any]] = []
        doc_rows: list[dict[str, Any]] = []
        for index, item in accepted:
            rec = item.record
            doc_rows.extend({"leaf_index": index, "sha256": sha}
                            for sha in sorted({d.sha256 for d in rec.documents}))
            leaf_rows.append({
                "leaf_index": index, "leaf_hash": rec.leaf_hash, "tenant": item.tenant,
                "event_id": rec.event_id, "loan_id": rec.loan_id, "event_type": rec.type,
                "posted_hash": item.posted_hash, "received_at": rec.received_at,
                "record": self._seal_record(keys, item.tenant, rec),
            })
        conn.execute(insert(leaves), leaf_rows)
        conn.execute(insert(nodes), node_rows)
        if doc_rows:
            conn.execute(insert(record_documents), doc_rows)
        conn.execute(update(log_state).where(log_state.c.id == 1)
                     .values(tree_size=frontier.size, root=frontier.root()))

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
                .where(pairs_in(leaves.c.tenant, leaves.c.event_id, keys[chunk:chunk + 500]))
            )
            for t, e, idx, lh, at, ph in rows:
                found[(t, e)] = (Accepted(int(idx), bytes(lh), at, replay=True), ph)
        return found

    def _histories(self, conn: Connection,
                   loans: set[tuple[str, str]]) -> dict[tuple[str, str], list[bytes]]:
        """The stored records (opened, oldest first) of the loans, for loan policies that
        read them."""
        histories: dict[tuple[str, str], list[bytes]] = {k: [] for k in loans}
        keys = list(loans)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(
                select(leaves.c.tenant, leaves.c.loan_id, leaves.c.record, leaves.c.leaf_hash)
                .where(pairs_in(leaves.c.tenant, leaves.c.loan_id, keys[chunk:chunk + 500]))
                .where(leaves.c.record.is_not(None))
                .order_by(leaves.c.leaf_index)
            )
            for t, loan, data, lh in rows:
                opened = self._open_record(t, loan, _blob(data), _blob(lh), conn)
                if opened is not None:
                    histories[(t, loan)].append(opened)
        return histories

    @staticmethod
    def _check_loans(fresh: Sequence[tuple[int, Pending]], policy: LoanPolicy,
                     histories: dict[tuple[str, str], list[bytes]]) -> None:
        by_loan: dict[tuple[str, str], list[tuple[int, Pending]]] = {}
        for i, item in fresh:
            by_loan.setdefault((item.tenant, item.record.loan_id), []).append((i, item))
        needs_history = getattr(policy, "needs_history", True)
        for key, group in by_loan.items():
            try:
                policy(histories.get(key, []) if needs_history else [],
                       [item.record for _, item in group])
            except BatchItemError:
                raise
            except Exception as exc:
                index = getattr(exc, "item", 0)
                raise BatchItemError(group[min(index, len(group) - 1)][0], exc) from exc

    # --- reading the tree ---------------------------------------------------------------

    @staticmethod
    def _reader(conn: Connection, keys: Sequence[merkle.NodeKey]) -> merkle.NodeReader:
        found: dict[merkle.NodeKey, bytes] = {}
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
        for chunk in range(0, len(keys), 200):
            part = keys[chunk:chunk + 200]
            if not part:
                continue
            if mark is not None:
                # The hot path of every proof: a plain indexed OR query. Built by hand because
                # building and caching the equivalent SQLAlchemy expression costs more than
                # running it (bench/README.md, proofs).
                where = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(part))
                rows = conn.exec_driver_sql(f"SELECT level, idx, hash FROM nodes WHERE {where}",
                                            tuple(x for key in part for x in key))
            else:
                rows = conn.execute(select(nodes.c.level, nodes.c.idx, nodes.c.hash)
                                    .where(pairs_in(nodes.c.level, nodes.c.idx, part)))
            found.update({(int(lv), int(ix)): _blob(h) for lv, ix, h in rows})

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

    def _leaf(self, row: Any, strict: bool = True) -> StoredLeaf:
        leaf_hash = _blob(row[1])
        problem = None
        try:
            record = (None if row[7] is None
                      else self._open_record(row[2], row[4], _blob(row[7]), leaf_hash))
        except CryptoError as exc:
            if strict:
                raise IntegrityError(f"leaf {row[0]}: {exc}") from None
            record, problem = None, str(exc)
        return StoredLeaf(int(row[0]), leaf_hash, row[2], row[3], row[4], row[5], row[6], record,
                          problem)

    def leaf(self, index: int) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(select(*self._LEAF_COLUMNS).where(leaves.c.leaf_index == index)).first()
        if row is None:
            raise NotFound(f"no leaf at index {index}")
        return self._leaf(row)

    def locate(self, leaf_hash: bytes) -> int:
        """The index of the first leaf with this hash, reading no content (verification
        answers from hashes alone, even when a record's stored content is damaged)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(leaves.c.leaf_index).where(leaves.c.leaf_hash == leaf_hash)
                               .order_by(leaves.c.leaf_index).limit(1)).first()
        if row is None:
            raise NotFound(f"no leaf with hash {leaf_hash.hex()}")
        return int(row[0])

    def hash_at(self, index: int) -> bytes:
        """The leaf hash at `index`, reading no content."""
        with self.engine.connect() as conn:
            row = conn.execute(select(leaves.c.leaf_hash).where(leaves.c.leaf_index == index)).first()
        if row is None:
            raise NotFound(f"no leaf at index {index}")
        return _blob(row[0])

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
                yield self._leaf(r, strict=False)
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

    # --- encryption at rest -------------------------------------------------------------

    def _loan_keys_for(self, conn: Connection, loans: set[tuple[str, str]],
                       create: bool) -> dict[tuple[str, str], bytes | None]:
        """Data keys of the loans (None: erased); new loans get one when `create`."""
        if self.cipher is None:
            return self._erased_marks(conn, loans)
        found: dict[tuple[str, str], bytes | None] = {}
        wanted = [k for k in loans if k not in self._loan_keys]
        for chunk in range(0, len(wanted), 500):
            rows = conn.execute(select(data_keys.c.tenant, data_keys.c.loan_id, data_keys.c.wrapped,
                                       data_keys.c.master_key_id)
                                .where(pairs_in(data_keys.c.tenant, data_keys.c.loan_id,
                                                wanted[chunk:chunk + 500])))
            for t, loan, wrapped, mid in rows:
                self._loan_keys[(t, loan)] = (None if wrapped is None else self.cipher.unwrap(
                    _blob(wrapped), mid, loan_label(t, loan)))
        new = []
        for key in loans:
            if key in self._loan_keys:
                self._loan_keys.move_to_end(key)
                found[key] = self._loan_keys[key]
            elif create:
                new.append(key)
        # evict only after this call's keys are taken, so none is mistaken for a new loan
        while len(self._loan_keys) > MAX_CACHED_KEYS:
            self._loan_keys.popitem(last=False)
        found.update(self._new_loan_keys(conn, new))
        return found

    def _new_loan_keys(self, conn: Connection,
                       loans: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        """Fresh data keys for loans that have none (the caller knows, under the write lock)."""
        assert self.cipher is not None
        found: dict[tuple[str, str], bytes | None] = {}
        new_rows = []
        for key in loans:
            dek, wrapped, mid = self.cipher.new_data_key(loan_label(*key))
            new_rows.append({"tenant": key[0], "loan_id": key[1], "wrapped": wrapped,
                             "master_key_id": mid, "created_at": _now_text()})
            found[key] = dek
        if new_rows:
            # not cached here: if the batch rolls back, the key must not outlive it
            conn.execute(insert(data_keys), new_rows)
        return found

    def _erased_marks(self, conn: Connection, loans: set[tuple[str, str]]) -> dict[tuple[str, str], bytes | None]:
        erased: dict[tuple[str, str], bytes | None] = {}
        keys = list(loans)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(select(data_keys.c.tenant, data_keys.c.loan_id)
                                .where(pairs_in(data_keys.c.tenant, data_keys.c.loan_id, keys[chunk:chunk + 500]))
                                .where(data_keys.c.erased_at.is_not(None)))
            erased.update({(t, loan): None for t, loan in rows})
        return erased

    def _seal_record(self, keys: dict[tuple[str, str], bytes | None], tenant: str, rec: Record) -> bytes:
        if self.cipher is None:
            return rec.data
        dek = keys[(tenant, rec.loan_id)]
        assert dek is not None
        return self.cipher.seal(dek, rec.data, rec.leaf_hash)

    def _open_record(self, tenant: str, loan_id: str, blob: bytes, leaf_hash: bytes,
                     conn: Connection | None = None) -> bytes | None:
        if not is_sealed(blob):
            return blob
        if self.cipher is None:
            raise LogError("records are encrypted at rest but no master key is configured")
        key = (tenant, loan_id)
        if key not in self._loan_keys:
            if conn is None:
                with self.engine.connect() as c:
                    self._loan_keys_for(c, {key}, create=False)
            else:
                self._loan_keys_for(conn, {key}, create=False)
        dek = self._loan_keys.get(key)
        if dek is None:
            return None  # erased (or never had a key): the content is gone
        return self.cipher.open(dek, blob, leaf_hash, f"the record of leaf hash {leaf_hash.hex()}")

    def erase_loan(self, tenant: str, loan_id: str, erased_at: str) -> dict[str, int]:
        """Crypto-shred a loan: destroy its data key, its record contents and the documents
        only its records cite. Leaf hashes, nodes and checkpoints stay."""
        with self._write() as conn:
            indices = [int(r[0]) for r in conn.execute(
                select(leaves.c.leaf_index).where(and_(leaves.c.tenant == tenant,
                                                        leaves.c.loan_id == loan_id)))]
            if not indices:
                raise NotFound(f"no events for loan {loan_id!r} of tenant {tenant!r}")
            done = conn.execute(update(data_keys).where(and_(data_keys.c.tenant == tenant,
                                                             data_keys.c.loan_id == loan_id))
                                .values(wrapped=None, erased_at=erased_at))
            if done.rowcount == 0:
                conn.execute(insert(data_keys).values(tenant=tenant, loan_id=loan_id, wrapped=None,
                                                      master_key_id="", created_at=erased_at,
                                                      erased_at=erased_at))
            records = conn.execute(update(leaves).where(leaves.c.leaf_index.in_(indices))
                                   .where(leaves.c.record.is_not(None)).values(record=None)).rowcount
            cited = {r[0] for r in conn.execute(select(record_documents.c.sha256)
                                                .where(record_documents.c.leaf_index.in_(indices)))}
            shared = {r[0] for r in conn.execute(
                select(record_documents.c.sha256).where(record_documents.c.sha256.in_(cited))
                .where(record_documents.c.leaf_index.not_in(indices)))} if cited else set()
            gone = sorted(cited - shared)
            docs = conn.execute(update(documents).where(documents.c.sha256.in_(gone))
                                .where(documents.c.content.is_not(None))
                                .values(content=None, wrapped_key=None, erased_at=erased_at)
                                ).rowcount if gone else 0
        self._loan_keys[(tenant, loan_id)] = None
        return {"leaves": len(indices), "records_erased": records, "documents_erased": docs,
                "documents_kept_shared": len(shared)}

    def rotate_master(self, new_cipher: Cipher) -> int:
        """Rewrap every data key under `new_cipher`'s current master key (which must still
        accept the old one); returns how many keys were rewrapped."""
        count = 0
        with self._write() as conn:
            for t, loan, wrapped, mid in conn.execute(select(
                    data_keys.c.tenant, data_keys.c.loan_id, data_keys.c.wrapped,
                    data_keys.c.master_key_id).where(data_keys.c.wrapped.is_not(None))).all():
                new, new_id = new_cipher.rewrap(_blob(wrapped), mid, loan_label(t, loan))
                conn.execute(update(data_keys).where(and_(data_keys.c.tenant == t,
                                                          data_keys.c.loan_id == loan))
                             .values(wrapped=new, master_key_id=new_id))
                count += 1
            for sha, wrapped, mid in conn.execute(select(
                    documents.c.sha256, documents.c.wrapped_key, documents.c.master_key_id)
                    .where(documents.c.wrapped_key.is_not(None))).all():
                new, new_id = new_cipher.rewrap(_blob(wrapped), mid, document_label(sha))
                conn.execute(update(documents).where(documents.c.sha256 == sha)
                             .values(wrapped_key=new, master_key_id=new_id))
                count += 1
        self.cipher = new_cipher
        return count

    def is_erased(self, tenant: str, loan_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(data_keys.c.erased_at).where(and_(
                data_keys.c.tenant == tenant, data_keys.c.loan_id == loan_id))).first()
        return row is not None and row[0] is not None

    def leaves_citing(self, sha256: str) -> list[tuple[int, bytes]]:
        """(leaf index, leaf hash) of every record whose `documents` list cites the hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(leaves.c.leaf_index, leaves.c.leaf_hash)
                                .join(record_documents, record_documents.c.leaf_index == leaves.c.leaf_index)
                                .where(record_documents.c.sha256 == sha256)
                                .order_by(leaves.c.leaf_index)).all()
        return [(int(i), _blob(h)) for i, h in rows]

    # --- documents ----------------------------------------------------------------------

    @staticmethod
    def _owned_documents(conn: Connection, items: Sequence[Pending]) -> set[tuple[str, str]]:
        """(tenant, sha256) of the documents the items cite that their tenant uploaded."""
        wanted = {(item.tenant, d.sha256) for item in items for d in item.record.documents}
        owned: set[tuple[str, str]] = set()
        keys = sorted(wanted)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(select(document_tenants.c.tenant, document_tenants.c.sha256)
                                .where(pairs_in(document_tenants.c.tenant,
                                                document_tenants.c.sha256, keys[chunk:chunk + 500])))
            owned.update((t, s) for t, s in rows)
        return owned

    @staticmethod
    def _check_citations(fresh: Sequence[tuple[int, Pending]], owned: set[tuple[str, str]]) -> None:
        """A record may cite only documents its own tenant uploaded: citing another
        tenant's document would claim it as one's own evidence, and the answer would tell
        whether that tenant holds it."""
        for i, item in fresh:
            for j, doc in enumerate(item.record.documents):
                if (item.tenant, doc.sha256) not in owned:
                    raise BatchItemError(i, RecordError(
                        f"document {doc.sha256} was not uploaded by tenant {item.tenant!r}; "
                        f"PUT /v1/documents/{doc.sha256} first",
                        field=f"documents[{j}].sha256"))

    def put_document(self, tenant: str, sha256: str, media_type: str, content: bytes,
                     created_at: str) -> bool:
        """Store a document (content-addressed) for `tenant`; False if this tenant had
        already uploaded it. Whether another tenant holds the same bytes changes nothing in
        the answer (no existence oracle across tenants)."""
        # a read then a write: take the write lock up front, or SQLite refuses the upgrade
        # with "database is locked" when another writer got in between
        with self.engine.connect() as c, c.execution_options(cunzheng_write=True).begin() as tx:
            conn = tx.connection
            have = conn.execute(select(documents.c.sha256).where(documents.c.sha256 == sha256)).first()
            if have is None:
                wrapped = mid = None
                stored = content
                if self.cipher is not None:
                    dek, wrapped, mid = self.cipher.new_data_key(document_label(sha256))
                    stored = self.cipher.seal(dek, content, sha256.encode())
                conn.execute(insert(documents).values(sha256=sha256, media_type=media_type,
                                                      size=len(content), content=stored,
                                                      created_at=created_at, wrapped_key=wrapped,
                                                      master_key_id=mid))
            owned = conn.execute(select(document_tenants.c.sha256).where(and_(
                document_tenants.c.sha256 == sha256, document_tenants.c.tenant == tenant))).first()
            if owned is None:
                conn.execute(insert(document_tenants).values(sha256=sha256, tenant=tenant))
            return owned is None

    def document(self, sha256: str, tenant: str | None = None) -> tuple[str, bytes | None]:
        """(media type, content) of a document; with `tenant`, only if that tenant owns it."""
        query = select(documents.c.media_type, documents.c.content, documents.c.wrapped_key,
                       documents.c.master_key_id).where(documents.c.sha256 == sha256)
        if tenant is not None:
            query = query.where(documents.c.sha256.in_(
                select(document_tenants.c.sha256).where(document_tenants.c.tenant == tenant)))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no document with SHA-256 {sha256}")
        if row[1] is None:
            return row[0], None
        content = _blob(row[1])
        if row[2] is not None:
            if self.cipher is None:
                raise LogError("documents are encrypted at rest but no master key is configured")
            dek = self.cipher.unwrap(_blob(row[2]), row[3], document_label(sha256))
            content = self.cipher.open(dek, content, sha256.encode(), f"document {sha256}")
        return row[0], content

    def has_documents(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents.c.sha256).where(documents.c.sha256.in_(list(hashes))))
            return {r[0] for r in rows}

