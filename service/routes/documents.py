"""Documents: upload by SHA-256 (the server checks the hash), read back."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from anchoring.errors import RecordError
from cunzheng_verify.records import SHA256_HEX, format_utc
from service.auth import Role
from service.deps import Ctx, Lender, LenderOrLegal, read_body

router = APIRouter(prefix="/v1/documents", tags=["documents"])
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


def _check_hash(sha256: str) -> None:
    if not SHA256_HEX.fullmatch(sha256):
        raise RecordError(f"{sha256[:80]!r} is not 64 lowercase hex digits", field="sha256")


@router.put(
    "/{sha256}", status_code=201, summary="Upload a document under its SHA-256",
    description="The body is the document's bytes; Content-Type is stored with it. The server "
    "recomputes the SHA-256 and refuses a mismatch (422). 201 the first time your tenant "
    "uploads a document, 200 when your tenant uploads it again; whether another tenant holds "
    "the same bytes never shows. An event may cite only documents its own tenant uploaded.",
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}},
)
async def put_document(sha256: str, request: Request, ctx: Ctx, who: Lender) -> JSONResponse:
    _check_hash(sha256)
    media_type = request.headers.get("content-type",
                                     "application/octet-stream").split(";")[0].strip().lower()
    if not MEDIA_TYPE.fullmatch(media_type):
        raise RecordError(f"Content-Type {media_type[:80]!r} is not a media type",
                          field="content-type")
    data = await read_body(request, ctx.settings.max_document_bytes)
    # up to 50 MiB hashed, sealed and written: in a worker thread, so the event loop keeps
    # answering (/healthz waited ~1 s on the loop; issue 10)
    actual = await run_in_threadpool(lambda: hashlib.sha256(data).hexdigest())
    if actual != sha256:
        raise RecordError(f"document SHA-256 is {actual}, the URL says {sha256}", field="sha256")
    created = await run_in_threadpool(ctx.store.put_document, who.tenant or "", sha256,
                                      media_type, data, format_utc(ctx.clock()))
    body: dict[str, Any] = {"sha256": sha256, "size": len(data), "media_type": media_type}
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("/{sha256}", summary="Download a document (lenders: their own uploads)")
def get_document(sha256: str, ctx: Ctx, who: LenderOrLegal) -> Response:
    _check_hash(sha256)
    media_type, content = ctx.store.document(sha256,
                                             who.tenant if who.role is Role.LENDER else None)
    if content is None:
        return JSONResponse({"sha256": sha256, "erased": True}, status_code=410)
    return Response(content, media_type=media_type)
