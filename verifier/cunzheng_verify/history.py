"""The loan history's completeness (package v2, DESIGN.md "Package v2" and "Loan index"):
consensus-critical, like every check of a package.

A v2 package carries, beside its exhibits, every record of the loan up to one checkpoint
(`history/<leaf>.json`, listed in the manifest's `history` with its place `loan_seq`, leaf
index and leaf hash; an erased record keeps its place and hash, without a file) and the loan
index proof at that checkpoint (`proofs/loan-index.json`). What the steps prove together:
the signed checkpoint note commits to the loan index root (its `loan-index` line); the proof
gives the loan's head there, `(count k, last leaf index, last leaf hash)`; each Record v2
names its place (`loan_seq`) and the leaf hash of the record before it (`loan_prev`), so
walking back from the head reaches every record: none can be left out, added or reordered
without breaking a link or the count. A link cannot be checked through a record that carries
none (a v1 record, from before the chain) or whose content is gone (erased): the records
below such a point are counted by the index but not identified, which is a warning.

Steps, each its own line in the report and none stopping another:
- `history` (skipped): the package has no history annex (every v1 package): completeness of
  the loan's records is not proved, and the report says so;
- `history.entry`: the manifest's `history` decodes;
- `history.record`, one per record: the file is listed, hashes to its leaf hash, and is a
  canonical record of the package's tenant and loan whose `loan_seq` (v2) is its place;
  `history.erased` for each erased record: it names the loan's erasure event (a record of
  the history, type `data_erased`, `cunzheng_verify.erasure`), whose count and digest of the
  erased records are those the history marks erased naming it (a warning when it names
  none);
- `history.chain`: places 1..k in order, leaf indices rising, each `loan_prev` the leaf hash
  of the record before (null for the first), the last record the head;
- `history.index`: the proof is for this loan at the package's newest checkpoint, verifies
  against the `loan-index` root of that checkpoint's signed note (`index_root`), and its
  entry is `(count, last_leaf_index, last_leaf_hash)` (skipped when the note's signature
  did not verify: `checkpoint.signature` has failed the package already);
- `history.exhibits`: every exhibit is in the history, at the same leaf index;
- `history.freshness`: the checkpoint was anchored at or after the package's as-of date
  (`loan.as_of`, a date in China, UTC+8: from 00:00 that day), so an older checkpoint
  cannot be passed off as the loan's current history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from cunzheng_verify import merkle
from cunzheng_verify.checks import Verifier
from cunzheng_verify.decode import (
    HistoryEntry,
    HistoryRecord,
    ItemEntry,
    Problem,
    json_value,
    parse_history,
)
from cunzheng_verify.erasure import ERASURE_TYPE, erased_records_digest, read_erasure
from cunzheng_verify.errors import AnchoringError
from cunzheng_verify.format import AS_OF_UTC_OFFSET_HOURS, MAX_INDEX_PROOF_BYTES
from cunzheng_verify.loanindex import IndexProof, loan_key, verify_proof
from cunzheng_verify.records import Record, parse_rfc3339, read_record
from cunzheng_verify.report import Status

__all__ = ["CHINA", "Link", "as_of_start", "check_history"]

CHINA = timezone(timedelta(hours=AS_OF_UTC_OFFSET_HOURS))
STEPS = ("history.record", "history.chain", "history.index", "history.exhibits",
         "history.freshness")


@dataclass(frozen=True, slots=True)
class Link:
    """What a history record's bytes say about its place: None for a v1 record (no link)."""

    seq: int
    prev: bytes | None


Links = dict[int, Link | None]  # place -> link; None: a v1 record; absent: erased or unread
Contents = dict[int, dict[str, Any]]  # leaf index -> content, of each record that read well


