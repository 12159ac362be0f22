"""Admin: API keys and producer keys."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from anchoring.errors import Conflict, RecordError
from anchoring.log import producer_key_id
from anchoring.records import format_utc
from anchoring.tables import producer_keys
from service import verification
from service.auth import Role, create_key, list_keys, revoke_key
from service.deps import Admin, Ctx
from service.pages.session import close_sessions_of_key
from service.verification import MAX_ACCESS_LOG_PAGE

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    tenant: str | None = Field(None, examples=["bank-a"])
    label: str = Field("", max_length=200, examples=["loan origination service"])


class NewProducerKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(examples=["bank-a"])
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")


@router.post("/keys", status_code=201, summary="Create an API key (shown once)")
def new_key(body: NewKey, ctx: Ctx, who: Admin) -> dict[str, Any]:
    key, principal = create_key(ctx.engine, body.role, body.tenant, body.label,
                                format_utc(ctx.clock()))
    return {"key": key, "key_id": principal.key_id, "role": principal.role.value,
            "tenant": principal.tenant}


@router.get("/keys", summary="List API keys (never the keys themselves)")
def get_keys(ctx: Ctx, who: Admin) -> dict[str, Any]:
    return {"keys": list_keys(ctx.engine)}


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
def delete_key(key_id: Annotated[str, Path(examples=["72d9c94a5498230f"])], ctx: Ctx,
               who: Admin) -> None:
    revoke_key(ctx.engine, key_id, format_utc(ctx.clock()))
    close_sessions_of_key(ctx.engine, key_id)  # its /ui sessions end now too


@router.post("/producer-keys", status_code=201, summary="Register a producer's Ed25519 key")
def new_producer_key(body: NewProducerKey, ctx: Ctx, who: Admin) -> dict[str, Any]:
    try:
        raw = base64.b64decode(body.public_key, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise RecordError("public_key is not base64", field="public_key") from None
    if len(raw) != 32:
        raise RecordError(f"public_key must be 32 bytes, got {len(raw)}", field="public_key")
    kid = producer_key_id(raw)
    try:
        with ctx.engine.begin() as conn:
            conn.execute(insert(producer_keys).values(tenant=body.tenant, key_id=kid,
                                                      public_key=raw, created_at=format_utc(ctx.clock())))
    except SAIntegrityError:
        raise Conflict(f"producer key {kid} is already registered for {body.tenant}",
                       existing_hash=kid, new_hash=kid) from None
    return {"tenant": body.tenant, "key_id": kid}


@router.get("/access-log", summary="The verification API's access log, newest first",
            description="Who (key id, role) asked what (kind and hash or evidence id, never "
            "uploaded content) when, and the answer's status (`rejected` for refused input). "
            "Page with `before=<id of the last entry seen>`.",
            responses={200: {"content": {"application/json": {"example": {"entries": [{
                "id": 42, "at": "2026-03-02T01:31:07Z", "key_id": "5f1c0a9e3b7d2c11",
                "role": "verifier", "kind": "evidence-id",
                "subject": "cunzheng.local/evidence-log#5", "status": "anchored"}],
                "next_before": 42}}}}})
def access_log(ctx: Ctx, who: Admin,
               limit: Annotated[int, Query(ge=1, le=MAX_ACCESS_LOG_PAGE)] = 100,
               before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> dict[str, Any]:
    entries = verification.access_log(ctx, limit, before)
    return {"entries": entries, "next_before": entries[-1]["id"] if len(entries) == limit else None}
