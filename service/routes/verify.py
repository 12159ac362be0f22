"""The verification API for notaries, arbitration commissions and courts (`verifier`, `admin`).

Each call answers facts about what the caller submitted (a record's bytes, a leaf hash, a
document or its SHA-256, an evidence id, an evidence package) and nothing personal it did
not bring, and is written to the access log with the caller's key id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.loanindex import loan_key
from cunzheng_verify.merkle import leaf_hash as record_leaf_hash
from service import verification as v
from service.auth import Principal, Role
from service.completeness import completeness_json
from service.deps import Ctx, read_body, require

router = APIRouter(prefix="/v1/verify", tags=["verify"])
Verifier = Annotated[Principal, Depends(require(Role.VERIFIER, Role.ADMIN))]
Hex64 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", examples=["9f2c" + "0" * 60])]
StatusName = Literal["anchored", "logged-not-yet-anchored", "unknown", "mismatch"]

_LEAF = "3b0f5f6c2ad0d0e1e0d2a9a7c1f1d4b6b6a3c2e1f0a9b8c7d6e5f4a3b2c1d0e9"
_ROOT = "5d2c1bb7a0f6e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"
ANSWER_EXAMPLE: dict[str, Any] = {
    "status": "anchored",
    "reason": "in the log and in the checkpoint of size 8, anchored in block 412 (final, 6 "
              "confirmation(s))",
    "evidence_id": "cunzheng.local/evidence-log#5", "leaf_index": 5, "leaf_hash": _LEAF,
    "inclusion_proof": {"leaf_index": 5, "tree_size": 8, "audit_path": [_ROOT, _LEAF, _ROOT]},
    "checkpoint": {"tree_size": 8, "root": _ROOT, "signed_at": "2026-03-02T01:30:01Z",
                   "note": "cunzheng.local/evidence-log\n8\nXSwbt6D26djHtqX04...=\n\n"
                           "— cunzheng.local/evidence-log Ab3f...==\n"},
    "anchor": {"tree_size": 8, "root": _ROOT, "chain_id": 31337,
               "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
               "tx_hash": "0x" + "ab" * 32, "block_number": 412, "block_hash": "0x" + "cd" * 32,
               "block_time": "2026-03-02T01:30:04Z", "confirmations": 6, "status": "final"},
    "cosigners": [{"address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                   "tx_hash": "0x" + "ef" * 32, "block_number": 413}],
}


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    audit_path: list[str] = Field(description="RFC 9162 audit path, hex, leaf to root")


class Checkpoint(BaseModel):
    tree_size: int
    root: str
    note: str = Field(description="the C2SP signed note, as the log signed it")
    signed_at: str


class AnchorFacts(BaseModel):
    tree_size: int = Field(description="the anchored checkpoint's size")
    root: str
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int | None
    block_hash: str | None
    block_time: str | None
    confirmations: int
    status: str = Field(description="included, or final after the required confirmations")


class Cosigner(BaseModel):
    address: str
    tx_hash: str
    block_number: int


class Answer(BaseModel):
    """What the log says about one leaf. Never the record's content."""

    status: StatusName
    reason: str
    evidence_id: str | None
    leaf_index: int | None
    leaf_hash: str | None
    submitted_leaf_hash: str | None = Field(None, description="the hash of what was submitted")
    inclusion_proof: InclusionProof | None = Field(
        description="to the earliest anchored checkpoint containing the leaf, else the latest")
    checkpoint: Checkpoint | None
    anchor: AnchorFacts | None
    cosigners: list[Cosigner]

    model_config = {"json_schema_extra": {"examples": [ANSWER_EXAMPLE]}}


class DocumentAnswer(BaseModel):
    """The records that commit to a document, with their status; never their content."""

    status: StatusName
    reason: str
    sha256: str
    size: int | None = Field(description="bytes uploaded (None when only the hash was given)")
    records: list[Answer]
    truncated: bool

    model_config = {"json_schema_extra": {"examples": [{
        "status": "anchored", "reason": "1 record(s) commit to this document; the best status "
        "is anchored", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "size": 0, "records": [ANSWER_EXAMPLE], "truncated": False}]}}


class PackageItem(Answer):
    no: str


