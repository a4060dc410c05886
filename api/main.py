"""The FastAPI app: reports over HTTP, backed by the workers through Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.coordinator import Coordinator
from api.reportstore import ReportStore
from api.routes import reports
from streams.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; it connects to Kafka when it starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = ReportStore(settings.reports_dir)
        coordinator = Coordinator(settings, store)
        await coordinator.start()
        app.state.store = store
        app.state.coordinator = coordinator
        try:
            yield
        finally:
            await coordinator.stop()

    app = FastAPI(
        title="storemon",
        summary="Store uptime and downtime over business hours, from a streaming pipeline.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(reports.router)
    return app


def run(port: int, host: str = "127.0.0.1") -> int:
    """The ``storemon api`` command."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
    return 0
