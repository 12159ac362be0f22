"""Baseline server for `bench.ingest`: the same routes as the ledger, doing only the HTTP
part (read the body, parse the JSON, answer with a small JSON), served by the same uvicorn.

Run by `bench.ingest` as `python -m uvicorn bench.echo_app:app`; not a part of the product.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/events/batch")
async def batch(request: Request) -> JSONResponse:
    body: Any = json.loads(await request.body())
    return JSONResponse({"received": len(body["events"])}, status_code=201)


@app.post("/v1/events")
async def single(request: Request) -> JSONResponse:
    body: Any = json.loads(await request.body())
    return JSONResponse({"received": body["event_id"]}, status_code=201)
