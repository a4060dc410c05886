"""The FastAPI app: reports, ingestion and operations over HTTP, backed by Kafka."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.alerts import AlertDelivery, AlertFeed
from api.coordinator import Coordinator
from api.errors import SafeJSONResponse
from api.limits import BodyLimits
from api.metrics import ApiMetrics
from api.monitor import Monitor
from api.reportfiles import ReportFiles, describe, report_files
from api.reportlog import ReportLog
from api.reportstore import ReportStore
from api.routes import alerts, ingest, ops, page, reports, session, stores
from api.scheduler import Scheduler, keep
from api.schemas import extend_openapi, publish_error_model
from api.security import Access, BindError, check_bind
from api.tasks import Tasks
from streams.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def _files(files: ReportFiles, up: Callable[[], None]) -> None:
    """Connect to the report files' store (supervised: tried again until it answers)."""
    await files.stop()
    await files.start()
    up()
    await asyncio.Event().wait()  # up for good; stopped with the API


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API. It starts whether Kafka answers or not, unready until it does; its Kafka
    clients live in supervised tasks that connect, and connect again, on their own."""
    settings = settings or get_settings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        files = report_files(settings)
        store = ReportStore(files, settings.report_retention)
        log.info("API instance %s; report files in %s", store.owner, describe(settings))
        records = ReportLog(settings, store)
        store.publish, store.sync = records.put, records.sync
        coordinator = Coordinator(
            settings, store, lambda status, s: metrics.reports.labels(status).observe(s)
        )
        monitor = Monitor(settings)
        tasks = Tasks()
        reach = tasks.start("report-files", lambda: _files(files, reach.running))
        records.on_connected = tasks.start("report-records", records.run).running
        tasks.start("report-keeper", lambda: keep(store, coordinator, settings)).running()
        kafka = tasks.start("report-coordinator", coordinator.run)
        coordinator.on_connected = kafka.running
        watch = tasks.start("monitor", monitor.run)
        monitor.on_connected = watch.running
        feed, delivery = AlertFeed(settings), AlertDelivery(settings)
        feed.on_connected = tasks.start("alert-feed", feed.run).running
        if delivery.wanted:
            delivery.on_connected = tasks.start("alert-delivery", delivery.run).running
        if settings.report_every_s:
            scheduler = Scheduler(settings, coordinator, store)
            scheduler.on_connected = tasks.start("scheduled-reports", scheduler.run).running
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
            await coordinator.stop()  # its running reports are marked failed, then
            await tasks.stop()
            await files.stop()

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
    # One format, with the time, for the app's own records (which instance this is, reports
    # scheduled or failed) and uvicorn's (its own configuration is not used); the Kafka
    # client's chatter only from warnings up.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", log_config=None)
    return 0