class PackageAnswer(BaseModel):
    """The offline verifier's report (`report`, exactly what `cunzheng verify --json` prints
    with `offline_command`'s arguments) and each item's status in this log."""

    status: StatusName
    reason: str
    sha256: str
    size: int
    package_id: str | None
    report: dict[str, Any]
    items: list[PackageItem]
    offline_command: str

    model_config = {"json_schema_extra": {"examples": [{
        "status": "anchored", "reason": "every step passed (ok); the weakest item status in "
        "this log is anchored", "sha256": "1f" * 32, "size": 48213, "package_id": "pkg-7f3a",
        "report": {"schema": "cunzheng.verification/v1", "package_id": "pkg-7f3a",
                   "result": "ok", "counts": {"ok": 21, "failed": 0, "warning": 0, "skipped": 0},
                   "steps": [{"step": "manifest.signature", "status": "ok", "reason": "valid "
                              "signature by trusted key ...", "item": None,
                              "subject": "manifest.json"}]},
        "items": [{"no": "1-1", **ANSWER_EXAMPLE}],
        "offline_command": "cunzheng verify package.zip --json --log-key ... --trust-key ..."}]}}


class CompletenessCheckpoint(BaseModel):
    tree_size: int
    root: str
    loan_index_root: str | None = Field(
        description="the loan index root the signed note's `loan-index` line commits to "
        "(base64 there, hex here); None only when the stored note is unreadable")
    note: str = Field(description="the C2SP signed note, as the log signed it")
    signed_at: str
    chosen: Literal["requested", "newest-anchored", "newest-signed"] = Field(
        description="the checkpoint asked for; else the newest anchored one with a loan "
        "index; else (none anchored yet) the newest signed one with a loan index")
    anchor: AnchorFacts | None = Field(description="its anchor, when it is anchored (mined)")


class HistoryPlace(BaseModel):
    loan_seq: int
    leaf_index: int
    leaf_hash: str
    evidence_id: str
    event_type: str | None = Field(description="None for auditors and verifiers")
    received_at: str | None = Field(description="None for auditors and verifiers")
    erased: bool
    erased_by: str | None = Field(description="the evidence id of the loan's erasure event")


_SEQ_HASH = "8e1f" + "0" * 60
COMPLETENESS_EXAMPLE: dict[str, Any] = {
    "tenant": "bank-a", "loan_id": "L-2024-0001234", "status": "complete", "complete": True,
    "reason": "2 record(s) of the loan up to checkpoint 8, as its signed loan index says; "
              "every record proved by its links back to seq 1",
    "checkpoint": {"tree_size": 8, "root": _ROOT, "loan_index_root": _SEQ_HASH,
                   "note": "cunzheng.local/evidence-log\n8\nXSwbt6D26djHtqX04...=\n"
                           "loan-index jh8AAA...=\n\n— cunzheng.local/evidence-log Ab3f...==\n",
                   "signed_at": "2026-03-02T01:30:01Z", "chosen": "newest-anchored",
                   "anchor": dict(ANSWER_EXAMPLE["anchor"])},
    "count": 2, "last_leaf_index": 5, "last_leaf_hash": _LEAF, "proved_from": 1,
    "records": [
        {"loan_seq": 1, "leaf_index": 2, "leaf_hash": _SEQ_HASH,
         "evidence_id": "cunzheng.local/evidence-log#2", "event_type": "credit_decision",
         "received_at": "2026-03-02T01:29:58Z", "erased": False, "erased_by": None},
        {"loan_seq": 2, "leaf_index": 5, "leaf_hash": _LEAF,
         "evidence_id": "cunzheng.local/evidence-log#5", "event_type": "disbursement",
         "received_at": "2026-03-02T01:30:00Z", "erased": False, "erased_by": None}],
    "index_proof": {"schema": "cunzheng.loan-index-proof/v1", "tree_size": 8,
                    "tenant": "bank-a", "loan_id": "L-2024-0001234", "key": _SEQ_HASH,
                    "siblings": [_ROOT], "entry": {"key": _SEQ_HASH, "count": 2,
                                                   "last_leaf_index": 5,
                                                   "last_leaf_hash": _LEAF}},
    "problems": [],
}


