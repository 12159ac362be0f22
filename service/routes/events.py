"""Ingestion: post events (one or a batch) and read them back."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from anchoring.errors import NotFound, RecordError
from anchoring.log import MAX_BATCH, Submitted
from anchoring.store import BatchItemError, StoredLeaf
from cunzheng_verify.records import parse_json
from lending_core.events import example_payload
from service.auth import Role
from service.deps import Ctx, Lender, LenderOrLegal, json_body, read_body
from service.lending import LENIENT, STRICT, LendingPolicy
from service.offload import OFFLOAD_BYTES, parse_body
from service.routes.log import anchor_facts

router = APIRouter(prefix="/v1", tags=["events"])

EXAMPLE_EVENT = {
    "event_id": "disb-2026-000123",
    "loan_id": "HQ-2026-000123",
    "type": "disbursement",
    "occurred_at": "2026-03-02T09:30:00+08:00",
    "payload": example_payload("disbursement"),
    "documents": [],
    "source": {"system": "core-banking", "ref": "TXN-88231"},
}
HANDLING_DOC = (
    " Every authentic, well-formed event is recorded; one that is only inconsistent with the "
    "loan's other events (a repayment before its contract arrived, a second disbursement "
    "beyond the contract) becomes a finding on the loan (`GET /v1/loans/{loan_id}/findings`). "
    "Send `Prefer: handling=strict` (RFC 7240) to have such an event refused with a 422 and "
    "its finding's code instead, and nothing written."
)
RECEIPT_DOC = (
    "Receipt: evidence id, leaf index, leaf hash, received_at and the log's Ed25519 signature "
    "over the RFC 8785 form of those fields (see README, Receipts)."
)


def _event_view(leaf: StoredLeaf, include_content: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "leaf_index": leaf.leaf_index, "leaf_hash": leaf.leaf_hash.hex(), "tenant": leaf.tenant,
        "event_id": leaf.event_id, "loan_id": leaf.loan_id, "type": leaf.event_type,
        "received_at": leaf.received_at,
    }
    if include_content:
        out["erased"] = leaf.record is None
        out["record"] = None if leaf.record is None else leaf.record.decode()
    return out


def handling(request: Request) -> tuple[LendingPolicy, dict[str, str]]:
    """The loan checks the request prefers (RFC 7240 `handling`), and the answer's header."""
    for value in request.headers.getlist("prefer"):
        for pref in value.split(","):
            name, _, arg = pref.split(";")[0].strip().partition("=")
            if name.strip().lower() == "handling" and arg.strip().strip('"').lower() == "strict":
                return STRICT, {"Preference-Applied": "handling=strict"}
    return LENIENT, {}


@router.post(
    "/events", status_code=201, summary="Post one loan event; get a signed receipt",
    description="Idempotent on (tenant, event_id): the same event again returns the original "
    "receipt with status 200; the same id with other content is a 409 naming both hashes. "
    + RECEIPT_DOC + HANDLING_DOC,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}, "example": EXAMPLE_EVENT}}}},
)
async def post_event(request: Request, ctx: Ctx, who: Lender) -> JSONResponse:
    data = await read_body(request, ctx.settings.max_body_bytes)
    policy, headers = handling(request)
    # a large body is parsed in a process of its own (service.offload): C's parser keeps the
    # interpreter lock, and the event loop must keep answering
    parsed = (await parse_body(data, ctx.settings.max_body_bytes)
              if len(data) >= OFFLOAD_BYTES else None)

    def parse_and_submit() -> Submitted:
        # one worker-thread hop for both: under many clients each hop costs
        body = parsed if parsed is not None else parse_json(
            data, max_bytes=ctx.settings.max_body_bytes)
        if isinstance(body, list):
            raise RecordError("POST /v1/events takes one event object; use /v1/events/batch "
                              "for a list")
        if not isinstance(body, dict):
            raise RecordError(f"an event must be a JSON object, got {type(body).__name__}")
        try:
            [done] = ctx.log.submit(who.tenant or "", [body], policy=policy)
        except BatchItemError as exc:  # one event: report its error without batch wording
            raise exc.error from None
        return done

    done = await run_in_threadpool(parse_and_submit)
    return JSONResponse(done.receipt, status_code=200 if done.replay else 201, headers=headers)


@router.post(
    "/events/batch", status_code=201, summary=f"Post up to {MAX_BATCH} events atomically",
    description="Body: `{\"events\": [...]}`. All events are accepted or none; a refused "
    "event is named by its position (`item`). Each receipt carries `replay: true` when that "
    "event had been accepted before. " + RECEIPT_DOC + HANDLING_DOC,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}, "example": {"events": [EXAMPLE_EVENT]}}}}},
)
async def post_batch(request: Request, ctx: Ctx, who: Lender) -> JSONResponse:
    body = await json_body(request, ctx)
    if (not isinstance(body, dict) or set(body) != {"events"}
            or not isinstance(body["events"], list)):
        raise RecordError('a batch is {"events": [ ... ]}', field="events")
    policy, headers = handling(request)
    done = await run_in_threadpool(
        lambda: ctx.log.submit(who.tenant or "", body["events"], policy=policy))
    return JSONResponse({"receipts": [{**d.receipt, "replay": d.replay} for d in done]},
                        status_code=201, headers=headers)


@router.get("/events/{event_id}", summary="Read one of your tenant's events with its receipt")
def get_event(event_id: str, ctx: Ctx, who: Lender) -> dict[str, Any]:
    leaf = ctx.store.event(who.tenant or "", event_id)
    return {**_event_view(leaf, True), "receipt": ctx.log.receipt_for_leaf(leaf.leaf_index),
            "anchor": anchor_facts(ctx, leaf.leaf_index + 1)}


@router.get("/records/{leaf_index}",
            summary="Read a record by leaf index (legal; lenders: own tenant)")
def get_record(leaf_index: Annotated[int, Path(ge=0, le=2**62)], ctx: Ctx,
               who: LenderOrLegal) -> dict[str, Any]:
    leaf = ctx.store.leaf(leaf_index)
    if who.role is Role.LENDER and leaf.tenant != who.tenant:
        raise NotFound(f"no leaf at index {leaf_index}")
    return {**_event_view(leaf, True), "receipt": ctx.log.receipt_for_leaf(leaf_index),
            "anchor": anchor_facts(ctx, leaf_index + 1)}


@router.get("/loans/{loan_id}/events", summary="A loan's events in log order")
def loan_events(loan_id: str, ctx: Ctx, who: LenderOrLegal,
                tenant: str | None = None) -> dict[str, Any]:
    if who.role is Role.LENDER:
        tenant = who.tenant
    if not tenant:
        raise RecordError("tenant is required for this role (?tenant=...)", field="tenant")
    leaves = ctx.store.loan_events(tenant, loan_id)
    if not leaves:
        raise NotFound(f"no events for loan {loan_id!r} of tenant {tenant!r}")
    return {"tenant": tenant, "loan_id": loan_id,
            "events": [{**_event_view(lf, True), "content": None if lf.record is None
                        else json.loads(lf.record)} for lf in leaves]}


