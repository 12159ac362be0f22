"""The FastAPI application: routes, problem+json errors, and the checkpoint publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import docs_page, openapi_examples, pages, problems
from service.context import AppContext, build_context
from service.routes import admin, documents, erasure, events, loans, log, verify
from service.settings import Settings

logger = logging.getLogger("cunzheng")

DESCRIPTION = """Cunzheng (存证): a permissioned evidence ledger for digital small-business lending.

Lending services post loan events and get signed receipts; every event is a leaf of an
RFC 9162 Merkle log whose signed checkpoints can be checked with the standard library.
Authenticate with `Authorization: Bearer <key>` (keys come from `cunzheng keys create`).
Errors are RFC 9457 problem+json.
"""


async def _publish_checkpoints(ctx: AppContext) -> None:
    while True:
        try:
            await run_in_threadpool(ctx.log.sign_checkpoint_if_grown)
        except Exception:  # keep publishing; the next round retries
            logger.exception("checkpoint signing failed")
        await asyncio.sleep(ctx.settings.checkpoint_interval)


def create_app(settings: Settings | None = None, ctx: AppContext | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ctx or build_context(settings)
        app.state.ctx = context
        # concurrent posts share one commit (issue 17); receipts still wait for it
        context.log.start_group_commit()
        publisher = asyncio.create_task(_publish_checkpoints(context))
        scheduler = None
        if settings.anchor_enabled or settings.monitoring_tenant_list:
            from apscheduler.schedulers.background import BackgroundScheduler

            scheduler = BackgroundScheduler(daemon=True)
            if settings.anchor_enabled:
                from service.chain_setup import add_anchoring

                app.state.anchor_runner = add_anchoring(scheduler, context)
            if settings.monitoring_tenant_list:
                from service.monitoring_job import schedule_monitoring

                for tenant in settings.monitoring_tenant_list:
                    schedule_monitoring(scheduler, context, tenant, context.clock,
                                        settings.monitoring_interval)
            scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=True)
                runner = getattr(app.state, "anchor_runner", None)
                if runner is not None:
                    await run_in_threadpool(runner.close)
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            await run_in_threadpool(context.log.stop_group_commit)
            # sign what was accepted, so a clean stop leaves a checkpoint of everything
            await run_in_threadpool(context.log.sign_checkpoint_if_grown)
            if ctx is None:
                context.engine.dispose()

    # /docs is served by docs_page (local Swagger UI assets and a CSP, no CDN); /redoc is off
    app = FastAPI(title="Cunzheng evidence ledger", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    problems.install(app)
    openapi_examples.install(app)
    for module in (events, loans, documents, log, admin, erasure, verify):
        app.include_router(module.router)
    app.include_router(pages.router)  # the web pages under /ui
    app.include_router(docs_page.router(app.title, app.openapi_url or "/openapi.json"))

    @app.get("/healthz", tags=["health"], summary="Liveness and the log's size")
    def healthz() -> dict[str, Any]:
        context: AppContext = app.state.ctx
        size, root = context.store.tree_head()
        latest = context.store.latest_checkpoint()
        return {"status": "ok", "tree_size": size, "root": root.hex(),
                "checkpoint_size": latest.tree_size if latest else 0}

    return app


def app_from_env() -> FastAPI:
    """The app with settings from the environment alone: the import string each uvicorn
    worker process loads (`cunzheng serve --workers N`, `uvicorn --factory`)."""
    return create_app(Settings())
