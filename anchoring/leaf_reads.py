"""Reading the log's leaves: one by index, by leaf hash or by (tenant, event id), a loan's
events (and its chain up to a tree size, in loan_seq order), ranges of leaf hashes, and
every leaf in order for fsck. Record contents sealed at rest are opened with the loan's data
key (`anchoring.keyring`), bound to the columns of the row they are read from; an erased loan's
leaves keep their hash and lose their content (a row without content whose loan has no
erasure event does not read)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, distinct, func, select

from anchoring.crypto import CryptoError, RecordColumns
from anchoring.errors import IntegrityError, LogError, NotFound
from anchoring.keyring import Keyring
from anchoring.sql import as_bytes
from anchoring.tables import leaves, nodes, record_documents
from anchoring.tree_reads import TreeReads

MAX_RANGE = 1000  # leaf hashes per read


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
    # the leaf's place in its loan (the `loan_seq` column; None: a leaf not read from a store)
    loan_seq: int | None = None


_LEAF_COLUMNS = (leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.tenant, leaves.c.event_id,
                 leaves.c.loan_id, leaves.c.event_type, leaves.c.received_at, leaves.c.record,
                 leaves.c.loan_seq)


class LeafReads(TreeReads, Keyring):
    """The leaf-reading part of `anchoring.store.LogStore`."""

    def _leaf(self, row: Any, strict: bool = True,
              erased: dict[tuple[str, str], bool] | None = None) -> StoredLeaf:
        """The row as a leaf, its record opened bound to the row's own columns (the ones
        shown). A row without a record reads as erased only if its loan's erasure event is in
        the log. `erased`: a read's memo of which loans were erased."""
        leaf_hash = as_bytes(row[1])
        columns = RecordColumns(leaf_hash, row[2], row[4], row[3], row[5], row[6])
        problem = None
        try:
            record = None
            if row[7] is None:
                self._absent_record(columns, erased=erased)  # raises unless the loan was erased
            else:
                record = self._open_record(as_bytes(row[7]), columns)
        except CryptoError as exc:
            if strict:
                raise IntegrityError(f"leaf {row[0]}: {exc}") from None
            record, problem = None, str(exc)
        return StoredLeaf(int(row[0]), leaf_hash, row[2], row[3], row[4], row[5], row[6], record,
                          problem, int(row[8]))

    def _leaves(self, rows: Any, strict: bool = True) -> list[StoredLeaf]:
        erased: dict[tuple[str, str], bool] = {}
        return [self._leaf(r, strict, erased) for r in rows]

    def leaf(self, index: int) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_LEAF_COLUMNS)
                               .where(leaves.c.leaf_index == index)).first()
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
            row = conn.execute(select(leaves.c.leaf_hash)
                               .where(leaves.c.leaf_index == index)).first()
        if row is None:
            raise NotFound(f"no leaf at index {index}")
        return as_bytes(row[0])

    def leaf_by_hash(self, leaf_hash: bytes) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_LEAF_COLUMNS).where(leaves.c.leaf_hash == leaf_hash)
                .order_by(leaves.c.leaf_index).limit(1)
            ).first()
        if row is None:
            raise NotFound(f"no leaf with hash {leaf_hash.hex()}")
        return self._leaf(row)

    def event(self, tenant: str, event_id: str) -> StoredLeaf:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_LEAF_COLUMNS)
                .where(and_(leaves.c.tenant == tenant, leaves.c.event_id == event_id))
            ).first()
        if row is None:
            raise NotFound(f"no event {event_id!r} for tenant {tenant!r}")
        return self._leaf(row)

    def loan_events(self, tenant: str, loan_id: str) -> list[StoredLeaf]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_LEAF_COLUMNS)
                .where(and_(leaves.c.tenant == tenant, leaves.c.loan_id == loan_id))
                .order_by(leaves.c.leaf_index)
            ).all()
        return self._leaves(rows)

    def loan_chain(self, tenant: str, loan_id: str, tree_size: int) -> list[StoredLeaf]:
        """Every leaf of the loan in a tree of `tree_size` leaves, in loan_seq order, as the
        leaves' columns say (a package's history annex; fsck checks the columns against
        the records)."""
        with self.engine.connect() as conn:
            self._check_size(conn, tree_size)
            rows = conn.execute(
                select(*_LEAF_COLUMNS)
                .where(and_(leaves.c.tenant == tenant, leaves.c.loan_id == loan_id,
                            leaves.c.leaf_index < tree_size))
                .order_by(leaves.c.loan_seq)
            ).all()
        return self._leaves(rows)

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
                    select(*_LEAF_COLUMNS).where(leaves.c.leaf_index >= start)
                    .order_by(leaves.c.leaf_index).limit(batch)
                ).all()
            if not rows:
                return
            yield from self._leaves(rows, strict=False)
            start = int(rows[-1][0]) + 1

    def count_leaves(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(leaves)).scalar_one())

    def tenants(self) -> list[str]:
        """Every tenant with events in the log, sorted."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(distinct(leaves.c.tenant))
                                .order_by(leaves.c.tenant)).all()
        return [str(r[0]) for r in rows]

    def loan_ids(self, tenant: str) -> list[str]:
        """The ids of every loan the tenant has events for, sorted."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(distinct(leaves.c.loan_id))
                                .where(leaves.c.tenant == tenant)
                                .order_by(leaves.c.loan_id)).all()
        return [str(r[0]) for r in rows]

    def loans(self, limit: int) -> list[tuple[str, str]]:
        """(tenant, loan id) of the first `limit` loans with events, by tenant then loan."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(distinct(leaves.c.tenant), leaves.c.loan_id)
                                .order_by(leaves.c.tenant, leaves.c.loan_id)
                                .limit(limit)).all()
        return [(str(t), str(loan)) for t, loan in rows]

    def leaves_citing(self, sha256: str) -> list[tuple[int, bytes]]:
        """(leaf index, leaf hash) of every record whose `documents` list cites the hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(leaves.c.leaf_index, leaves.c.leaf_hash)
                                .join(record_documents,
                                      record_documents.c.leaf_index == leaves.c.leaf_index)
                                .where(record_documents.c.sha256 == sha256)
                                .order_by(leaves.c.leaf_index)).all()
        return [(int(i), as_bytes(h)) for i, h in rows]
