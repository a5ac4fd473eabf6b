"""The FastAPI application. Heavy objects are opened in the lifespan, never at import."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api.generation_queue import GenerationQueue
from api.enrichment import EnrichmentRunner
from api.jobs import JobRunner, JobStore
from api.keys import KeyStore
from api.limits import BodySizeLimit, RateLimiter
from api.metrics import Metrics, MetricsMiddleware
from api.problems import install_problem_handlers
from api.routers import ask, chat, documents, entities, health, jobs, meetings, metrics, search
from api.routers import keys as key_admin
from api.service import LoreService
from api.web import install_web
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Answers from your company's documents and meetings, with citations.

Every `/v1` route and `/metrics` take an API key (`Authorization: Bearer <key>` or
`X-API-Key: <key>`), created with `lore keys create --scopes read,ingest,admin`.
Scopes: `read` (search, ask, list documents and jobs), `ingest` (upload, delete),
`admin` (everything, and `/metrics`). A key limited to some collections only ever
retrieves from those. Errors are `application/problem+json` (RFC 9457).
"""


def create_app(settings: Settings | None = None, service: LoreService | None = None) -> FastAPI:
    """An app over ``service`` (opened and closed by the caller) or one it opens from ``settings``."""
    settings = settings or (service.settings if service is not None else get_settings())
    app_metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = service is None
        lore = service or LoreService.from_settings(settings)
        keys = KeyStore(settings.api_db_path)
        job_store = JobStore(settings.api_db_path)
        if owned:
            # Opening loads models and may start the graph server: it runs in the background, so the
            # process answers /healthz at once and /readyz says when the knowledge base is ready.
            opening = lore.open_in_background()
        keys.open()
        job_store.open()
        runner = JobRunner(lore, job_store, on_finish=lambda job, report: _record(job_store, job.id, report))
        enrichment = EnrichmentRunner(lore)
        app.state.settings = settings
        app.state.service = lore
        app.state.keys = keys
        app.state.jobs = job_store
        app.state.runner = runner
        app.state.enrichment = enrichment
        app.state.limiter = RateLimiter(settings.rate_limit)
        app.state.generation_queue = GenerationQueue(settings.max_concurrent_generations, settings.max_waiting_generations)
        app.state.metrics = app_metrics
        app_metrics.track_index(lambda: len(lore.vectors) if lore.ready else 0, lambda: lore.metadata.document_count())
        if settings.auth_required and keys.active_count() == 0:
            log.warning("no API keys exist: every /v1 request gets 401. Create one with "
                        "`lore keys create --name admin --scopes read,ingest,admin`.")
        resumed = runner.resume()
        if resumed:
            log.info("resuming %d unfinished upload job(s)", resumed)
        try:
            yield
        finally:
            # Let a running ingest finish (queued jobs resume at the next start), then close the stores.
            await run_in_threadpool(runner.shutdown)
            await run_in_threadpool(enrichment.shutdown)
            job_store.close()
            keys.close()
            if owned:
                await run_in_threadpool(opening.join)  # never close the stores under a loading thread
                await run_in_threadpool(lore.close)

    def _record(store: JobStore, job_id: str, report: dict | None) -> None:
        job = store.get(job_id)
        app_metrics.record_job(job.status if job else "failed", report)

    app = FastAPI(
        title="Lore",
        version="0.1.0",
        summary="Answers from your company's documents and meetings, with citations.",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_web with local assets: the defaults load them from a CDN
        redoc_url=None,
    )
    install_problem_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(BodySizeLimit, max_request_bytes=settings.max_request_bytes, max_upload_bytes=settings.max_upload_bytes)
    # Outermost, so rejected and failed requests are counted too.
    app.add_middleware(MetricsMiddleware, metrics=app_metrics)
    # Each router carries its full prefix, so the route template seen by the metrics is the public path.
    for router in (health.router, metrics.router, search.router, ask.router, chat.router, documents.router, jobs.router,
                   entities.router, meetings.router, key_admin.router):
        app.include_router(router)
    install_web(app)
    return app
