"""RFC 9457 problem+json: the one place where errors become HTTP status codes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from anchoring.errors import (
    AnchoringError,
    Conflict,
    IntegrityError,
    LogError,
    MerkleError,
    NotFound,
    ProducerSignatureError,
    RecordError,
    SignatureError,
)
from anchoring.store import BatchItemError
from cunzheng_verify.errors import CunzhengError
from cunzheng_verify.records import MalformedJSON, TooLarge
from lending_core.errors import EventValidationError, LendingError, LoanStateError
from service.errors import AuthError, ForbiddenError, MonitoringError, ServiceError

PROBLEM = "application/problem+json"
_STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (TooLarge, 413, "too-large"),
    (MalformedJSON, 400, "malformed-body"),
    (EventValidationError, 422, "invalid-event"),
    (LoanStateError, 422, "impossible-event"),
    (RecordError, 422, "invalid-event"),
    (ProducerSignatureError, 422, "producer-signature-refused"),
    (SignatureError, 422, "bad-signature"),
    (MerkleError, 400, "bad-proof-request"),
    (LogError, 400, "bad-request"),
    (LendingError, 422, "invalid-lending-data"),
    # the monitoring job's refusal kept the lending status it had before it was a ServiceError
    (MonitoringError, 422, "invalid-lending-data"),
    # stored data failed a check (found by fsck too): the server's fault, not the request's
    (IntegrityError, 500, "stored-data-damaged"),
    (AnchoringError, 400, "bad-request"),
    (ServiceError, 400, "bad-request"),
    (CunzhengError, 400, "bad-request"),
]


def problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://cunzheng.dev/problems/{kind}", "title": kind.replace("-", " "),
            "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _extra(exc: Exception) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if isinstance(exc, EventValidationError):
        extra["errors"] = exc.errors
    if isinstance(exc, LoanStateError | ProducerSignatureError):
        extra["reason_code"] = exc.code
    if isinstance(exc, RecordError) and exc.field:
        extra["errors"] = [{"field": exc.field, "message": str(exc)}]
    if isinstance(exc, Conflict):
        extra.update(existing_hash=exc.existing_hash, new_hash=exc.new_hash)
    return extra


def for_error(exc: Exception) -> JSONResponse:
    item = None
    inner = exc
    if isinstance(exc, BatchItemError):
        item, inner = exc.index, exc.error
    for cls, status, kind in _STATUS:
        if isinstance(inner, cls):
            extra = _extra(inner)
            if item is not None:
                extra["item"] = item
            return problem(status, kind, str(exc), **extra)
    raise exc


def install(app: FastAPI) -> None:
    @app.exception_handler(CunzhengError)
    async def _domain(_request: Request, exc: CunzhengError) -> JSONResponse:
        return for_error(exc)

    @app.exception_handler(OperationalError)
    async def _busy(_request: Request, exc: OperationalError) -> JSONResponse:
        text = str(exc.orig) if exc.orig is not None else str(exc)
        if "locked" in text or "could not serialize" in text or "deadlock" in text:
            response = problem(503, "busy",
                               "the database is busy; retry shortly (nothing was written)")
            response.headers["Retry-After"] = "1"
            return response
        raise exc

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses NUL in any text parameter (SQLite takes it): an id, tenant or
        # key from the URL or a header that holds one can match nothing
        text = str(exc.orig) if exc.orig is not None else str(exc)
        if "NUL" in text:
            return problem(400, "malformed-request", "a value in the request (path, query or "
                           "header) contains a NUL character (0x00); no id, key or name holds one")
        raise exc

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": "?", "message": "invalid request"}
        return problem(422, "invalid-request", f"{first['field']}: {first['message']}",
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http-error", str(exc.detail))