class LoanCompleteness(BaseModel):
    """Whether the log holds the loan's whole history up to a checkpoint, with what proves
    it: the signed note, the loan index proof (`cunzheng_verify.loanindex.verify_proof`,
    or by hand: verifier/LOAN_INDEX.md) and every record's place and hash."""

    tenant: str
    loan_id: str
    status: Literal["complete", "unproved-prefix", "no-records", "divergent"] = Field(
        description="complete: every record proved by its links back to seq 1; "
        "unproved-prefix: counted, but records before `proved_from` (a v1 or an erased "
        "record) are not identified by links; no-records: the index proves the loan has no "
        "record up to this checkpoint; divergent: the server's cross-check failed "
        "(`problems`)")
    complete: bool = Field(description="true only if the server's cross-check passed (chain, "
                           "index proof and signed root agree)")
    reason: str
    checkpoint: CompletenessCheckpoint
    count: int = Field(description="records of the loan up to the checkpoint, as the signed "
                       "loan index says (0: none, or its proof does not verify)")
    last_leaf_index: int | None
    last_leaf_hash: str | None
    proved_from: int | None = Field(description="the first seq the links prove (1: all)")
    records: list[HistoryPlace] = Field(description="in loan_seq order; on a divergence, "
                                        "the chain as the database holds it")
    index_proof: dict[str, Any] | None = Field(
        description="cunzheng.loan-index-proof/v1 at the checkpoint (membership, or "
        "non-membership for a loan with no record there)")
    problems: list[str] = Field(description="each divergence the cross-check found")

    model_config = {"json_schema_extra": {"examples": [COMPLETENESS_EXAMPLE]}}


COMPLETENESS_DESCRIPTION = (
    "Is the loan's history complete up to checkpoint `tree_size` (default: the newest "
    "anchored checkpoint whose signed note carries a `loan-index` line, else the newest "
    "signed one; `checkpoint.chosen` says which)? The server cross-checks the loan's chain, "
    "its loan index proof and the root the signed note commits to, as a package's history "
    "annex is checked: `complete` is true only if they agree, else `problems` names the "
    "divergence (a database edit shows here, not as an error). A loan with no record up to "
    "the checkpoint is a 200 with count 0 and the index's non-membership proof. 404: "
    "`tree_size` is not a checkpoint, or no checkpoint has a loan index yet; 422: the "
    "checkpoint's note carries no loan-index line.")


