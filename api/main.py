"""The FastAPI app: reports, ingestion and operations over HTTP, backed by Kafka."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.alerts import AlertDelivery, AlertFeed
from api.coordinator import Coordinator, KafkaUnavailableError
from api.errors import SafeJSONResponse
from api.limits import BodyLimits
from api.metrics import ApiMetrics
from api.monitor import Monitor
from api.reportstore import ReportStore
from api.routes import alerts, ingest, ops, page, reports, session, stores
from api.schemas import extend_openapi, publish_error_model
from api.security import Access, BindError, check_bind
from api.tasks import Tasks
from streams.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def _schedule(coordinator: Coordinator, every_s: float) -> None:
    """Take a report every ``every_s`` seconds (STOREMON_REPORT_EVERY_S)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            record = await coordinator.trigger(None, None, scheduled=True)
        except KafkaUnavailableError as exc:
            log.warning("scheduled report skipped: %s", exc)
            continue
        log.info("scheduled report %s", record["report_id"])


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API. It starts whether Kafka answers or not, unready until it does; its Kafka
    clients live in supervised tasks that connect, and connect again, on their own."""
    settings = settings or get_settings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = ReportStore(settings.reports_dir, settings.report_retention)
        abandoned = store.fail_abandoned()
        if abandoned:
            log.warning("marked %d reports left running by a previous API as failed", abandoned)
        coordinator = Coordinator(
            settings, store, lambda status, s: metrics.reports.labels(status).observe(s)
        )
        monitor = Monitor(settings)
        tasks = Tasks()
        kafka = tasks.start("report-coordinator", coordinator.run)
        coordinator.on_connected = kafka.running
        watch = tasks.start("monitor", monitor.run)
        monitor.on_connected = watch.running
        feed, delivery = AlertFeed(settings), AlertDelivery(settings)
        feed.on_connected = tasks.start("alert-feed", feed.run).running
        if delivery.wanted:
            delivery.on_connected = tasks.start("alert-delivery", delivery.run).running
        if settings.report_every_s:
            tasks.start(
                "scheduled-reports", lambda: _schedule(coordinator, settings.report_every_s or 0)
            ).running()
        metrics.registry.register(monitor)
        metrics.registry.register(feed)
        metrics.watch_tasks(tasks, lambda: coordinator.unreadable_parts)
        app.state.store, app.state.coordinator, app.state.monitor = store, coordinator, monitor
        app.state.metrics, app.state.tasks, app.state.alerts = metrics, tasks, feed
        try:
            yield
        finally:
            metrics.registry.unregister(monitor)
            metrics.registry.unregister(feed)
            await tasks.stop()
            await coordinator.stop()

    app = FastAPI(
        title="storemon",
        summary="Store uptime and downtime over business hours, from a streaming pipeline.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.access = Access(settings)
    errors.install(app)
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes)
    metrics.install(app)
    for module in (reports, ingest, stores, alerts, ops, page, session):
        app.include_router(module.router)
    ingest.publish_limits(app, settings.max_polls_per_request)
    extend_openapi(app, publish_error_model)
    return app


def run(port: int, host: str = "127.0.0.1") -> int:
    """The ``storemon api`` command; refuses (exit 2) to listen beyond loopback without tokens."""
    import uvicorn

    settings = get_settings()
    try:
        check_bind(host, settings.auth_file)
    except BindError as exc:
        print(f"storemon api: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0
