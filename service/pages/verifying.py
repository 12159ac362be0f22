"""What the verification page checks, step by step, for what a visitor brings.

A record (its exact bytes), a leaf hash, an evidence id (`<origin>#<index>`), a document
(its bytes or its SHA-256) or a whole evidence package. Each answer has a status in the
words of DESIGN.md (`anchored`, `logged-not-yet-anchored`, `unknown`, `mismatch`) and the
list of checks behind it, each `ok`, `failed`, `warning` or `skipped` with its reason, so
the page can show every check green or red.

The status comes from the verification API's own logic (`service.verification`), so the
page and `/v1/verify/*` never disagree; the page then re-checks the answer as an outside
verifier would: the leaf hash from the bytes, the root from the inclusion proof, the
checkpoint's signature with the log's key, the anchor's root against the signed
checkpoint. A package is `cunzheng_verify.verify_package`'s report, step by step, with each
item's status in this log.

Nothing here returns record content: the answers are facts about what was brought.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from anchoring.errors import AnchoringError, RecordError
from cunzheng_verify import merkle
from cunzheng_verify.notes import verify_checkpoint
from cunzheng_verify.records import record_from_bytes
from cunzheng_verify.zipread import peek_manifest
from service import verification as api
from service.context import AppContext
from service.errors import InputError

# one vocabulary with the verification API: a page answer's status is an API `Verdict`
ANCHORED, LOGGED = api.Verdict.ANCHORED.value, api.Verdict.LOGGED.value
UNKNOWN, MISMATCH = api.Verdict.UNKNOWN.value, api.Verdict.MISMATCH.value

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""Largest file the page accepts (a package with its documents; the API's own limit for
one document is 50 MiB)."""
MAX_TEXT_CHARS = 70_000
"""Largest pasted text: a record is at most 64 KiB."""
MAX_CITING = 20
"""Records shown for a document cited by many."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | failed | warning | skipped
    reason: str
    item: str | None = None


@dataclass
class PageAnswer:
    """What the verification page shows for one input: its `Verdict` status and each check."""

    kind: str  # record | leaf-hash | evidence-id | document | package
    subject: str
    status: str = UNKNOWN
    evidence_id: str | None = None
    leaf_hash: str | None = None
    checks: list[Check] = field(default_factory=list)
    anchor: dict[str, Any] | None = None
    related: list[PageAnswer] = field(default_factory=list)
    package: dict[str, Any] | None = None

    def add(self, name: str, status: str, reason: str, item: str | None = None) -> None:
        self.checks.append(Check(name, status, reason, item))

    @property
    def failed(self) -> bool:
        return any(c.status == "failed" for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "status": self.status,
                "evidence_id": self.evidence_id, "leaf_hash": self.leaf_hash,
                "checks": [asdict(c) for c in self.checks],
                "anchor": self.anchor, "related": [r.as_json() for r in self.related],
                "package": self.package}


# --- turning the verification API's answers into checks ------------------------------


def _leaf_checks(ctx: AppContext, answer: dict[str, Any], v: PageAnswer) -> None:
    """Re-check what the API answered, as a verifier would: the proof gives the signed
    root, the note is signed by the log's key, the anchor names that root."""
    v.status = answer["status"]
    v.evidence_id = answer.get("evidence_id") or v.evidence_id
    v.leaf_hash = answer.get("leaf_hash") or v.leaf_hash
    if answer.get("evidence_id") is None:
        v.add("log.leaf", "failed", answer["reason"])
        return
    v.add("log.leaf", "failed" if v.status == MISMATCH else "ok", answer["reason"])
    proof, cp = answer.get("inclusion_proof"), answer.get("checkpoint")
    if proof is None or cp is None:
        v.add("proof.inclusion", "skipped", "no signed checkpoint contains this leaf yet")
        return
    try:
        merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"],
                                bytes.fromhex(answer["leaf_hash"]),
                                [bytes.fromhex(h) for h in proof["audit_path"]],
                                bytes.fromhex(cp["root"]))
        v.add("proof.inclusion", "ok", f"{len(proof['audit_path'])} hashes lead from the leaf "
              f"to root {cp['root'][:16]}… of the checkpoint of size {cp['tree_size']}")
    except (AnchoringError, ValueError) as exc:
        v.add("proof.inclusion", "failed", str(exc))
    try:
        signed = verify_checkpoint(cp["note"], key_name=ctx.log.signer.name,
                                   public_key=ctx.log.signer.public_key, origin=ctx.log.origin)
        if signed.tree_size != cp["tree_size"] or signed.root.hex() != cp["root"]:
            raise AnchoringError("the signed note names another size or root")
        v.add("checkpoint.signature", "ok", f"checkpoint {cp['tree_size']} is signed by "
              f"{ctx.log.signer.name} (signed at {cp['signed_at']})")
    except AnchoringError as exc:
        v.add("checkpoint.signature", "failed", str(exc))
    anchor = answer.get("anchor")
    if anchor is None:
        v.add("anchor", "warning", "no anchored checkpoint contains this leaf yet; the "
              "anchoring job anchors the next one")
        return
    v.anchor = {**anchor, "cosigners": answer.get("cosigners") or []}
    if anchor["root"] == cp["root"] and anchor["tree_size"] == cp["tree_size"]:
        v.add("anchor.root", "ok", f"chain {anchor['chain_id']} contract {anchor['contract']} "
              f"anchored this root for size {anchor['tree_size']} in block "
              f"{anchor['block_number']} at {anchor['block_time']} ({anchor['status']}, "
              f"{anchor['confirmations']} confirmations)")
    else:
        v.add("anchor.root", "failed", f"the anchor names size {anchor['tree_size']} root "
              f"{anchor['root']}, the checkpoint {cp['tree_size']} {cp['root']}")
    n = len(v.anchor["cosigners"])
    v.add("anchor.cosigners", "ok" if n else "warning",
          f"{n} witness(es) cosigned this checkpoint" if n else "no witness has cosigned yet")


