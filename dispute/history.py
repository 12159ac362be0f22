"""A package's loan history (package v2): every record of the loan up to one checkpoint, and
the loan index proof that says how many there are (DESIGN.md, "Package v2", "Loan index").

`history_checkpoint` picks the checkpoint: the log's newest anchored one, whose signed note
commits to the loan index root (None without one: a log from before the index, package v1).
`stale_history` says why it cannot serve a package as of a later date (anchored before it:
the verifier's `history.freshness` would fail; the builder then leaves the history out and
names the gap). `loan_history` (`read_history` reads its inputs) takes what the log says
three ways (the loan's chain below the checkpoint, `loan_chain`; the loan index proof
there, `loan_index_proof`; the signed checkpoint's `loan-index` root) and the loan's events
as the selection read them (`dispute.records.LoanEvidence`, by the `loan_id` column), and
refuses with a `PackageError` naming the divergence whenever they disagree: a count or a
last leaf other than the index's, a place out of order, a record whose bytes do not hash to
its leaf, a broken `loan_prev` link, a leaf in the chain the loan's events lack or the other
way round (a changed `loan_id` column). So a package never claims a completeness the log
cannot prove; a database edit that thins a loan stops the build instead.

A record without a link (v1, from before the loan chain) or without its content (erased)
breaks no rule, but nothing proves which records stand below it: `proved_from` is the
first place from which the chain is proved back from the index head (1: all of it); the
verifier says the same in `history.chain`. An erased record keeps its place and hash, and
names the loan's erasure event (`data_erased`, `cunzheng_verify.erasure`) when the history
holds one.

Pure but for `history_checkpoint` and `read_history`, which read the log through the
`HistoryReader` port (`anchoring.store.LogStore` fits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from anchoring.anchor_store import FINAL, AnchorRow, Cosignature
from anchoring.receipts import evidence_id
from anchoring.store import StoredCheckpoint
from cunzheng_verify import merkle
from cunzheng_verify.erasure import ERASURE_TYPE
from cunzheng_verify.errors import CheckpointError
from cunzheng_verify.format import LOAN_INDEX_PROOF, MAX_HISTORY, history_path
from cunzheng_verify.history import as_of_start
from cunzheng_verify.loanindex import Entry, IndexProof, LoanIndexError, loan_key, verify_proof
from cunzheng_verify.notes import parse_checkpoint
from cunzheng_verify.records import RECORD_SCHEMA_V2, parse_rfc3339
from dispute.errors import PackageError
from dispute.records import LoanEvidence

__all__ = ["ChainLeaf", "HistoryAt", "HistoryReader", "HistoryRecord", "LoanHistory",
           "history_checkpoint", "loan_history", "read_history", "stale_history",
           "verify_md_summary"]


class ChainLeaf(Protocol):
    """One leaf of a loan's chain as the log gives it (`anchoring.store.StoredLeaf` fits):
    its place (`loan_seq`), leaf index and hash, and its bytes (None: erased)."""

    @property
    def leaf_index(self) -> int: ...
    @property
    def leaf_hash(self) -> bytes: ...
    @property
    def record(self) -> bytes | None: ...
    @property
    def loan_seq(self) -> int | None: ...


class HistoryReader(Protocol):
    """What the history annex reads of the log (`anchoring.store.LogStore` fits)."""

    def checkpoint(self, size: int) -> StoredCheckpoint: ...
    def loan_index_root(self, tree_size: int) -> bytes | None: ...
    def loan_index_proof(self, tenant: str, loan_id: str, tree_size: int) -> IndexProof: ...
    def loan_chain(self, tenant: str, loan_id: str,
                   tree_size: int) -> Sequence[ChainLeaf]: ...


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One record of the history, in its place; `content` None when erased."""

    seq: int
    leaf_index: int
    leaf_hash: bytes
    content: Mapping[str, Any] | None = field(repr=False, compare=False)
    erased_by: str | None = None  # the erasure event's evidence id, for an erased record

    @property
    def path(self) -> str | None:
        return None if self.content is None else history_path(self.leaf_index)

    def as_json(self) -> dict[str, Any]:
        return {"loan_seq": self.seq, "leaf_index": self.leaf_index,
                "leaf_hash": self.leaf_hash.hex(), "path": self.path,
                "erased_by": self.erased_by}


