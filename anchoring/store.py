"""The evidence log on SQLAlchemy: `LogStore`, and here its sequencing and integration of
leaves. Its other jobs live beside it, in the classes it inherits: reading the tree and its
proofs (`anchoring.tree_reads`), reading leaves (`anchoring.leaf_reads`), checkpoints
(`anchoring.checkpoint_store`), documents (`anchoring.document_store`), the encryption
keyring with erasure (`anchoring.keyring`) and the loan index (`anchoring.loan_index_store`).

Leaves are sequenced and integrated in one transaction that holds the log's write lock (the
`log_state` row, `SELECT ... FOR UPDATE` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite, set up
by `service.db`), so indices stay contiguous with any number of writers, and an inclusion
proof exists as soon as the transaction that acknowledges an event commits. Proofs read
the O(log n) complete-subtree nodes they need in one query.

The same transaction gives each new record its place in its loan (record v2's `loan_seq`
and `loan_prev`, from the loan's head read under the lock, counting records accepted
earlier in the group), so the bytes and the leaf hash are final only here: what a caller
passes in is a draft (`cunzheng_verify.records.chain_record`), and `Accepted` carries the
final leaf hash. It then writes the loan index's changed nodes at the new tree size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring.checkpoint_store import CheckpointStore, StoredCheckpoint
from anchoring.crypto import Cipher, RecordColumns
from anchoring.document_store import DocumentStore
from anchoring.errors import Conflict, LogError, PolicyRefusal, RecordError
from anchoring.leaf_reads import MAX_RANGE, LeafReads, StoredLeaf
from anchoring.loan_index_store import LoanIndexStore, index_changes
from anchoring.sql import as_bytes as _blob
from anchoring.sql import pairs_in
from anchoring.tables import (
    document_tenants,
    leaves,
    log_state,
    nodes,
    record_documents,
)
from cunzheng_verify import merkle
from cunzheng_verify.records import Record, chain_record

# the facade's public names; the read side's values live in their own modules
__all__ = [
    "MAX_RANGE",
    "Accepted",
    "BatchItemError",
    "ErasedLoan",
    "LoanPolicy",
    "LogStore",
    "Pending",
    "StoredCheckpoint",
    "StoredLeaf",
]


@dataclass(frozen=True, slots=True)
class Pending:
    """An event ready to enter the log: its canonical record and its idempotency hash. The
    record is a draft: the log gives it its loan chain (record v2) when it appends it."""

    tenant: str
    posted_hash: str
    record: Record


@dataclass(frozen=True, slots=True)
class Accepted:
    leaf_index: int
    leaf_hash: bytes
    received_at: str
    replay: bool  # True when the same event had been accepted before


class BatchItemError(LogError):
    """An item of a batch was refused; nothing of the batch was written."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"event {index} of the batch: {error}")
        self.index = index
        self.error = error


LoanPolicy = Callable[[Sequence[bytes], Sequence[Record]], None]
"""Checks new records of one loan against the records it already has (the lending state
machine); raises to refuse, `PolicyRefusal` to name the refused record (otherwise the
loan's first new record is named). Receives the stored record bytes of the loan, oldest
first, and the new records as drafts (without their loan chain)."""

LoanHead = tuple[int, int, bytes]
"""A loan's head: how many records it has, and the leaf index and leaf hash of the last."""


class ErasedLoan(LogError):
    """The loan's personal data was erased: it takes no new events."""


