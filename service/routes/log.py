"""The log as an auditor reads it: checkpoints, proofs, leaf hashes. Hashes only."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from anchoring.errors import LogError, NotFound
from anchoring.receipts import evidence_id
from anchoring.store import MAX_RANGE, StoredCheckpoint
from cunzheng_verify.notes import verifier_key
from service.deps import Ctx, LogReader

router = APIRouter(prefix="/v1/log", tags=["log"])
NonNegative = Annotated[int, Query(ge=0, le=2**62)]


def anchor_facts(ctx: Ctx, size: int) -> dict[str, Any] | None:
    """The chain facts of the earliest anchor of a tree of at least `size` leaves: the
    anchor of this very checkpoint, or of the later one that covers it."""
    row = ctx.anchors.covering(size)
    if row is None:
        return None
    return {**row.as_dict(), "covers_size": size, "cosigners": [
        {"address": c.witness, "tx_hash": c.tx_hash, "block_number": c.block_number}
        for c in ctx.anchors.cosigners(row.tree_size)]}


def checkpoint_view(cp: StoredCheckpoint, ctx: Ctx | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"tree_size": cp.tree_size, "root": cp.root.hex(), "note": cp.note,
                            "signed_at": cp.signed_at}
    if ctx is not None:
        view["anchor"] = anchor_facts(ctx, cp.tree_size)
    return view


def _checkpoint_for(ctx: Ctx, tree_size: int | None) -> StoredCheckpoint:
    if tree_size is None:
        cp = ctx.store.latest_checkpoint()
        if cp is None:
            raise NotFound("the log has no signed checkpoint yet; one follows within "
                           f"{ctx.settings.checkpoint_interval:g} s of the first event")
        return cp
    return ctx.store.checkpoint(tree_size)


@router.get("/key", summary="The log's origin and public key")
def log_key(ctx: Ctx, who: LogReader) -> dict[str, Any]:
    signer = ctx.log.signer
    return {"origin": ctx.log.origin, "key_name": signer.name,
            "public_key": base64.b64encode(signer.public_key).decode(),
            "key_id": signer.key_id.hex(), "vkey": verifier_key(signer.name, signer.public_key)}


@router.get("/anchors", summary="Recent anchoring submissions and their chain facts")
def recent_anchors(ctx: Ctx, who: LogReader,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    rows = ctx.anchors.recent(limit)
    return {"anchors": [{**r.as_dict(),
                         "cosigners": [c.witness for c in ctx.anchors.cosigners(r.tree_size)]}
                        for r in rows]}


@router.get("/checkpoint", summary="The latest signed checkpoint")
def latest_checkpoint(ctx: Ctx, who: LogReader) -> dict[str, Any]:
    return checkpoint_view(_checkpoint_for(ctx, None), ctx)


@router.get("/checkpoints", summary="Signed checkpoints, newest first")
def list_checkpoints(ctx: Ctx, who: LogReader, limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                     before: NonNegative | None = None) -> dict[str, Any]:
    return {"checkpoints": [checkpoint_view(c, ctx)
                            for c in ctx.store.list_checkpoints(limit, before)]}


@router.get("/checkpoints/{tree_size}", summary="The signed checkpoint of a size")
def checkpoint(tree_size: Annotated[int, Path(ge=0, le=2**62)], ctx: Ctx,
               who: LogReader) -> dict[str, Any]:
    return checkpoint_view(ctx.store.checkpoint(tree_size), ctx)


@router.get("/checkpoints/{tree_size}/note", response_class=PlainTextResponse,
            summary="The signed note of a checkpoint, as text")
def checkpoint_note(tree_size: Annotated[int, Path(ge=0, le=2**62)], ctx: Ctx,
                    who: LogReader) -> PlainTextResponse:
    return PlainTextResponse(ctx.store.checkpoint(tree_size).note)


@router.get(
    "/proofs/inclusion", summary="Inclusion proof by leaf index or leaf hash",
    description="Against the checkpoint of `tree_size` (default: the latest signed one). "
    "Give `leaf_index` or `leaf_hash` (hex).")
def inclusion(ctx: Ctx, who: LogReader, leaf_index: NonNegative | None = None,
              leaf_hash: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
              tree_size: NonNegative | None = None) -> dict[str, Any]:
    if (leaf_index is None) == (leaf_hash is None):
        raise LogError("give exactly one of leaf_index and leaf_hash")
    if leaf_hash is not None:
        leaf = ctx.store.leaf_by_hash(bytes.fromhex(leaf_hash))
    else:
        leaf = ctx.store.leaf(leaf_index or 0)
    cp = _checkpoint_for(ctx, tree_size)
    if leaf.leaf_index >= cp.tree_size:
        raise NotFound(
            f"leaf {leaf.leaf_index} is not in the checkpoint of size {cp.tree_size} yet; "
            f"a checkpoint containing it follows within {ctx.settings.checkpoint_interval:g} s")
    proof = ctx.store.inclusion_proof(leaf.leaf_index, cp.tree_size)
    return {"evidence_id": evidence_id(ctx.log.origin, leaf.leaf_index),
            "leaf_index": leaf.leaf_index, "tree_size": cp.tree_size,
            "leaf_hash": leaf.leaf_hash.hex(), "audit_path": [h.hex() for h in proof],
            "checkpoint": checkpoint_view(cp, ctx)}


@router.get("/proofs/consistency", summary="Consistency proof between two checkpoint sizes")
def consistency(ctx: Ctx, who: LogReader, first: NonNegative,
                second: NonNegative | None = None) -> dict[str, Any]:
    cp2 = _checkpoint_for(ctx, second)
    if first > cp2.tree_size:
        raise LogError(f"first ({first}) must not exceed second ({cp2.tree_size})")
    proof = ctx.store.consistency_proof(first, cp2.tree_size)
    return {"size1": first, "size2": cp2.tree_size, "proof": [h.hex() for h in proof],
            "checkpoint": checkpoint_view(cp2, ctx)}


@router.get("/leaves", summary=f"Leaf hashes in [start, end), at most {MAX_RANGE}")
def leaf_hashes(ctx: Ctx, who: LogReader, start: NonNegative, end: NonNegative) -> dict[str, Any]:
    hashes = ctx.store.leaf_hashes(start, end)
    return {"start": start, "end": end, "leaf_hashes": [h.hex() for h in hashes]}
