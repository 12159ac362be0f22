"""Self-audit: re-derive the log from storage and compare with what it stored and signed.

Recomputes every leaf hash from the stored record bytes, every stored subtree node from
the leaves, every checkpoint root from the nodes it re-derived, and every checkpoint's
signature. Compares every column the API and the pages show (`tenant`, `loan_id`,
`event_id`, `event_type`, `received_at`, `loan_seq`) with the record it stands beside, and
each loan's chain (`loan_seq` 1, 2, 3... in leaf order; a v2 record's `loan_prev`). A
sealed record that does not open is a finding (`anchoring.fsck_sealed` names what changed
where it can), and so is a record with no content, unless its loan's erasure event
(`cunzheng_verify.erasure`) covers it: the erasure names how many of the loan's leaves it
erased and their digest, which fsck recomputes from the leaves, and the loan takes no leaf
after it. Finally the loan index recomputed from the leaves is
compared with the `loan-index` root every checkpoint commits to (`anchoring.fsck_index`).

Every divergence is reported (up to `max_findings` of each rank), named precisely (which
leaf, which column with what was expected and found, which node, which checkpoint), the
first one first: findings are ordered by the leaf at which each becomes visible, and at one
leaf the leaf's own findings come before its nodes' (lowest level first), those before the
loan chain's and those before the checkpoints' (a swapped pair of leaves is named as such,
not as the chain or the checkpoint it breaks). Reads storage only; repairs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import distinct, select

from anchoring.crypto import RecordColumns
from anchoring.errors import AnchoringError, RecordError
from anchoring.fsck_index import IndexAudit
from anchoring.fsck_report import Finding, FsckReport
from anchoring.fsck_sealed import SealedRecords
from anchoring.sql import as_bytes, pairs_in
from anchoring.store import LogStore, StoredCheckpoint
from anchoring.tables import leaves, nodes
from cunzheng_verify import merkle
from cunzheng_verify.erasure import ERASURE_TYPE, Erasure, erased_records_digest, read_erasure
from cunzheng_verify.notes import verify_checkpoint
from cunzheng_verify.records import Record, read_record

__all__ = ["Finding", "FsckReport", "fsck"]

BATCH = 5000
MAX_MOVE_LOOKUPS = 100  # leaf nodes looked up in the leaves table to name a moved leaf
_LEAF, _NODE, _CHAIN, _CHECKPOINT, _LOG = range(5)  # order of findings visible at one leaf
_END = 1 << 62  # findings about the log as a whole come last
_COLUMNS = ("tenant", "loan_id", "event_id", "event_type", "received_at")


@dataclass(slots=True)
class _Loan:
    """One loan as its leaves' columns make it, in leaf order."""

    count: int = 0  # leaves seen
    seq: int = 0  # the loan_seq the next leaf should carry, less one (resynchronised)
    last_index: int = -1
    last_hash: bytes | None = None
    erased_at: int | None = None  # the leaf of its verified erasure event
    # (leaf, hash, content still readable) of the loan's leaves so far, for a loan with an
    # erasure event (by column): what the erasure's digest is checked against
    before: list[tuple[int, bytes, bool]] | None = None
    absent: list[int] = field(default_factory=list)  # leaves with no content