class LogStore(  # shape: the append steps (judge, chain, index, write) share one group's state
    LeafReads, CheckpointStore, DocumentStore, LoanIndexStore,
):
    """The evidence log: one facade over the jobs it inherits. With a `Cipher`, record
    contents and documents are sealed at rest (see `anchoring.crypto`); without one they are
    stored in the clear. Either way the leaf hash is over the plaintext record bytes.

    `loan_index=False` keeps no loan index (`anchoring.loan_index_store`): only for a
    benchmark's baseline, on a log that never keeps one (its checkpoints carry no index)."""

    def __init__(self, engine: Engine, cipher: Cipher | None = None, *,
                 loan_index: bool = True) -> None:
        self.engine = engine
        self.cipher = cipher
        self.loan_index = loan_index
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
                    conn.execute(select(log_state.c.id).where(log_state.c.id == 1)
                                 .with_for_update())
                yield conn

    def _ensure_state(self, conn: Connection) -> None:
        if conn.execute(select(log_state.c.id).where(log_state.c.id == 1)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(log_state).values(id=1, tree_size=0,
                                                          root=merkle.EMPTY_ROOT))
            except SAIntegrityError:
                pass  # another writer created it first
            return  # created in this transaction: known to exist only once it commits
        self._state_exists = True

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
        heads = self._loan_heads(conn, {(i.tenant, i.record.loan_id) for i in every})
        size = self._size(conn)
        frontier = merkle.Frontier(size, self._reader(conn, merkle.nodes_for_root(size)))
        before = (size, frontier.root())  # the log head this transaction starts from
        outcomes: list[list[Accepted] | BatchItemError] = []
        accepted: list[tuple[int, Pending]] = []
        node_rows: list[dict[str, Any]] = []
        for items, policy in requests:
            try:
                results, fresh, seen = self._judge(items, policy, known, erased, owned, histories)
                fresh = self._chain(fresh, heads, frontier.size)
            except BatchItemError as exc:
                outcomes.append(exc)
                continue
            for i, item in fresh:
                rec = item.record
                index = frontier.size
                heads[(item.tenant, rec.loan_id)] = (rec.loan_seq or 0, index, rec.leaf_hash)
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
            changed = {(item.tenant, item.record.loan_id) for _, item in accepted}
            self._update_loan_index(conn, index_changes(heads, changed), before,
                                    (frontier.size, frontier.root()))
        return outcomes

    @staticmethod
    def _chain(fresh: Sequence[tuple[int, Pending]], heads: dict[tuple[str, str], LoanHead],
               size: int) -> list[tuple[int, Pending]]:
        """The batch's fresh items as final v2 records: each continues its loan's chain from
        its head (which counts what the group accepted before), in batch order. Changes
        nothing until the whole batch is chained, so a refusal leaves the group as it was."""
        ahead = dict[tuple[str, str], LoanHead]()
        out = []
        for n, (i, item) in enumerate(fresh):
            loan = (item.tenant, item.record.loan_id)
            count, _, last = ahead.get(loan) or heads.get(loan) or (0, -1, None)
            try:
                rec = chain_record(item.record, count + 1, last)
            except RecordError as exc:
                raise BatchItemError(i, exc) from exc
            ahead[loan] = (count + 1, size + n, rec.leaf_hash)
            out.append((i, Pending(item.tenant, item.posted_hash, rec)))
        return out

    def _judge(
        self, items: Sequence[Pending], policy: LoanPolicy | None,
        known: dict[tuple[str, str], tuple[Accepted, str]],
        erased: dict[tuple[str, str], bytes | None], owned: set[tuple[str, str]],
        histories: dict[tuple[str, str], list[bytes]],
    ) -> tuple[list[Accepted | None], list[tuple[int, Pending]],
               dict[tuple[str, str], tuple[int, str]]]:
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
                "leaf_index": index, "loan_seq": rec.loan_seq,
                "leaf_hash": rec.leaf_hash, "tenant": item.tenant,
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

    @staticmethod
    def _loan_heads(conn: Connection,
                    loans: set[tuple[str, str]]) -> dict[tuple[str, str], LoanHead]:
        """The heads of the loans that have records, from the leaves' columns: one indexed
        query (`uq_leaves_tenant_loan_seq`: each loan's highest loan_seq by a seek, then its
        row). Written by hand: it runs in every append, and building the equivalent
        SQLAlchemy expression costs more than running it."""
        heads: dict[tuple[str, str], LoanHead] = {}
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        keys = sorted(loans)
        for chunk in range(0, len(keys), 250):
            part = keys[chunk:chunk + 250]
            values = ", ".join([f"({mark}, {mark})"] * len(part))
            rows = conn.exec_driver_sql(
                f"WITH loans(t, l) AS (VALUES {values}) "
                "SELECT x.tenant, x.loan_id, x.loan_seq, x.leaf_index, x.leaf_hash "
                "FROM loans JOIN leaves x ON x.tenant = loans.t AND x.loan_id = loans.l "
                "AND x.loan_seq = (SELECT max(y.loan_seq) FROM leaves y "
                "WHERE y.tenant = loans.t AND y.loan_id = loans.l)",
                tuple(v for key in part for v in key))
            for t, loan, seq, index, lh in rows:
                heads[(t, loan)] = (int(seq), int(index), _blob(lh))
        return heads

    def _histories(self, conn: Connection,
                   loans: set[tuple[str, str]]) -> dict[tuple[str, str], list[bytes]]:
        """The stored records (opened, oldest first) of the loans, for loan policies that
        read them."""
        histories: dict[tuple[str, str], list[bytes]] = {k: [] for k in loans}
        keys = list(loans)
        for chunk in range(0, len(keys), 500):
            rows = conn.execute(
                select(leaves.c.tenant, leaves.c.loan_id, leaves.c.record, leaves.c.leaf_hash,
                       leaves.c.event_id, leaves.c.event_type, leaves.c.received_at)
                .where(pairs_in(leaves.c.tenant, leaves.c.loan_id, keys[chunk:chunk + 500]))
                .where(leaves.c.record.is_not(None))
                .order_by(leaves.c.leaf_index)
            )
            for t, loan, data, lh, event_id, event_type, received_at in rows:
                columns = RecordColumns(_blob(lh), t, loan, event_id, event_type, received_at)
                opened = self._open_record(_blob(data), columns, conn)
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
            except PolicyRefusal as exc:
                index = group[min(exc.item, len(group) - 1)][0]
                raise BatchItemError(index, exc.error) from exc.error
            except Exception as exc:  # a refusal that names no record: the loan's first
                raise BatchItemError(group[0][0], exc) from exc

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
                                                document_tenants.c.sha256,
                                                keys[chunk:chunk + 500])))
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
