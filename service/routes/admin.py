"""Admin: API keys and producer keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from anchoring.producers import ProducerRegistry, check_tenant, parse_public_key
from cunzheng_verify.records import TENANT_ID, format_utc
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


class ProducerPolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    require_signatures: bool = Field(description="refuse events without a valid producer "
                                     "signature by an active key of the tenant")


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


@router.post("/producer-keys", status_code=201, summary="Register a producer's Ed25519 key",
             description="From then on the tenant requires producer signatures, unless its "
             "policy was set explicitly (`PUT /v1/admin/producer-policies/{tenant}`). To rotate, "
             "register the new key, then retire the old one.")
def new_producer_key(body: NewProducerKey, ctx: Ctx, who: Admin) -> dict[str, Any]:
    raw = parse_public_key(body.public_key)
    key = ProducerRegistry(ctx.engine).register(body.tenant, raw, format_utc(ctx.clock()))
    return {"tenant": key.tenant, "key_id": key.key_id}


@router.get("/producer-keys", summary="List producer keys, retired ones too (public keys)")
def get_producer_keys(ctx: Ctx, who: Admin, tenant: Annotated[
        str | None, Query(pattern=TENANT_ID.pattern, examples=["bank-a"])] = None,
                      ) -> dict[str, Any]:
    return {"keys": [k.as_json() for k in ProducerRegistry(ctx.engine).keys(tenant)]}


@router.post("/producer-keys/{tenant}/{key_id}/retire", summary="Retire a producer key",
             description="It signs no new event; events it signed keep verifying with its "
             "public key, which stays listed.")
def retire_producer_key(tenant: Annotated[str, Path(examples=["bank-a"])],
                        key_id: Annotated[str, Path(examples=["9f2c1a7b3d4e5f60"])],
                        ctx: Ctx, who: Admin) -> dict[str, Any]:
    return ProducerRegistry(ctx.engine).retire(tenant, key_id, format_utc(ctx.clock())).as_json()


@router.get("/producer-policies/{tenant}", summary="A tenant's producer-signature policy")
def get_producer_policy(tenant: Annotated[str, Path(examples=["bank-a"])], ctx: Ctx,
                        who: Admin) -> dict[str, Any]:
    return ProducerRegistry(ctx.engine).policy(check_tenant(tenant)).as_json()


@router.put("/producer-policies/{tenant}", summary="Set whether a tenant requires producer "
            "signatures")
def put_producer_policy(tenant: Annotated[str, Path(examples=["bank-a"])],
                        body: ProducerPolicyBody, ctx: Ctx, who: Admin) -> dict[str, Any]:
    return ProducerRegistry(ctx.engine).set_policy(
        tenant, body.require_signatures, format_utc(ctx.clock())).as_json()


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