class _Findings:
    """Findings kept in order of visibility, each rank capped on its own so that checkpoint
    findings cannot crowd out the node finding that explains them."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.per_rank = [0] * 5
        self.found: list[tuple[tuple[int, int, int, int], Finding]] = []

    def at(self, f: Finding, at: int, rank: int, level: int = 0) -> None:
        if self.per_rank[rank] < self.cap:
            self.per_rank[rank] += 1
            self.found.append(((at, rank, level, len(self.found)), f))

    def leaf(self, f: Finding, rank: int = _LEAF) -> None:
        assert f.leaf_index is not None
        self.at(f, f.leaf_index, rank)

    def log(self, f: Finding) -> None:
        if f.checkpoint_size is not None:
            self.at(f, f.checkpoint_size - 1, _CHECKPOINT)
        else:
            self.at(f, _END, _LOG)

    def ordered(self) -> tuple[Finding, ...]:
        self.found.sort(key=lambda pair: pair[0])
        return tuple(f for _, f in self.found[:self.cap])


def fsck(store: LogStore, *, key_name: str, public_key: bytes, origin: str,
         max_findings: int = 1000) -> FsckReport:
    return _Audit(store, max_findings).run(key_name, public_key, origin)


class _Audit:
    def __init__(self, store: LogStore, max_findings: int) -> None:
        self.store = store
        self.out = _Findings(max_findings)
        self.loans: dict[tuple[str, str], _Loan] = {}
        self.sealed = SealedRecords(store, self.out.leaf)
        self.lookups = 0
        # loans whose head moved since the last checkpoint: (count, last leaf, last hash)
        self.changed: dict[tuple[str, str], tuple[int, int, bytes]] = {}
        self.has_seq = "loan_seq" in leaves.c

    # --- the walk ------------------------------------------------------------------------

    def run(self, key_name: str, public_key: bytes, origin: str) -> FsckReport:
        store, out = self.store, self.out
        size, stored_root = store.tree_head()
        cps = list(store.iter_checkpoints())
        loan_index = IndexAudit(store, cps, lambda **kw: out.log(Finding(column="loan-index",
                                                                        **kw)))
        cp_iter: Iterator[StoredCheckpoint] = iter(cps)
        next_cp = next(cp_iter, None)
        frontier = merkle.Frontier(0, lambda level, index: b"")
        expected_index = 0
        batch_nodes: list[tuple[int, int, bytes]] = []
        checked_cps = 0
        with store.engine.connect() as conn:
            erasing = {(t, loan) for t, loan in conn.execute(
                select(distinct(leaves.c.tenant), leaves.c.loan_id)
                .where(leaves.c.event_type == ERASURE_TYPE))}
        for row in self._rows():
            leaf_index = int(row[0])
            if leaf_index != expected_index:
                kind = "gap" if leaf_index > expected_index else "duplicate"
                out.leaf(Finding(kind, f"expected leaf {expected_index}, found leaf "
                                 f"{leaf_index}", leaf_index=expected_index))
            h = self._leaf(row, erasing)
            batch_nodes.extend(frontier.append(h))
            expected_index = max(expected_index, leaf_index + 1)
            while next_cp is not None and next_cp.tree_size <= frontier.size:
                if next_cp.tree_size == frontier.size:
                    _check_checkpoint(next_cp, frontier.root(), key_name, public_key, origin,
                                      out.log)
                    loan_index.at_checkpoint(next_cp, self.changed)
                    self.changed = {}
                    checked_cps += 1
                next_cp = next(cp_iter, None)
            if len(batch_nodes) >= BATCH:
                _compare_nodes(store, batch_nodes, out.at)
                batch_nodes = []
        _compare_nodes(store, batch_nodes, out.at)
        self._unexplained_absences()
        if frontier.size != size:
            out.log(Finding("tree-size", f"log state says {size} leaves, storage holds "
                            f"{frontier.size}"))
        elif frontier.root() != stored_root:
            out.log(Finding("tree-root", f"log state root {stored_root.hex()}, leaves give "
                            f"{frontier.root().hex()}"))
        for cp in cps:
            if cp.tree_size > frontier.size:
                out.log(Finding("checkpoint-beyond-log", f"checkpoint of size {cp.tree_size} "
                                f"but the log holds {frontier.size} leaves",
                                checkpoint_size=cp.tree_size))
        return FsckReport(size, frontier.size, checked_cps, out.ordered(),
                          tuple(loan_index.notes))

    def _rows(self) -> Iterator[Any]:
        cols = [leaves.c.leaf_index, leaves.c.leaf_hash, leaves.c.tenant, leaves.c.event_id,
                leaves.c.loan_id, leaves.c.event_type, leaves.c.received_at, leaves.c.record]
        if self.has_seq:
            cols.append(leaves.c.loan_seq)
        start = 0
        while True:
            with self.store.engine.connect() as conn:
                rows = conn.execute(select(*cols).where(leaves.c.leaf_index >= start)
                                    .order_by(leaves.c.leaf_index).limit(BATCH)).all()
            if not rows:
                return
            yield from rows
            start = int(rows[-1][0]) + 1

    def _leaf(self, row: Any, erasing: set[tuple[str, str]]) -> bytes:
        """Check one leaf row; returns the hash the tree gets from it."""
        leaf_index, lh = int(row[0]), as_bytes(row[1])
        cols = RecordColumns(lh, row[2], row[4], row[3], row[5], row[6])
        seq_column = int(row[8]) if self.has_seq and row[8] is not None else None
        blob = None if row[7] is None else as_bytes(row[7])
        data, failed = (None, False) if blob is None else self.sealed.open(leaf_index, cols, blob)
        h, rec, erasure = lh, None, None
        if data is not None:
            computed = merkle.leaf_hash(data)
            if computed != lh:
                self.out.leaf(Finding("leaf-hash", f"leaf {leaf_index}: stored hash "
                                      f"{lh.hex()}, record bytes hash to {computed.hex()}",
                                      leaf_index=leaf_index, expected=computed.hex(),
                                      found=lh.hex()))
            h = computed
            try:
                rec, content = read_record(data)
                self._columns(leaf_index, rec, cols, seq_column)
                erasure = read_erasure(content)
            except RecordError as exc:
                self.out.leaf(Finding("record-format", f"leaf {leaf_index}: {exc}",
                                      leaf_index=leaf_index))
        key = (cols.tenant, cols.loan_id)
        loan = self.loans.get(key)
        if loan is None:
            loan = self.loans[key] = _Loan(before=[] if key in erasing else None)
        self._chain(leaf_index, lh, rec, seq_column, loan, cols)
        if loan.erased_at is not None:
            self.out.leaf(Finding(
                "after-erasure", f"leaf {leaf_index} names loan {cols.loan_id!r} of tenant "
                f"{cols.tenant!r}, erased at leaf {loan.erased_at}: an erased loan takes no "
                "event after its erasure (a row moved into it, or its columns changed)",
                leaf_index=leaf_index, column="loan_id", found=cols.loan_id))
        elif erasure is not None and (erasure.tenant, erasure.loan_id) == key:
            self._erasure(leaf_index, erasure, loan)
        elif loan.before is not None:
            loan.before.append((leaf_index, lh, data is not None))
        if data is None and not failed:
            loan.absent.append(leaf_index)
        return h

    # --- content and columns --------------------------------------------------------------

    def _columns(self, leaf_index: int, rec: Record, cols: RecordColumns,
                 seq_column: int | None) -> None:
        said = {"tenant": rec.tenant, "loan_id": rec.loan_id, "event_id": rec.event_id,
                "event_type": rec.type, "received_at": rec.received_at}
        for column in _COLUMNS:
            stored = getattr(cols, column)
            if said[column] != stored:
                self.out.leaf(Finding(
                    "record-column", f"leaf {leaf_index}: column {column} is {stored!r}, the "
                    f"record says {said[column]!r}", leaf_index=leaf_index, column=column,
                    expected=said[column], found=stored))
        rec_seq = getattr(rec, "loan_seq", None)
        if rec_seq is not None and seq_column is not None and rec_seq != seq_column:
            self.out.leaf(Finding(
                "record-column", f"leaf {leaf_index}: column loan_seq is {seq_column}, the "
                f"record says {rec_seq}", leaf_index=leaf_index, column="loan_seq",
                expected=str(rec_seq), found=str(seq_column)))

    def _chain(self, leaf_index: int, lh: bytes, rec: Record | None, seq_column: int | None,
               loan: _Loan, cols: RecordColumns) -> None:
        """The loan's chain as its leaves' columns make it: loan_seq 1, 2, 3... in leaf
        order; a v2 record's loan_prev is the hash of the loan's leaf before it."""
        name = f"loan {cols.loan_id!r} of tenant {cols.tenant!r}"
        if seq_column is not None and seq_column != loan.seq + 1:
            self.out.leaf(Finding(
                "loan-seq", f"leaf {leaf_index}: column loan_seq is {seq_column}, but it is "
                f"leaf {loan.count + 1} of {name} in leaf order (expected loan_seq "
                f"{loan.seq + 1}): a leaf of the loan was removed, moved or reordered",
                leaf_index=leaf_index, column="loan_seq", expected=str(loan.seq + 1),
                found=str(seq_column)), _CHAIN)
        prev = getattr(rec, "loan_prev", None)
        if rec is not None and getattr(rec, "loan_seq", None) is not None \
                and prev != loan.last_hash:
            before = (f"leaf {loan.last_index} (hash {loan.last_hash.hex()})"
                      if loan.last_hash is not None else "none")
            held = []
            if prev is not None and self.lookups < MAX_MOVE_LOOKUPS:
                self.lookups += 1
                held = _leaf_rows_holding(self.store, [prev])
            where = f", which leaf {held[0][0]} holds, now of loan {held[0][1]!r}" if held else ""
            self.out.leaf(Finding(
                "loan-prev", f"leaf {leaf_index}: the record's loan_prev is "
                f"{prev.hex() if prev is not None else None}{where}; the previous leaf of "
                f"{name} is {before}: a leaf of the loan was removed or moved",
                leaf_index=leaf_index, column="loan_prev",
                expected=loan.last_hash.hex() if loan.last_hash is not None else None,
                found=prev.hex() if prev is not None else None), _CHAIN)
        loan.count += 1
        loan.seq = seq_column if seq_column is not None else loan.seq + 1
        loan.last_index, loan.last_hash = leaf_index, lh
        self.changed[(cols.tenant, cols.loan_id)] = (loan.count, leaf_index, lh)

    # --- erasure ---------------------------------------------------------------------------

    def _erasure(self, leaf_index: int, erasure: Erasure, loan: _Loan) -> None:
        """The loan's erasure event: the leaves before it must be the ones it erased."""
        erased = loan.before or []
        digest = erased_records_digest((i, h) for i, h, _ in erased)
        if len(erased) != erasure.records or digest != erasure.records_sha256:
            self.out.leaf(Finding(
                "erasure-records", f"leaf {leaf_index}: the erasure of loan "
                f"{erasure.loan_id!r} says it erased {erasure.records} leaves (digest "
                f"{erasure.records_sha256}); the leaves table holds {len(erased)} leaves of "
                f"the loan before it (digest {digest}): a leaf was moved into or out of the "
                "loan", leaf_index=leaf_index, column="loan_id",
                expected=f"{erasure.records} leaves", found=f"{len(erased)} leaves"))
        for i, _, readable in erased:
            if readable:
                self.out.leaf(Finding(
                    "erasure-incomplete", f"leaf {i}: loan {erasure.loan_id!r} was erased at "
                    f"leaf {leaf_index}, yet its record is readable", leaf_index=i))
        loan.erased_at, loan.before = leaf_index, None

    def _unexplained_absences(self) -> None:
        """A leaf with no content is explained only by its loan's erasure event after it
        (one before it is named already: a leaf after its loan's erasure)."""
        for (tenant, loan_id), loan in self.loans.items():
            for i in loan.absent:
                if loan.erased_at is None:
                    self.out.leaf(Finding(
                        "record-missing", f"leaf {i}: no readable content, and its loan "
                        f"{loan_id!r} of tenant {tenant!r} has no erasure event in the log: "
                        "the record, its columns or the key table were changed, or the loan "
                        "was erased before erasures were logged", leaf_index=i,
                        column="record"))