@dataclass(frozen=True)
class LoanHistory:
    """The loan's history at `checkpoint_size`: the index root the checkpoint commits to, the
    index entry (count, last leaf) and its proof, every record, the first place from which
    the chain proves the records (`proved_from`) and the records' files (`history/<leaf>.json`,
    the exact stored bytes; the builder writes the proof's JSON beside them)."""

    tenant: str
    loan_id: str
    origin: str
    checkpoint_size: int
    index_root: bytes
    entry: Entry
    proof: IndexProof
    records: tuple[HistoryRecord, ...]
    proved_from: int
    files: Mapping[str, bytes] = field(repr=False)

    @property
    def count(self) -> int:
        return self.entry.count

    def manifest_entry(self) -> dict[str, Any]:
        """The manifest's `history` object."""
        return {
            "checkpoint_size": self.checkpoint_size,
            "index_root": self.index_root.hex(),
            "count": self.entry.count,
            "last_leaf_index": self.entry.last_index,
            "last_leaf_hash": self.entry.last_hash.hex(),
            "records": [r.as_json() for r in self.records],
            "index_proof": LOAN_INDEX_PROOF,
        }

    def evidence_id(self, record: HistoryRecord) -> str:
        return evidence_id(self.origin, record.leaf_index)

    def proof_json(self) -> dict[str, Any]:
        """`proofs/loan-index.json`'s content."""
        return self.proof.as_json(self.checkpoint_size, self.tenant, self.loan_id)


def _entry(tenant: str, loan_id: str, size: int, root: bytes, proof: IndexProof) -> Entry:
    if proof.key != loan_key(tenant, loan_id):
        raise PackageError(f"the log's loan index proof at size {size} is for another key "
                           f"than loan {loan_id!r} of {tenant!r}")
    try:
        entry = verify_proof(proof, root)
    except LoanIndexError as exc:
        raise PackageError(f"the log's loan index proof for loan {loan_id!r} does not verify "
                           f"against checkpoint {size}'s index root: {exc}") from None
    if entry is None:
        raise PackageError(f"the loan index at size {size} holds no record of loan "
                           f"{loan_id!r}, yet its records are logged below that size")
    return entry


def _head(chain: Sequence[ChainLeaf], entry: Entry, loan_id: str, size: int) -> None:
    if len(chain) != entry.count:
        raise PackageError(f"the log's chain of loan {loan_id!r} at size {size} holds "
                           f"{len(chain)} record(s), its loan index entry says {entry.count}: "
                           "the database diverges from what the log signed (run cunzheng fsck)")
    last = chain[-1]
    if (last.leaf_index, last.leaf_hash) != (entry.last_index, entry.last_hash):
        raise PackageError(f"the log's chain of loan {loan_id!r} ends at leaf "
                           f"{last.leaf_index} ({last.leaf_hash.hex()}), its loan index entry "
                           f"at size {size} at leaf {entry.last_index} "
                           f"({entry.last_hash.hex()}) (run cunzheng fsck)")
    if len(chain) > MAX_HISTORY:
        raise PackageError(f"loan {loan_id!r} has {len(chain)} records, more than a "
                           f"package's history holds ({MAX_HISTORY})")


def _content(leaf: ChainLeaf, place: int, events: Mapping[int, Mapping[str, Any]],
             event_bytes: Mapping[int, bytes | None], loan_id: str) -> Mapping[str, Any] | None:
    """The record's content as the selection read it; refuses a leaf the loan's events lack
    or hold other bytes for."""
    where = f"seq {place} of loan {loan_id!r} (leaf {leaf.leaf_index})"
    if leaf.leaf_index not in event_bytes:
        raise PackageError(f"{where} is in the loan's chain but not among its events by "
                           "loan_id: a changed loan_id column? (run cunzheng fsck)")
    if leaf.record != event_bytes[leaf.leaf_index]:
        raise PackageError(f"{where}: the chain and the loan's events read other bytes")
    if leaf.record is None:
        return None
    if merkle.leaf_hash(leaf.record) != leaf.leaf_hash:
        raise PackageError(f"{where}: the stored bytes do not hash to the leaf hash")
    return events[leaf.leaf_index]