def _bytes_body(media_type: str, description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description, "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}}}}


async def _answer(ctx: Ctx, who: Principal, kind: str, subject: str | None,
                  work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run the verification off the event loop and write the access log either way."""
    try:
        answer = await run_in_threadpool(work)
    except CunzhengError:
        await run_in_threadpool(v.log_call, ctx, who, kind, subject, v.REJECTED)
        raise
    await run_in_threadpool(v.log_call, ctx, who, kind, subject, answer["status"])
    return answer


async def _upload(request: Request, ctx: Ctx, who: Principal, kind: str, limit: int,
                  digest: Callable[[bytes], str]) -> tuple[bytes, str]:
    """The body within `limit`, and the hash the access log names it by."""
    try:
        data = await read_body(request, limit)
    except CunzhengError:
        await run_in_threadpool(v.log_call, ctx, who, kind, None, v.REJECTED)
        raise
    return data, await run_in_threadpool(digest, data)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leaf_hash(data: bytes) -> str:
    return record_leaf_hash(data).hex()


@router.post(
    "/record", response_model=Answer, summary="Verify a record by its exact bytes",
    description="The body is the record's exact bytes (as stored: RFC 8785 JSON). `anchored` "
    "or `logged-not-yet-anchored` when the log holds exactly these bytes; `mismatch` when "
    "the log holds other bytes for the same event or these are a re-serialised copy (the "
    "logged leaf's facts are given); `unknown` otherwise. Limit: "
    f"{v.MAX_RECORD_UPLOAD_BYTES} bytes (413 above).",
    openapi_extra=_bytes_body("application/json", "the record's exact bytes"))
async def verify_record(request: Request, ctx: Ctx, who: Verifier) -> dict[str, Any]:
    data, subject = await _upload(request, ctx, who, "record", v.MAX_RECORD_UPLOAD_BYTES,
                                  _leaf_hash)
    return await _answer(ctx, who, "record", subject, lambda: v.by_record_bytes(ctx, data))


@router.get("/record/{leaf_hash}", response_model=Answer,
            summary="Verify a record by its leaf hash (hex SHA-256(0x00 || bytes))")
async def verify_leaf_hash(leaf_hash: Hex64, ctx: Ctx, who: Verifier) -> dict[str, Any]:
    return await _answer(ctx, who, "leaf-hash", leaf_hash,
                         lambda: v.by_leaf_hash(ctx, bytes.fromhex(leaf_hash)))


@router.post(
    "/document", response_model=DocumentAnswer, summary="Verify a document by uploading it",
    description="The body is the document's bytes; the answer names the leaves whose records "
    f"commit to its SHA-256 (at most {v.MAX_DOCUMENT_LEAVES}) and their status. Limit: "
    f"{v.MAX_DOCUMENT_UPLOAD_BYTES} bytes (413 above).",
    openapi_extra=_bytes_body("application/octet-stream", "the document's bytes"))
async def verify_document_upload(request: Request, ctx: Ctx, who: Verifier) -> dict[str, Any]:
    data, subject = await _upload(request, ctx, who, "document", v.MAX_DOCUMENT_UPLOAD_BYTES,
                                  _sha256)
    return await _answer(ctx, who, "document", subject, lambda: v.by_document_bytes(ctx, data))


@router.get("/document/{sha256}", response_model=DocumentAnswer,
            summary="Verify a document by its SHA-256 (hex)")
async def verify_document_hash(sha256: Hex64, ctx: Ctx, who: Verifier) -> dict[str, Any]:
    return await _answer(ctx, who, "document", sha256, lambda: v.by_document(ctx, sha256))


@router.get("/evidence", response_model=Answer, summary="Verify an evidence id (存证编号)",
            description="`evidence_id` is `<origin>#<leaf index>`; give `leaf_hash` too (as it "
            "is shown beside the id) to have it checked: `mismatch` if it is not that leaf's.")
async def verify_evidence_id(
    ctx: Ctx, who: Verifier,
    evidence_id: Annotated[str, Query(min_length=1, max_length=v.MAX_EVIDENCE_ID_LENGTH,
                                      examples=["cunzheng.local/evidence-log#5"])],
    leaf_hash: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$", examples=[_LEAF])] = None,
) -> dict[str, Any]:
    given = None if leaf_hash is None else bytes.fromhex(leaf_hash)
    subject = evidence_id if leaf_hash is None else f"{evidence_id} {leaf_hash}"
    return await _answer(ctx, who, "evidence-id", subject,
                         lambda: v.by_evidence_id(ctx, evidence_id, given))


@router.post(
    "/package", response_model=PackageAnswer, summary="Verify a whole evidence package (zip)",
    description="The body is the zip. It is checked by the offline verifier itself "
    "(`cunzheng_verify.verify_package`) with the log's own key pinned, the bank's package key "
    "(and any `trust_key`) trusted, and this service's chain when anchoring is on: `report` is "
    "what `offline_command` prints. Limits: "
    f"{v.MAX_PACKAGE_UPLOAD_BYTES} bytes and {v.MAX_PACKAGE_ENTRIES} entries (413 above); "
    "a body that is not a zip is a 400.",
    openapi_extra=_bytes_body("application/zip", "the evidence package"))
async def verify_package(
    request: Request, ctx: Ctx, who: Verifier,
    trust_key: Annotated[list[str] | None, Query(
        max_length=v.MAX_TRUST_KEYS, description="another package key to trust (base64 or "
        "C2SP verifier key); repeatable",
        examples=[["11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]])] = None,
) -> dict[str, Any]:
    data, subject = await _upload(request, ctx, who, "package", v.MAX_PACKAGE_UPLOAD_BYTES,
                                  _sha256)
    return await _answer(ctx, who, "package", subject,
                         lambda: v.verify_package_upload(ctx, data, list(trust_key or [])))


@router.get("/loan/{tenant}/{loan_id}/completeness", response_model=LoanCompleteness,
            summary="Is a loan's history complete up to a checkpoint (places and hashes)",
            description=COMPLETENESS_DESCRIPTION + " Records are places and hashes only: no "
            "event type, no time. The access log names the loan by its index key.")
async def verify_loan_completeness(
    tenant: str, loan_id: str, ctx: Ctx, who: Verifier,
    tree_size: Annotated[int | None, Query(ge=0, le=2**62, examples=[1024],
                                           description="a signed checkpoint's size")] = None,
) -> dict[str, Any]:
    subject = f"loan {loan_key(tenant, loan_id).hex()}" + (
        "" if tree_size is None else f" at {tree_size}")
    return await _answer(ctx, who, "completeness", subject,
                         lambda: completeness_json(ctx, tenant, loan_id, tree_size,
                                                   contents=False))