def _check_checkpoint(cp: StoredCheckpoint, computed: bytes, key_name: str, public_key: bytes,
                      origin: str, note: Any) -> None:
    if cp.root != computed:
        note(Finding("checkpoint-root", f"checkpoint {cp.tree_size}: stored root "
                     f"{cp.root.hex()}, leaves give {computed.hex()}",
                     checkpoint_size=cp.tree_size, expected=computed.hex(),
                     found=cp.root.hex()))
    try:
        signed = verify_checkpoint(cp.note, key_name=key_name, public_key=public_key, origin=origin)
    except AnchoringError as exc:
        note(Finding("checkpoint-signature", f"checkpoint {cp.tree_size}: {exc}",
                     checkpoint_size=cp.tree_size))
        return
    if signed.tree_size != cp.tree_size or signed.root != computed:
        note(Finding("checkpoint-note", f"checkpoint {cp.tree_size}: the signed note says size "
                     f"{signed.tree_size} root {signed.root.hex()}, leaves give "
                     f"{computed.hex()}", checkpoint_size=cp.tree_size))


def _compare_nodes(store: LogStore, created: list[tuple[int, int, bytes]], note_at: Any) -> None:
    if not created:
        return
    keys = [(lv, ix) for lv, ix, _ in created]
    stored: dict[tuple[int, int], bytes] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(keys), 500):
            rows = conn.execute(select(nodes.c.level, nodes.c.idx, nodes.c.hash)
                                .where(pairs_in(nodes.c.level, nodes.c.idx, keys[i:i + 500])))
            stored.update({(int(a), int(b)): bytes(c) for a, b, c in rows})
    moved = {h: i for h, (i, _) in _leaf_rows_by_hash(
        store, [stored[(0, ix)] for lv, ix, h in created
                if lv == 0 and stored.get((0, ix), h) != h][:MAX_MOVE_LOOKUPS]).items()}
    for lv, ix, h in created:
        have = stored.get((lv, ix))
        first_leaf = ix << lv
        last_leaf = first_leaf + (1 << lv) - 1
        if have is None:
            note_at(Finding("node-missing", f"stored tree lacks node level {lv} index {ix} "
                            f"(leaves {first_leaf}..{last_leaf})", leaf_index=first_leaf),
                    last_leaf, _NODE, lv)
        elif have != h and lv == 0 and moved.get(have, ix) != ix:
            note_at(Finding("leaf-moved", f"leaf {ix}: the tree's leaf {ix} is {have.hex()}, "
                            f"which the leaves table holds at leaf {moved[have]}; leaf {ix} "
                            f"holds {h.hex()} (leaf rows swapped or moved)", leaf_index=ix),
                    last_leaf, _NODE, lv)
        elif have != h:
            note_at(Finding("node-hash", f"node level {lv} index {ix} (leaves {first_leaf}.."
                            f"{last_leaf}): stored {have.hex()}, leaves give {h.hex()}",
                            leaf_index=first_leaf, expected=h.hex(), found=have.hex()),
                    last_leaf, _NODE, lv)


def _leaf_rows_by_hash(store: LogStore, hashes: list[bytes]) -> dict[bytes, tuple[int, str]]:
    """(leaf index, loan id) of the row holding each hash (through the leaf-hash index)."""
    if not hashes:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(select(leaves.c.leaf_hash, leaves.c.leaf_index, leaves.c.loan_id)
                            .where(leaves.c.leaf_hash.in_(hashes)))
        return {bytes(h): (int(i), str(loan)) for h, i, loan in rows}


def _leaf_rows_holding(store: LogStore, hashes: list[bytes]) -> list[tuple[int, str]]:
    found = _leaf_rows_by_hash(store, hashes)
    return [found[h] for h in hashes if h in found]
