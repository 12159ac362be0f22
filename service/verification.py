"""The verification API's logic (DESIGN.md, "Verification API"): what the log can say about
a record, a leaf hash, a document, an evidence id or a whole evidence package, and the
access log of every such call.

Answers are facts about what the caller submitted and nothing more: status, evidence id,
leaf hash, the inclusion proof to the earliest anchored checkpoint containing the leaf (else
to the latest checkpoint), that checkpoint's signed note, the anchor's chain facts and the
cosigners. Never record content, tenant, loan id, event id or document names: PIPL art. 51
applies to the bank's own verification desk as much as to the chain. A package is checked by
`cunzheng_verify.verify_package` itself, with the arguments `cunzheng verify` would get, so
the API's report is the offline verifier's report, step for step.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select

from anchoring.errors import NotFound, RecordError
from anchoring.receipts import evidence_id
from anchoring.store import StoredCheckpoint
from cunzheng_verify.format import MAX_ENTRIES as MAX_PACKAGE_ENTRIES
from cunzheng_verify.merkle import leaf_hash as compute_leaf_hash
from cunzheng_verify.notes import verifier_key
from cunzheng_verify.records import (
    MAX_DOCUMENT_BYTES,
    MAX_RECORD_BYTES,
    SHA256_HEX,
    TooLarge,
    canonical,
    format_utc,
    parse_json,
    record_from_bytes,
)
from service.auth import Principal
from service.context import AppContext
from service.errors import VerificationInputError
from service.tables import verification_log

MAX_RECORD_UPLOAD_BYTES = MAX_RECORD_BYTES  # a record can be no larger than the log accepts
MAX_DOCUMENT_UPLOAD_BYTES = MAX_DOCUMENT_BYTES
MAX_PACKAGE_UPLOAD_BYTES = 256 * 1024 * 1024  # one zip, as uploaded; 413 above
# MAX_PACKAGE_ENTRIES (imported above): the verifier's own bound on zip entries, checked first
MAX_DOCUMENT_LEAVES = 100  # leaves named per document answer
MAX_TRUST_KEYS = 16
MAX_EVIDENCE_ID_LENGTH = 300
MAX_ACCESS_LOG_PAGE = 1000
MAX_INDEX_DIGITS = 18


class Verdict(StrEnum):
    ANCHORED = "anchored"
    LOGGED = "logged-not-yet-anchored"
    UNKNOWN = "unknown"
    MISMATCH = "mismatch"


REJECTED = "rejected"  # access-log status of a call refused for its input
_RANK = {Verdict.MISMATCH: 0, Verdict.UNKNOWN: 1, Verdict.LOGGED: 2, Verdict.ANCHORED: 3}


@dataclass(frozen=True, slots=True)
class Leaf:
    """The facts the verifier may see about a leaf: where it is and what it hashes to."""

    leaf_index: int
    leaf_hash: bytes


# --- one leaf -------------------------------------------------------------------------------


def leaf_facts(ctx: AppContext, leaf: Leaf) -> dict[str, Any]:
    """Status, evidence id, proof, checkpoint, anchor and cosigners of a logged leaf."""
    row = ctx.anchors.covering(leaf.leaf_index + 1)
    anchored = row is not None and None not in (row.block_number, row.block_hash, row.block_time)
    cp: StoredCheckpoint | None
    if row is not None and anchored:
        cp = ctx.store.checkpoint(row.tree_size)
        status = Verdict.ANCHORED
        reason = (f"in the log and in the checkpoint of size {cp.tree_size}, anchored in block "
                  f"{row.block_number} ({row.status}, {row.confirmations} confirmation(s))")
    else:
        cp = ctx.store.latest_checkpoint()
        status = Verdict.LOGGED
        if cp is not None and cp.tree_size > leaf.leaf_index:
            reason = (f"in the log and in the checkpoint of size {cp.tree_size}; no anchored "
                      "checkpoint contains it yet")
        else:
            cp = None
            reason = ("in the log; no signed checkpoint contains it yet (one follows within "
                      f"{ctx.settings.checkpoint_interval:g} s)")
    proof = None
    if cp is not None:
        path = ctx.store.inclusion_proof(leaf.leaf_index, cp.tree_size)
        proof = {"leaf_index": leaf.leaf_index, "tree_size": cp.tree_size,
                 "audit_path": [h.hex() for h in path]}
    anchor = None
    cosigners: list[dict[str, Any]] = []
    if row is not None and anchored:
        anchor = {"tree_size": row.tree_size, "root": row.root.hex(), "chain_id": row.chain_id,
                  "contract": row.contract, "tx_hash": row.tx_hash,
                  "block_number": row.block_number, "block_hash": row.block_hash,
                  "block_time": row.block_time, "confirmations": row.confirmations,
                  "status": row.status}
        cosigners = [{"address": c.witness, "tx_hash": c.tx_hash, "block_number": c.block_number}
                     for c in ctx.anchors.cosigners(row.tree_size)]
    return {"status": status.value, "reason": reason,
            "evidence_id": evidence_id(ctx.log.origin, leaf.leaf_index),
            "leaf_index": leaf.leaf_index, "leaf_hash": leaf.leaf_hash.hex(),
            "inclusion_proof": proof,
            "checkpoint": None if cp is None else {
                "tree_size": cp.tree_size, "root": cp.root.hex(), "note": cp.note,
                "signed_at": cp.signed_at},
            "anchor": anchor, "cosigners": cosigners}


def _not_found(status: Verdict, reason: str, leaf_hash: bytes | None = None) -> dict[str, Any]:
    return {"status": status.value, "reason": reason, "evidence_id": None, "leaf_index": None,
            "leaf_hash": None if leaf_hash is None else leaf_hash.hex(), "inclusion_proof": None,
            "checkpoint": None, "anchor": None, "cosigners": []}


def _find(ctx: AppContext, leaf_hash: bytes) -> Leaf | None:
    try:
        return Leaf(ctx.store.locate(leaf_hash), leaf_hash)
    except NotFound:
        return None


def by_leaf_hash(ctx: AppContext, leaf_hash: bytes) -> dict[str, Any]:
    leaf = _find(ctx, leaf_hash)
    if leaf is None:
        return _not_found(Verdict.UNKNOWN, "no leaf of this log has this hash", leaf_hash)
    return leaf_facts(ctx, leaf)


def _mismatch(ctx: AppContext, logged: Leaf, submitted: bytes, why: str) -> dict[str, Any]:
    """The facts of the leaf the log holds, marked as not matching what was submitted."""
    facts = leaf_facts(ctx, logged)
    return {**facts, "status": Verdict.MISMATCH.value, "submitted_leaf_hash": submitted.hex(),
            "reason": f"{why}; the log holds {facts['evidence_id']} with leaf hash "
                      f"{facts['leaf_hash']} ({facts['status']})"}


def by_record_bytes(ctx: AppContext, data: bytes) -> dict[str, Any]:
    """A record's exact bytes: logged (as they are), mismatch (the log holds other bytes for
    the same event, or these are a re-serialised copy), or unknown."""
    if not data:
        raise VerificationInputError("the body is empty; send the record's exact bytes")
    if len(data) > MAX_RECORD_UPLOAD_BYTES:
        raise TooLarge(f"record is {len(data)} bytes, limit {MAX_RECORD_UPLOAD_BYTES}")
    submitted = compute_leaf_hash(data)
    leaf = _find(ctx, submitted)
    if leaf is not None:
        return {**leaf_facts(ctx, leaf), "submitted_leaf_hash": submitted.hex()}
    value = parse_json(data, max_bytes=MAX_RECORD_UPLOAD_BYTES)
    try:
        record = record_from_bytes(data)
    except RecordError as exc:
        try:
            canonical_form = canonical(value)
        except Exception:  # noqa: BLE001 - not representable in RFC 8785: simply not a record
            canonical_form = data
        other = None if canonical_form == data else _find(ctx, compute_leaf_hash(canonical_form))
        if other is not None:
            return _mismatch(ctx, other, submitted, "these are not the exact bytes the log "
                             "committed to (re-serialised: key order, spacing or escapes differ)")
        raise VerificationInputError(f"not a cunzheng.event/v1 record: {exc}") from None
    try:
        same_event = ctx.store.event(record.tenant, record.event_id)
    except NotFound:
        return {**_not_found(Verdict.UNKNOWN, "no leaf of this log has this record's hash",
                             submitted), "submitted_leaf_hash": submitted.hex()}
    return _mismatch(ctx, Leaf(same_event.leaf_index, same_event.leaf_hash), submitted,
                     "the log holds another record for the event this record names (altered copy?)")


def parse_evidence_id(ctx: AppContext, text: str) -> tuple[str, int]:
    origin, sep, index = text.rpartition("#")
    if not sep or not origin or not index.isascii() or not index.isdigit() \
            or len(index) > MAX_INDEX_DIGITS:
        raise VerificationInputError(
            f"evidence id {text[:80]!r} must be <origin>#<leaf index>, for example "
            f"{evidence_id(ctx.log.origin, 0)!r}")
    return origin, int(index)


def by_evidence_id(ctx: AppContext, text: str, leaf_hash: bytes | None = None) -> dict[str, Any]:
    origin, index = parse_evidence_id(ctx, text)
    if origin != ctx.log.origin:
        return _not_found(Verdict.UNKNOWN, f"the evidence id names log {origin[:100]!r}; this "
                          f"is {ctx.log.origin!r}", leaf_hash)
    try:
        leaf = Leaf(index, ctx.store.hash_at(index))
    except NotFound:
        return _not_found(Verdict.UNKNOWN, f"this log has no leaf {index}", leaf_hash)
    if leaf_hash is not None and leaf_hash != leaf.leaf_hash:
        return _mismatch(ctx, leaf, leaf_hash, f"the leaf hash given is not that of leaf {index}")
    return leaf_facts(ctx, leaf)


# --- documents ------------------------------------------------------------------------------


def _committing_leaves(ctx: AppContext, sha256: str) -> tuple[list[Leaf], bool]:
    """Leaves whose record lists the document, from the record-documents index (kept at
    ingestion, so it holds for encrypted and erased records too)."""
    found = [Leaf(i, h) for i, h in ctx.store.leaves_citing(sha256)]
    return found[:MAX_DOCUMENT_LEAVES], len(found) > MAX_DOCUMENT_LEAVES


def by_document(ctx: AppContext, sha256: str, size: int | None = None) -> dict[str, Any]:
    if not SHA256_HEX.fullmatch(sha256):
        raise VerificationInputError(f"{sha256[:80]!r} is not 64 lowercase hex digits")
    found, truncated = _committing_leaves(ctx, sha256)
    records = [leaf_facts(ctx, leaf) for leaf in found]
    best = max((Verdict(r["status"]) for r in records), key=_RANK.__getitem__,
               default=Verdict.UNKNOWN)
    if not records:
        reason = "no record of this log commits to this document"
    else:
        reason = (f"{len(records)}{'+' if truncated else ''} record(s) commit to this document; "
                  f"the best status is {best.value}")
    return {"status": best.value, "reason": reason, "sha256": sha256, "size": size,
            "records": records, "truncated": truncated}


def by_document_bytes(ctx: AppContext, data: bytes) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT_UPLOAD_BYTES:
        raise TooLarge(f"document is {len(data)} bytes, limit {MAX_DOCUMENT_UPLOAD_BYTES}")
    return by_document(ctx, hashlib.sha256(data).hexdigest(), len(data))


# --- packages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageOptions:
    """The arguments `verify_package` gets: what `cunzheng verify` would be given."""

    trusted_keys: tuple[bytes, ...] | None
    log_public_key: bytes
    rpc: str | None
    min_confirmations: int


def package_options(ctx: AppContext, extra_trust: list[str]) -> PackageOptions:
    from cunzheng_verify.trust import parse_trusted_key
    from dispute.packagekey import PACKAGE_KEY_FILE
    from service.logkey import package_signer_for

    if len(extra_trust) > MAX_TRUST_KEYS:
        raise VerificationInputError(f"{len(extra_trust)} trusted keys, limit {MAX_TRUST_KEYS}")
    keys = [parse_trusted_key(k[:200]) for k in extra_trust]
    if ctx.settings.package_key_uri or (ctx.settings.data_dir / PACKAGE_KEY_FILE).exists():
        keys.insert(0, package_signer_for(ctx.settings).public_key)
    rpc = None
    if ctx.settings.anchor_enabled:
        from service.chain_setup import rpc_url

        rpc = rpc_url(ctx.settings)
    return PackageOptions(tuple(keys) or None, ctx.log.signer.public_key, rpc,
                          ctx.settings.anchor_confirmations)


def check_zip_bounds(data: bytes) -> None:
    """The boundary's limits: size, and entries read off the central directory only."""
    from cunzheng_verify import ZIP_ERRORS

    if len(data) > MAX_PACKAGE_UPLOAD_BYTES:
        raise TooLarge(f"package is {len(data)} bytes, limit {MAX_PACKAGE_UPLOAD_BYTES}")
    if not data:
        raise VerificationInputError("the body is empty; send the evidence package (zip)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = len(zf.infolist())
    except ZIP_ERRORS as exc:
        raise VerificationInputError(f"the body is not a readable zip file: {exc}") from None
    if entries > MAX_PACKAGE_ENTRIES:
        raise TooLarge(f"package has {entries} entries, limit {MAX_PACKAGE_ENTRIES}")


def _manifest_items(data: bytes) -> list[tuple[str, bytes]]:
    """(item no, leaf hash) from the package's manifest, when it can be read at all."""
    from cunzheng_verify import peek_manifest

    manifest = peek_manifest(data)
    if manifest is None:
        return []
    try:
        out = []
        for it in manifest["items"][:MAX_DOCUMENT_LEAVES]:
            if isinstance(it, dict) and isinstance(it.get("leaf_hash"), str) \
                    and SHA256_HEX.fullmatch(it["leaf_hash"]):
                out.append((str(it.get("no"))[:16], bytes.fromhex(it["leaf_hash"])))
        return out
    except Exception:  # noqa: BLE001 - the verifier's report already says what is wrong
        return []


def _verify_offline_and_on_chain(data: bytes, trusted_keys: Any, log_public_key: Any,
                                 rpc: str | None, min_confirmations: int
                                 ) -> tuple[Any, list[tuple[str, bytes]]]:
    """The package's report and its items, computed in the offload process: a hostile
    package (an 8 MiB manifest, a thousand proofs) keeps C parsers busy with the
    interpreter lock held, which must not stall the service's event loop."""
    from cunzheng_verify import Web3ChainView, verify_package

    chain, code = None, None
    if rpc is not None:
        from anchoring.registry import load_artifact

        chain, code = Web3ChainView.from_url(rpc), load_artifact().deployed_bytecode
    report = verify_package(data, trusted_keys=trusted_keys, log_public_key=log_public_key,
                            chain=chain, expected_code=code,
                            min_confirmations=min_confirmations)
    return report, _manifest_items(data)


def verify_package_upload(ctx: AppContext, data: bytes, extra_trust: list[str]) -> dict[str, Any]:
    from service import offload

    check_zip_bounds(data)
    opts = package_options(ctx, extra_trust)
    report, manifest_items = offload.call(
        _verify_offline_and_on_chain, data, opts.trusted_keys, opts.log_public_key, opts.rpc,
        opts.min_confirmations)
    items = [{"no": no, **by_leaf_hash(ctx, lh)} for no, lh in manifest_items]
    if report.failures:
        status = Verdict.MISMATCH
        reason = f"{len(report.failures)} verification step(s) failed"
    else:
        status = min((Verdict(i["status"]) for i in items), key=_RANK.__getitem__,
                     default=Verdict.UNKNOWN)
        reason = (f"every step passed ({report.result}); the weakest item status in this log "
                  f"is {status.value}" if items else "no item names a leaf of this log")
    signer_name = ctx.log.signer.name
    command = ["cunzheng", "verify", "package.zip", "--json", "--log-key",
               verifier_key(signer_name, opts.log_public_key),
               "--min-confirmations", str(opts.min_confirmations)]
    for k in opts.trusted_keys or ():
        command += ["--trust-key", base64.b64encode(k).decode()]
    if opts.rpc:
        command += ["--rpc", opts.rpc]
    return {"status": status.value, "reason": reason,
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "package_id": report.package_id, "report": report.as_json(), "items": items,
            "offline_command": " ".join(command)}


# --- the access log -------------------------------------------------------------------------


def log_call(ctx: AppContext, who: Principal, kind: str, subject: str | None, status: str) -> None:
    """Record one verification call: who, when, what was asked (never content), the answer."""
    with ctx.engine.connect() as conn:
        conn = conn.execution_options(cunzheng_write=True)
        with conn.begin():
            conn.execute(insert(verification_log).values(
                at=format_utc(ctx.clock()), key_id=who.key_id, role=who.role.value, kind=kind,
                subject=None if subject is None else subject[:300], status=status))


def access_log(ctx: AppContext, limit: int, before: int | None) -> list[dict[str, Any]]:
    """Entries newest first; `before` is an entry id (the previous page's last)."""
    query = select(verification_log).order_by(verification_log.c.id.desc()).limit(
        max(1, min(limit, MAX_ACCESS_LOG_PAGE)))
    if before is not None:
        query = query.where(verification_log.c.id < before)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
