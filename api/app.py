"""The FastAPI application. Heavy objects are opened in the lifespan, never at import."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.routers import ask, health, meetings, search
from api.service import LoreService
from core.settings import Settings, get_settings


def create_app(settings: Settings | None = None, service: LoreService | None = None) -> FastAPI:
    """An app over ``service`` (opened and closed by the caller) or one it opens from ``settings``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if service is not None:
            app.state.service = service
            yield
            return
        owned = LoreService(settings or get_settings())
        # Opening loads models and may start the graph server: keep it off the event loop.
        await run_in_threadpool(owned.open)
        app.state.service = owned
        try:
            yield
        finally:
            await run_in_threadpool(owned.close)

    app = FastAPI(
        title="Lore",
        version="0.1.0",
        summary="Answers from your company's documents and meetings, with citations.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(search.router, prefix="/v1")
    app.include_router(ask.router, prefix="/v1")
    app.include_router(meetings.router, prefix="/v1")
    return app