def _link(content: Mapping[str, Any], place: int, prev: bytes | None, where: str,
          seen_v2: bool) -> bool:
    """Whether the record is linked (v2); refuses a wrong place or a broken link."""
    if content.get("schema") != RECORD_SCHEMA_V2:
        if seen_v2:
            raise PackageError(f"{where} is a v1 record after a v2 record")
        return False
    want = None if prev is None else prev.hex()
    if content.get("loan_seq") != place or content.get("loan_prev") != want:
        raise PackageError(f"{where} says loan_seq {content.get('loan_seq')!r}, loan_prev "
                           f"{content.get('loan_prev')!r}; its place in the log's chain is "
                           f"{place} after {want} (run cunzheng fsck)")
    return True


def loan_history(tenant: str, loan_id: str, origin: str, *, checkpoint_size: int,
                 index_root: bytes, proof: IndexProof, chain: Sequence[ChainLeaf],
                 events: Mapping[int, Mapping[str, Any]],
                 event_bytes: Mapping[int, bytes | None]) -> LoanHistory:
    """The history annex at `checkpoint_size` (see the module docstring). `events` are the
    contents of the loan's readable records and `event_bytes` the bytes of every leaf of the
    loan below the checkpoint (None: erased), both by leaf index, as the selection read
    them. Raises `PackageError` naming the first divergence."""
    entry = _entry(tenant, loan_id, checkpoint_size, index_root, proof)
    _head(chain, entry, loan_id, checkpoint_size)
    extra = sorted(set(event_bytes) - {leaf.leaf_index for leaf in chain})
    if extra:
        raise PackageError(f"leaf {extra[0]} is an event of loan {loan_id!r} below size "
                           f"{checkpoint_size} but not in its chain ({len(extra)} such): the "
                           "database diverges from what the log signed (run cunzheng fsck)")
    records: list[HistoryRecord] = []
    files: dict[str, bytes] = {}
    proved_from, seen_v2, prev, before = 1, False, None, -1
    for place, leaf in enumerate(chain, start=1):
        where = f"seq {place} of loan {loan_id!r} (leaf {leaf.leaf_index})"
        if leaf.loan_seq not in (None, place) or not before < leaf.leaf_index < checkpoint_size:
            raise PackageError(f"{where}: the log's chain lists it as seq {leaf.loan_seq} "
                               f"after leaf {before}, below size {checkpoint_size}")
        content = _content(leaf, place, events, event_bytes, loan_id)
        if content is None or not _link(content, place, prev, where, seen_v2):
            proved_from = place
        else:
            seen_v2 = True
        if leaf.record is not None:
            files[history_path(leaf.leaf_index)] = leaf.record
        records.append(HistoryRecord(place, leaf.leaf_index, leaf.leaf_hash, content))
        prev, before = leaf.leaf_hash, leaf.leaf_index
    return LoanHistory(tenant, loan_id, origin, checkpoint_size, index_root, entry, proof,
                       _with_erasure(records, origin), proved_from, files)


def _with_erasure(records: list[HistoryRecord], origin: str) -> tuple[HistoryRecord, ...]:
    """Erased records name the loan's erasure event, when the history holds one."""
    erasure = next((r for r in reversed(records)
                    if r.content is not None and r.content.get("type") == ERASURE_TYPE), None)
    named = None if erasure is None else evidence_id(origin, erasure.leaf_index)
    return tuple(HistoryRecord(r.seq, r.leaf_index, r.leaf_hash, r.content, named)
                 if r.content is None else r for r in records)



# --- from the log ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryAt:
    """The checkpoint a history is taken at: its anchor and the index root its note signs."""

    row: AnchorRow
    index_root: bytes


class RecentAnchors(Protocol):
    """The anchors a history's checkpoint is chosen from (`AnchorStore` fits)."""

    def latest(self) -> AnchorRow | None: ...
    def recent(self, limit: int = 50) -> list[AnchorRow]: ...  # newest first
    def cosigners(self, size: int) -> list[Cosignature]: ...


