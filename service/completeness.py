"""Is a loan's history complete up to checkpoint N? The one answer behind
`GET /v1/loans/{loan_id}/completeness`, `GET /v1/verify/loan/{tenant}/{loan_id}/completeness`
and the legal workbench's proof status (issue 13, item 6).

`indexed_checkpoint` picks the checkpoint: the one asked for, else the newest anchored one
whose signed note commits to a loan index root (`loan-index` line), else the newest signed
one with such a line, and says which. `check` then asks `dispute.history.loan_history`, the
same cross-check a package's history annex passes (the loan's chain below the checkpoint,
its loan index proof, the root the signed note commits to, the loan's events by `loan_id`),
after comparing the log's stored index root with the signed one as
`dispute.history.history_checkpoint` does. No second checker: a divergence is that
function's `PackageError` text, carried in `problems` with `complete` false, never a 500.

A loan the index has no entry for at that checkpoint (and whose chain there is empty) is
an answer, not an error: count 0, the non-membership proof, `complete` true (the log proves
it holds no record of the loan up to N). The work is one index proof (O(log) reads), the
chain below N and the loan's events, each record parsed but the loan never folded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from anchoring.anchor_store import FINAL, INCLUDED, AnchorRow
from anchoring.errors import IntegrityError, NotFound, RecordError
from anchoring.leaf_reads import StoredLeaf
from anchoring.receipts import evidence_id
from anchoring.store import StoredCheckpoint
from cunzheng_verify.errors import CheckpointError
from cunzheng_verify.loanindex import Entry, IndexProof, LoanIndexError, verify_proof
from cunzheng_verify.notes import parse_checkpoint
from dispute.errors import PackageError
from dispute.history import LoanHistory, loan_history
from dispute.records import load_evidence
from service.context import AppContext

__all__ = ["MAX_CHECKPOINT_SCAN", "Chosen", "Completeness", "IndexedCheckpoint", "Place",
           "Status", "answer_json", "check", "completeness_json", "indexed_checkpoint"]

MAX_CHECKPOINT_SCAN = 50
"""Newest anchors, then newest checkpoints, read when looking for one with a loan index."""


class Chosen(StrEnum):
    """Why this checkpoint."""

    REQUESTED = "requested"
    NEWEST_ANCHORED = "newest-anchored"
    NEWEST_SIGNED = "newest-signed"  # no anchored checkpoint commits to a loan index yet


class Status(StrEnum):
    COMPLETE = "complete"  # every record, proved by the chain back to seq 1
    UNPROVED_PREFIX = "unproved-prefix"  # as counted, but records below `proved_from` unlinked
    NO_RECORDS = "no-records"  # the index proves the loan has no record up to N
    DIVERGENT = "divergent"  # the cross-check failed: `problems` names the divergence


@dataclass(frozen=True, slots=True)
class IndexedCheckpoint:
    """A signed checkpoint, the loan index root its note commits to, and its anchor (mined:
    block number, hash and time known) if it has one. `problem`: the stored note is
    unreadable (then `index_root` is None)."""

    checkpoint: StoredCheckpoint
    index_root: bytes | None
    anchor: AnchorRow | None
    chosen: Chosen
    problem: str | None = None

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size


@dataclass(frozen=True, slots=True)
class Place:
    """One record's place in the loan's history: where it is, what it hashes to, its type
    and arrival time (from the record; from the leaf's columns when erased)."""

    seq: int
    leaf_index: int
    leaf_hash: bytes
    event_type: str
    received_at: str
    erased: bool
    erased_by: str | None  # the erasure event's evidence id


@dataclass(frozen=True)
class Completeness:
    """The answer for one loan at one checkpoint. `entry` is what the index proof says
    (when it verifies against the signed root), `places` the records (on a divergence: the
    chain as the database holds it)."""

    tenant: str
    loan_id: str
    origin: str
    at: IndexedCheckpoint
    status: Status
    entry: Entry | None
    proof: IndexProof | None
    places: tuple[Place, ...]
    proved_from: int | None
    problems: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.status is not Status.DIVERGENT

    @property
    def count(self) -> int:
        return 0 if self.entry is None else self.entry.count

    @property
    def last(self) -> Place | None:
        return self.places[-1] if self.places and self.complete else None

    @property
    def reason(self) -> str:
        size = self.at.tree_size
        if self.status is Status.DIVERGENT:
            return (f"completeness NOT proved at checkpoint {size}: the log's records of the "
                    f"loan diverge from what it signed ({len(self.problems)} problem(s))")
        if self.status is Status.NO_RECORDS:
            return (f"the loan index at checkpoint {size} proves the log holds no record of "
                    "this loan up to that size")
        said = (f"{self.count} record(s) of the loan up to checkpoint {size}, as its signed "
                "loan index says")
        if self.status is Status.UNPROVED_PREFIX:
            return (f"{said}; the records from seq {self.proved_from} on are proved by their "
                    f"links, those before are counted but not identified (a v1 record or "
                    f"an erased one stands at seq {(self.proved_from or 1)})")
        return f"{said}; every record proved by its links back to seq 1"


# --- the checkpoint ----------------------------------------------------------------------


def _mined(row: AnchorRow | None) -> AnchorRow | None:
    if row is None or row.status not in (INCLUDED, FINAL) or row.block_number is None \
            or row.block_hash is None or not row.block_time:
        return None
    return row


def _read(cp: StoredCheckpoint, anchor: AnchorRow | None, chosen: Chosen) -> IndexedCheckpoint:
    try:
        root = parse_checkpoint(cp.note)[0].loan_index_root
    except CheckpointError as exc:
        return IndexedCheckpoint(cp, None, anchor, chosen,
                                 f"the log's checkpoint of size {cp.tree_size} is unreadable: "
                                 f"{exc} (run cunzheng fsck)")
    return IndexedCheckpoint(cp, root, anchor, chosen)


def _requested(ctx: AppContext, size: int) -> IndexedCheckpoint:
    try:
        cp = ctx.store.checkpoint(size)
    except NotFound:
        latest = ctx.store.latest_checkpoint()
        raise NotFound(f"tree_size {size} is not a signed checkpoint of this log (the newest "
                       f"is {latest.tree_size if latest else 'none yet'}; GET "
                       "/v1/log/checkpoints lists them)") from None
    at = _read(cp, _mined(ctx.anchors.get(size)), Chosen.REQUESTED)
    if at.index_root is None and at.problem is None:
        newest = indexed_checkpoint(ctx)
        hint = f"; the newest that does is {newest.tree_size}" if newest else ""
        raise RecordError(f"checkpoint {size}'s signed note carries no loan-index line (it "
                          f"was signed before the log kept its loan index){hint}",
                          field="tree_size")
    return at


def indexed_checkpoint(ctx: AppContext, tree_size: int | None = None
                       ) -> IndexedCheckpoint | None:
    """The checkpoint asked for (`NotFound` if there is none of that size, `RecordError`
    if its note commits to no loan index), else the newest anchored one that commits to a
    loan index, else the newest signed one that does; None when no checkpoint does (among
    the newest `MAX_CHECKPOINT_SCAN` of each). A stored note that cannot be read is chosen
    too, with its problem, so the answer names it."""
    if tree_size is not None:
        return _requested(ctx, tree_size)
    for row in ctx.anchors.recent(MAX_CHECKPOINT_SCAN):
        if _mined(row) is None:
            continue
        try:
            cp = ctx.store.checkpoint(row.tree_size)
        except NotFound:
            continue
        at = _read(cp, row, Chosen.NEWEST_ANCHORED)
        if at.index_root is not None or at.problem is not None:
            return at
    for cp in ctx.store.list_checkpoints(MAX_CHECKPOINT_SCAN):
        at = _read(cp, None, Chosen.NEWEST_SIGNED)
        if at.index_root is not None or at.problem is not None:
            return at
    return None


# --- the check -----------------------------------------------------------------------------


def _column_places(chain: Sequence[StoredLeaf]) -> tuple[Place, ...]:
    """The chain as the database's columns say (shown when the cross-check fails)."""
    return tuple(Place(leaf.loan_seq or n, leaf.leaf_index, leaf.leaf_hash, leaf.event_type,
                       leaf.received_at, leaf.record is None, None)
                 for n, leaf in enumerate(chain, start=1))


def _places(history: LoanHistory, chain: Sequence[StoredLeaf]) -> tuple[Place, ...]:
    columns = {leaf.leaf_index: leaf for leaf in chain}
    out = []
    for r in history.records:
        leaf = columns[r.leaf_index]
        content = r.content or {}
        out.append(Place(r.seq, r.leaf_index, r.leaf_hash,
                         str(content.get("type", leaf.event_type)),
                         str(content.get("received_at", leaf.received_at)),
                         r.content is None, r.erased_by))
    return tuple(out)


def _index_entry(proof: IndexProof | None, root: bytes | None) -> tuple[bool, Entry | None]:
    """(whether the proof verifies against the signed root, the entry it proves)."""
    if proof is None or root is None:
        return False, None
    try:
        return True, verify_proof(proof, root)
    except LoanIndexError:
        return False, None


def check(ctx: AppContext, at: IndexedCheckpoint, tenant: str, loan_id: str) -> Completeness:
    """The loan's completeness at `at` (see the module docstring)."""
    store, size, origin = ctx.store, at.tree_size, ctx.log.origin
    problems: list[str] = [] if at.problem is None else [at.problem]
    stored = store.loan_index_root(size)
    if at.index_root is not None and stored != at.index_root:
        problems.append(f"the log's loan index root at size {size} is "
                        f"{stored.hex() if stored else 'absent'}, its signed checkpoint "
                        f"commits to {at.index_root.hex()} (run cunzheng fsck)")
    proof: IndexProof | None = None
    chain: list[StoredLeaf] = []
    try:
        proof = store.loan_index_proof(tenant, loan_id, size)
    except (NotFound, IntegrityError) as exc:
        problems.append(f"the log cannot give loan {loan_id!r}'s index proof at size {size}: "
                        f"{exc} (run cunzheng fsck)")
    try:
        chain = store.loan_chain(tenant, loan_id, size)
    except IntegrityError as exc:  # a sealed record whose columns were changed, for one
        problems.append(f"the log cannot read loan {loan_id!r}'s records below size {size}: "
                        f"{exc}")
    verified, entry = _index_entry(proof, at.index_root)

    def answer(status: Status, places: tuple[Place, ...], proved_from: int | None
               ) -> Completeness:
        return Completeness(tenant, loan_id, origin, at, status, entry, proof, places,
                            proved_from, tuple(problems))

    if problems or proof is None or at.index_root is None:
        return answer(Status.DIVERGENT, _column_places(chain), None)
    if verified and entry is None and not chain:
        return answer(Status.NO_RECORDS, (), None)
    try:
        evidence = load_evidence(store, tenant, loan_id, origin) if chain else None
        history = loan_history(
            tenant, loan_id, origin, checkpoint_size=size, index_root=at.index_root,
            proof=proof, chain=chain,
            events={} if evidence is None else {r.leaf_index: r.content
                                                for r in evidence.records},
            event_bytes={} if evidence is None else {
                leaf.leaf_index: leaf.record for leaf in evidence.leaves
                if leaf.leaf_index < size})
    except (PackageError, IntegrityError) as exc:
        problems.append(str(exc))
        return answer(Status.DIVERGENT, _column_places(chain), None)
    status = Status.COMPLETE if history.proved_from == 1 else Status.UNPROVED_PREFIX
    return answer(status, _places(history, chain), history.proved_from)


# --- the JSON answer -----------------------------------------------------------------------


def _anchor_json(row: AnchorRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"tree_size": row.tree_size, "root": row.root.hex(), "chain_id": row.chain_id,
            "contract": row.contract, "tx_hash": row.tx_hash, "block_number": row.block_number,
            "block_hash": row.block_hash, "block_time": row.block_time,
            "confirmations": row.confirmations, "status": row.status}


def answer_json(c: Completeness, *, contents: bool) -> dict[str, Any]:
    """The API's answer. Without `contents` (auditor, verifier) the records are places and
    hashes only: no event type, no arrival time."""
    cp, size = c.at.checkpoint, c.at.tree_size
    last = c.entry
    return {
        "tenant": c.tenant, "loan_id": c.loan_id, "status": c.status.value,
        "complete": c.complete, "reason": c.reason,
        "checkpoint": {"tree_size": size, "root": cp.root.hex(),
                       "loan_index_root": None if c.at.index_root is None
                       else c.at.index_root.hex(),
                       "note": cp.note, "signed_at": cp.signed_at, "chosen": c.at.chosen.value,
                       "anchor": _anchor_json(c.at.anchor)},
        "count": c.count,
        "last_leaf_index": None if last is None else last.last_index,
        "last_leaf_hash": None if last is None else last.last_hash.hex(),
        "proved_from": c.proved_from,
        "records": [{"loan_seq": p.seq, "leaf_index": p.leaf_index,
                     "leaf_hash": p.leaf_hash.hex(),
                     "evidence_id": evidence_id(c.origin, p.leaf_index),
                     "event_type": p.event_type if contents else None,
                     "received_at": p.received_at if contents else None,
                     "erased": p.erased, "erased_by": p.erased_by} for p in c.places],
        "index_proof": None if c.proof is None else c.proof.as_json(size, c.tenant, c.loan_id),
        "problems": list(c.problems),
    }


def completeness_json(ctx: AppContext, tenant: str, loan_id: str, tree_size: int | None, *,
                      contents: bool) -> dict[str, Any]:
    """`check` at `indexed_checkpoint(tree_size)` as the API answers it; `NotFound` when
    no checkpoint commits to a loan index yet."""
    at = indexed_checkpoint(ctx, tree_size)
    if at is None:
        raise NotFound("no signed checkpoint of this log commits to a loan index yet (the "
                       "next checkpoint signed after the log's first record does)")
    return answer_json(check(ctx, at, tenant, loan_id), contents=contents)