def check_history(v: Verifier, items: Sequence[ItemEntry]) -> None:
    """Add the history steps for the package `v` holds (see the module docstring)."""
    raw = v.m.history
    if raw is None:
        v.report.add("history", Status.SKIPPED,
                     f"{v.m.schema}: no loan history in this package; that it holds every "
                     "record of the loan is not proved")
        return
    decoded: list[HistoryEntry] = []

    def entry() -> str:
        decoded.append(parse_history(raw))
        h = decoded[0]
        return (f"{len(h.records)} record(s) of loan {v.m.loan_id} up to the checkpoint of "
                f"size {h.checkpoint_size}")
    if v.check("history.entry", entry, subject="manifest.json history") is None:
        for step in STEPS:
            v.report.add(step, Status.SKIPPED, "the manifest's history is unusable")
        return
    h = decoded[0]
    links: Links = {}
    contents: Contents = {}
    read: set[str] = set()
    for r in h.records:
        if r.path in read:  # each file is parsed once, however often a hostile list names it
            v.report.add("history.record", Status.FAILED, f"listed again at seq {r.seq}",
                         subject=r.path)
        elif r.path is not None:
            read.add(r.path)
            v.check("history.record", _record(v, r, links, contents), subject=r.path)
    erased = [r for r in h.records if r.path is None]
    digests: dict[str, tuple[int, str]] = {}
    for r in erased:
        v.check("history.erased", _erased(v, r, contents, erased, digests), subject=r.label)
    v.check("history.chain", lambda: _chain(v, h, links), subject="manifest.json history")
    v.check("history.index", lambda: _index(v, h), subject=h.index_proof)
    v.check("history.exhibits", lambda: _exhibits(h, items), subject="manifest.json items")
    v.check("history.freshness", lambda: _freshness(v, h),
            subject=f"checkpoint {h.checkpoint_size}")


# --- each record -------------------------------------------------------------------------


def _record(v: Verifier, r: HistoryRecord, links: Links,
            contents: Contents) -> Callable[[], str]:
    def run() -> str:
        assert r.path is not None
        data = v.file(r.path, "history record")
        found = merkle.leaf_hash(data)
        if found != r.leaf_hash:
            raise Problem(f"SHA-256(0x00 || record) is {found.hex()}, the history lists "
                          f"{r.leaf_hash.hex()} at seq {r.seq}")
        rec, content = _read(data)
        if (rec.tenant, rec.loan_id) != (v.m.tenant, v.m.loan_id):
            raise Problem(f"record is of loan {rec.loan_id!r} of {rec.tenant!r}, the package "
                          f"of {v.m.loan_id!r} of {v.m.tenant!r}")
        contents[r.leaf_index] = content
        if rec.loan_seq is None:  # v1 (read_record checked a v2 record's chain fields)
            links[r.seq] = None
            return f"seq {r.seq}: v1 {rec.type} record {rec.event_id} (carries no link)"
        links[r.seq] = Link(rec.loan_seq, rec.loan_prev)  # history.chain checks it anyway
        if rec.loan_seq != r.seq:
            raise Problem(f"the record says loan_seq {rec.loan_seq}, the history lists it at "
                          f"seq {r.seq}")
        return f"seq {r.seq}: {rec.type} record {rec.event_id}, leaf {r.leaf_index}"
    return run


def _read(data: bytes) -> tuple[Record, dict[str, Any]]:
    """A canonical record (v1 or v2, `records.read_record`) and its content."""
    try:
        return read_record(data)
    except AnchoringError as exc:
        raise Problem(f"not a canonical record: {exc}") from None


def _erased(v: Verifier, r: HistoryRecord, contents: Contents,
            erased: Sequence[HistoryRecord],
            digests: dict[str, tuple[int, str]]) -> Callable[[], Any]:
    def run() -> Any:
        what = f"seq {r.seq} (leaf {r.leaf_index}, hash {r.leaf_hash.hex()}) was erased"
        if r.erased_by is None:
            return Status.WARNING, f"{what}, and no erasure event is named"
        origin, _, leaf = r.erased_by.rpartition("#")
        if origin != v.m.log.origin or not leaf.isdigit():
            raise Problem(f"erased_by {r.erased_by!r} is not an evidence id of log "
                          f"{v.m.log.origin!r}")
        content = contents.get(int(leaf))
        erasure = None if content is None else read_erasure(content)
        if erasure is None:
            raise Problem(f"erased_by {r.erased_by} is not an erasure event ({ERASURE_TYPE}) "
                          "read from this history")
        if r.erased_by not in digests:
            group = sorted((x.leaf_index, x.leaf_hash) for x in erased
                           if x.erased_by == r.erased_by)
            digests[r.erased_by] = (len(group), erased_records_digest(group))
        marked, digest = digests[r.erased_by]
        if (marked, digest) != (erasure.records, erasure.records_sha256):
            raise Problem(f"the erasure event {r.erased_by} erased {erasure.records} record(s) "
                          f"(digest {erasure.records_sha256}); the history marks {marked} "
                          f"erased by it (digest {digest})")
        return f"{what}: erasure event {r.erased_by} ({erasure.basis}) lists it"
    return run