def mined(row: AnchorRow | None) -> AnchorRow | None:
    """The anchor if its block is known (number, hash and time), else None."""
    if row is None or row.block_number is None or row.block_hash is None or not row.block_time:
        return None
    return row


def history_anchor(anchors: RecentAnchors) -> AnchorRow | None:
    """The anchor a loan's history is taken at: the newest final one a witness has cosigned
    (confirmed and witnessed, what a court weighs), among the recent ones; without such an
    anchor, the newest mined one (a checkpoint anchored moments ago is not yet witnessed)."""
    for row in anchors.recent():
        if row.status == FINAL and mined(row) and anchors.cosigners(row.tree_size):
            return row
    return mined(anchors.latest())


def history_checkpoint(log: HistoryReader, latest: AnchorRow | None,
                       rows: Mapping[int, AnchorRow]) -> HistoryAt | None:
    """The log's newest anchored checkpoint `latest` (mined; the newest of the exhibits'
    `rows` if it is older or unknown) with the loan index root its signed note commits to;
    None when the note has none. Refuses when the log's stored root is another."""
    row = rows[max(rows)]
    if latest is not None and latest.tree_size > row.tree_size:
        row = latest
    try:
        checkpoint, _ = parse_checkpoint(log.checkpoint(row.tree_size).note)
        root = checkpoint.loan_index_root
    except CheckpointError as exc:
        raise PackageError(f"the log's checkpoint of size {row.tree_size} is unreadable: "
                           f"{exc}") from None
    if root is None:
        return None
    stored = log.loan_index_root(row.tree_size)
    if stored != root:
        raise PackageError(f"the log's loan index root at size {row.tree_size} is "
                           f"{stored.hex() if stored else 'absent'}, its signed checkpoint "
                           f"commits to {root.hex()} (run cunzheng fsck)")
    return HistoryAt(row, root)


def stale_history(at: HistoryAt, as_of: date) -> str | None:
    """Why a history at `at` cannot be the loan's as of `as_of` (None: it can): its anchor
    is older than the as-of date (from 00:00 China time), so the verifier's
    `history.freshness` would fail it. Such a package leaves the history out (v1, as
    before) and says so among its gaps, rather than fail verification."""
    block_time = at.row.block_time or ""
    if block_time and parse_rfc3339(block_time, "block_time") >= as_of_start(as_of.isoformat()):
        return None
    return (f"completeness not proved: the log's newest anchored checkpoint (size "
            f"{at.row.tree_size}) was anchored at {block_time or 'an unknown time'}, before the "
            f"as-of date {as_of.isoformat()} (China time); the package holds no history of the "
            "loan. Build it again once a checkpoint anchored on or after that date exists")


def read_history(log: HistoryReader, evidence: LoanEvidence, at: HistoryAt) -> LoanHistory:
    """`loan_history` of the evidence's loan at `at`, read from the log."""
    tenant, loan_id, size = evidence.tenant, evidence.loan_id, at.row.tree_size
    return loan_history(
        tenant, loan_id, evidence.origin, checkpoint_size=size, index_root=at.index_root,
        proof=log.loan_index_proof(tenant, loan_id, size),
        chain=log.loan_chain(tenant, loan_id, size),
        events={r.leaf_index: r.content for r in evidence.records},
        event_bytes={leaf.leaf_index: leaf.record for leaf in evidence.leaves
                     if leaf.leaf_index < size})


def verify_md_summary(core: Mapping[str, Any]) -> str:
    """VERIFY.md's lines about this package's history (its manifest's `history`, if any)."""
    h = core.get("history")
    if h is None:
        return ("This package has no `history`: it does not prove that it holds every record "
                "of the loan.")
    erased = sum(1 for r in h["records"] if r["path"] is None)
    return (f"This package's history: {h['count']} record(s) of loan "
            f"`{core['loan']['loan_id']}` up to the checkpoint of size {h['checkpoint_size']}"
            f" (loan index root `{h['index_root']}`), the last at leaf "
            f"{h['last_leaf_index']} (`{h['last_leaf_hash']}`)"
            + (f"; {erased} of them erased." if erased else "."))
