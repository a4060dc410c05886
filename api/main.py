"""The FastAPI app: reports, ingestion and operations over HTTP, backed by Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.coordinator import Coordinator
from api.metrics import ApiMetrics
from api.monitor import Monitor
from api.reportstore import ReportStore
from api.routes import ingest, ops, page, reports
from streams.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def _schedule(coordinator: Coordinator, every_s: float) -> None:
    """Take a report every ``every_s`` seconds (STOREMON_REPORT_EVERY_S)."""
    while True:
        await asyncio.sleep(every_s)
        record = await coordinator.trigger(None, None, scheduled=True)
        log.info("scheduled report %s", record["report_id"])


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API; it connects to Kafka when it starts."""
    settings = settings or get_settings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = ReportStore(settings.reports_dir)
        coordinator = Coordinator(
            settings, store, lambda status, s: metrics.reports.labels(status).observe(s)
        )
        await coordinator.start()
        monitor = Monitor(settings)
        await monitor.start()
        metrics.registry.register(monitor)
        app.state.store, app.state.coordinator, app.state.monitor = store, coordinator, monitor
        app.state.metrics = metrics
        scheduler = (
            asyncio.create_task(_schedule(coordinator, settings.report_every_s))
            if settings.report_every_s
            else None
        )
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            metrics.registry.unregister(monitor)
            await monitor.stop()
            await coordinator.stop()

    app = FastAPI(
        title="storemon",
        summary="Store uptime and downtime over business hours, from a streaming pipeline.",
        lifespan=lifespan,
    )
    errors.install(app)
    metrics.install(app)
    for module in (reports, ingest, ops, page):
        app.include_router(module.router)
    return app


def run(port: int, host: str = "127.0.0.1") -> int:
    """The ``storemon api`` command."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
    return 0