def verify_record(ctx: AppContext, data: bytes,
                  expect_evidence_id: str | None = None) -> PageAnswer:
    h = merkle.leaf_hash(data)
    v = PageAnswer("record", f"record of {len(data)} bytes", leaf_hash=h.hex())
    v.add("record.leaf_hash", "ok", f"SHA-256(0x00 || bytes) = {h.hex()}")
    try:
        record = record_from_bytes(data)
        v.add("record.canonical", "ok", f"RFC 8785 canonical {record.type} record")
    except RecordError as exc:
        v.add("record.canonical", "failed", str(exc))
    if expect_evidence_id:
        answer = api.by_evidence_id(ctx, expect_evidence_id, h)
    else:
        answer = api.by_record_bytes(ctx, data)
    _leaf_checks(ctx, answer, v)
    if v.status == MISMATCH and answer.get("submitted_leaf_hash"):
        v.leaf_hash = answer["submitted_leaf_hash"]
    return v


def verify_leaf_hash(ctx: AppContext, hex_hash: str) -> PageAnswer:
    v = PageAnswer("leaf-hash", hex_hash, leaf_hash=hex_hash)
    _leaf_checks(ctx, api.by_leaf_hash(ctx, bytes.fromhex(hex_hash)), v)
    return v


def verify_evidence_id(ctx: AppContext, text: str) -> PageAnswer:
    v = PageAnswer("evidence-id", text.strip())
    answer = api.by_evidence_id(ctx, text.strip())
    if answer.get("evidence_id") is None:
        v.add("evidence_id", "failed", answer["reason"])
        v.status = answer["status"]
        return v
    _leaf_checks(ctx, answer, v)
    return v


def verify_document(ctx: AppContext, sha256: str, size: int | None = None) -> PageAnswer:
    v = PageAnswer("document", sha256 if size is None else f"document of {size} bytes")
    v.add("document.sha256", "ok", f"SHA-256 = {sha256}")
    answer = api.by_document(ctx, sha256, size)
    v.status = answer["status"]
    v.add("document.cited", "ok" if answer["records"] else "failed", answer["reason"])
    for r in answer["records"][:MAX_CITING]:
        sub = PageAnswer("record", "record citing the document")
        _leaf_checks(ctx, r, sub)
        v.related.append(sub)
    best = next((r for r in v.related if r.status == v.status), None)
    if best is not None:
        v.evidence_id, v.leaf_hash, v.anchor = best.evidence_id, best.leaf_hash, best.anchor
    return v