# --- the chain --------------------------------------------------------------------------


def _order(h: HistoryEntry, v: Verifier) -> None:
    """Places 1..count in order, leaf indices rising, the last record the head, and no
    history file the listing leaves out."""
    if len(h.records) != h.count:
        raise Problem(f"the history lists {len(h.records)} record(s), its count is {h.count}")
    for place, r in enumerate(h.records, start=1):
        if r.seq != place:
            raise Problem(f"the history's record {place} has seq {r.seq}: places must run "
                          f"1..{h.count} in order")
    for before, after in zip(h.records, h.records[1:], strict=False):
        if after.leaf_index <= before.leaf_index:
            raise Problem(f"seq {after.seq} is at leaf {after.leaf_index}, not after seq "
                          f"{before.seq} at leaf {before.leaf_index}: records are in arrival "
                          "order")
    last = h.records[-1]
    if (last.leaf_index, last.leaf_hash) != (h.last_leaf_index, h.last_leaf_hash):
        raise Problem(f"the last record (leaf {last.leaf_index}) is not the history's head "
                      f"(leaf {h.last_leaf_index}, hash {h.last_leaf_hash.hex()[:16]}...)")
    listed = {r.path for r in h.records}
    stray = sorted(p for p in v.listed if p.startswith("history/") and p not in listed)
    if stray:
        raise Problem(f"history file(s) the history does not list: {', '.join(stray[:5])}")


def _chain(v: Verifier, h: HistoryEntry, links: Links) -> Any:
    _order(h, v)
    unlinked = 0  # the highest place whose own link cannot be checked
    why = ""
    seen_v2 = False
    for place, r in enumerate(h.records, start=1):
        if place not in links:
            if r.path is not None:
                raise Problem(f"seq {place} did not read as a record (see history.record): "
                              "its link cannot be checked")
            unlinked, why = place, f"seq {place} was erased"
            continue
        link = links[place]
        if link is None:
            if seen_v2:
                raise Problem(f"seq {place} is a v1 record after a v2 record: the log writes "
                              "v2 records only, once it does")
            unlinked, why = place, "v1 records carry no link"
            continue
        seen_v2 = True
        want = None if place == 1 else h.records[place - 2].leaf_hash
        if link.prev != want:
            raise Problem(f"seq {place}'s loan_prev is "
                          f"{link.prev.hex() if link.prev else 'null'}, the record listed "
                          f"before it hashes to {want.hex() if want else '(none: it is first)'}"
                          ": a record left out, added or moved")
    if unlinked > 1:
        return Status.WARNING, (
            f"seq {unlinked}..{h.count} link back from the index head; seq 1..{unlinked - 1} "
            f"are counted by the loan index but cannot be proved to be the loan's records "
            f"({why}): completeness not provable for them")
    return (f"seq 1..{h.count} each link to the one before (loan_prev), up to leaf "
            f"{h.last_leaf_index}")


# --- the index ----------------------------------------------------------------------------


def _index(v: Verifier, h: HistoryEntry) -> Any:
    newest = max(v.checkpoints) if v.checkpoints else None
    if h.checkpoint_size != newest:
        raise Problem(f"the history is at checkpoint {h.checkpoint_size}; it must be at the "
                      f"package's newest checkpoint ({newest})")
    note = v.notes.get(h.checkpoint_size)
    if note is None:  # that step failed already, and the package with it
        return Status.SKIPPED, (f"the note of checkpoint {h.checkpoint_size} did not verify "
                                "(checkpoint.signature): no signed index root to check against")
    root = note.loan_index_root
    if root is None:
        raise Problem(f"checkpoint {h.checkpoint_size}'s signed note has no loan-index line")
    if root != h.index_root:
        raise Problem(f"the history names index root {h.index_root.hex()}, checkpoint "
                      f"{h.checkpoint_size}'s signed note {root.hex()}")
    data = json_value(v.file(h.index_proof, "loan index proof"), h.index_proof,
                      MAX_INDEX_PROOF_BYTES)
    proof = IndexProof.from_json(data)
    if (data.get("tree_size"), data.get("tenant"), data.get("loan_id")) != (
            h.checkpoint_size, v.m.tenant, v.m.loan_id):
        raise Problem(f"the proof is for loan {data.get('loan_id')!r} of "
                      f"{data.get('tenant')!r} at size {data.get('tree_size')}; the package "
                      f"is of {v.m.loan_id!r} of {v.m.tenant!r} at size {h.checkpoint_size}")
    if proof.key != loan_key(str(v.m.tenant), str(v.m.loan_id)):
        raise Problem("the proof's key is not this loan's key")
    entry = verify_proof(proof, root)
    if entry is None:
        raise Problem(f"the loan index at size {h.checkpoint_size} holds no record of this "
                      "loan")
    found = (entry.count, entry.last_index, entry.last_hash)
    if found != (h.count, h.last_leaf_index, h.last_leaf_hash):
        raise Problem(f"the loan index says {entry.count} record(s), the last at leaf "
                      f"{entry.last_index} ({entry.last_hash.hex()}); the history lists "
                      f"{h.count}, the last at leaf {h.last_leaf_index} "
                      f"({h.last_leaf_hash.hex()})")
    return (f"the loan index at size {h.checkpoint_size} (root {root.hex()}) says "
            f"{entry.count} record(s), the last at leaf {entry.last_index}: as listed")


def _exhibits(h: HistoryEntry, items: Sequence[ItemEntry]) -> str:
    by_hash = {r.leaf_hash.hex(): r for r in h.records}
    for it in items:
        r = by_hash.get(it.leaf_hash)
        if r is None:
            raise Problem(f"exhibit {it.no} (leaf {it.leaf_index}) is not in the loan's "
                          "history")
        if r.leaf_index != it.leaf_index:
            raise Problem(f"exhibit {it.no} is at leaf {it.leaf_index}, the history lists its "
                          f"record at leaf {r.leaf_index}")
    return f"all {len(items)} exhibit(s) are records of the history"


# --- freshness ----------------------------------------------------------------------------


def as_of_start(as_of: Any) -> datetime:
    """The first instant of the as-of date in China (UTC+8), in UTC."""
    if not isinstance(as_of, str):
        raise Problem(f"loan.as_of must be a date YYYY-MM-DD, got {as_of!r}")
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise Problem(f"loan.as_of must be a date YYYY-MM-DD, got {as_of[:40]!r}") from None
    if len(as_of) != 10:
        raise Problem(f"loan.as_of must be a date YYYY-MM-DD, got {as_of[:40]!r}")
    return datetime(day.year, day.month, day.day, tzinfo=CHINA).astimezone(UTC)


def _freshness(v: Verifier, h: HistoryEntry) -> str:
    cp = v.checkpoints.get(h.checkpoint_size)
    if cp is None:
        raise Problem(f"no checkpoint of size {h.checkpoint_size} in the package")
    start = as_of_start(v.m.as_of)
    try:
        anchored = parse_rfc3339(cp.anchor.block_time, "block_time")
    except AnchoringError as exc:
        raise Problem(str(exc)) from None
    if anchored < start:
        raise Problem(f"the checkpoint was anchored at {cp.anchor.block_time}, before the "
                      f"package's as-of date {v.m.as_of} (from {start:%Y-%m-%dT%H:%M:%SZ}, "
                      "00:00 in China): a later history may hold records this one lacks")
    return (f"anchored at {cp.anchor.block_time}, on or after the as-of date {v.m.as_of} "
            "(China time)")