def check_package(ctx: AppContext, data: bytes, name: str = "package.zip") -> PageAnswer:
    v = PageAnswer("package", f"{name} ({len(data)} bytes)")
    answer = api.verify_package_upload(ctx, data, [])
    v.status = answer["status"]
    for s in answer["report"]["steps"]:
        reason = s["reason"] + (f" [{s['subject']}]" if s.get("subject") else "")
        v.add(s["step"], s["status"], reason, s.get("item"))
    v.add("log.items", "ok" if v.status == ANCHORED else
          "failed" if v.status == MISMATCH else "warning", answer["reason"])
    manifest = peek_manifest(data)
    if manifest is not None:
        v.package = {"package_id": answer.get("package_id"), "venue": manifest.get("venue"),
                     "created_at": manifest.get("created_at"),
                     "loan_id": (manifest.get("loan") or {}).get("loan_id"),
                     "items": len(manifest.get("items") or [])}
    for item in answer["items"]:
        sub = PageAnswer("record", f"item {item['no']}")
        _leaf_checks(ctx, item, sub)
        v.related.append(sub)
        if v.anchor is None and sub.anchor is not None:
            v.anchor = sub.anchor
    v.package = {**(v.package or {}), "offline_command": answer.get("offline_command")}
    return v


# --- dispatch -------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_input(ctx: AppContext, *, kind: str, text: str, data: bytes | None,
                 filename: str | None, evidence: str | None = None) -> PageAnswer:
    """Decide what was brought (`kind` may be `auto`) and verify it."""
    text = _bounded(text, data)
    evidence = (evidence or "").strip() or None
    if data is None and not text:
        if evidence:
            return verify_evidence_id(ctx, evidence)
        raise InputError("drop a file, paste a record, a hash or an evidence id")
    if kind == "auto":
        kind = _guess(data, filename, text)
    if kind == "package":
        if data is None:
            raise InputError("a package is a zip file: drop or choose it")
        return check_package(ctx, data, filename or "package.zip")
    if kind == "record":
        body = data if data is not None else text.encode()
        return verify_record(ctx, body, evidence)
    if kind == "document":
        return _verify_document_input(ctx, text, data)
    if kind == "leaf-hash":
        if not _HEX64.fullmatch(text.lower()):
            raise InputError("a leaf hash is 64 hex digits")
        return verify_leaf_hash(ctx, text.lower())
    if kind == "evidence-id":
        return verify_evidence_id(ctx, text or evidence or "")
    if kind == "hash":
        return verify_auto_hash(ctx, text)
    raise InputError("not recognised: expected a record (JSON), a 64-hex hash, an evidence id "
                     "(<origin>#<index>), a document or a package (zip)")


def _bounded(text: str, data: bytes | None) -> str:
    """The pasted text, stripped, once it and the file are within their limits."""
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"pasted text is {len(text)} characters, limit {MAX_TEXT_CHARS}")
    if data is not None and len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"file is {len(data)} bytes, limit {MAX_UPLOAD_BYTES}")
    return text


def _verify_document_input(ctx: AppContext, text: str, data: bytes | None) -> PageAnswer:
    """A document brought as its file, or named by its SHA-256."""
    if data is not None:
        return verify_document(ctx, sha256_hex(data), len(data))
    if not _HEX64.fullmatch(text.lower()):
        raise InputError("a document is given by its file or its SHA-256 (64 hex digits)")
    return verify_document(ctx, text.lower())


def _guess(data: bytes | None, filename: str | None, text: str) -> str:
    if data is not None:
        if data.startswith(_ZIP_MAGIC) or (filename or "").lower().endswith(".zip"):
            return "package"
        if data.lstrip().startswith(b"{") and b'"cunzheng.event/v' in data[:MAX_TEXT_CHARS]:
            return "record"
        return "document"
    if _HEX64.fullmatch(text.lower()):
        return "hash"
    if text.startswith("{"):
        return "record"
    if "#" in text:
        return "evidence-id"
    return "unknown"


def verify_auto_hash(ctx: AppContext, text: str) -> PageAnswer:
    """A bare 64-hex string: a leaf hash if the log has one, else a document's SHA-256."""
    v = verify_leaf_hash(ctx, text.lower())
    if v.evidence_id is not None:
        return v
    d = verify_document(ctx, text.lower())
    return d if d.related else v


