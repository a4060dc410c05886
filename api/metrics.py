"""Prometheus metrics of the API: HTTP requests and report durations (plus the monitor's)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.tasks import Tasks

REPORT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ApiMetrics:
    """The API's own metrics, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests answered", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
            registry=self.registry,
        )  # fmt: skip
        self.reports = Histogram(
            "storemon_report_duration_seconds", "Trigger to complete, per report", ["status"],
            buckets=REPORT_BUCKETS, registry=self.registry,
        )  # fmt: skip

    def watch_tasks(self, tasks: Tasks, unreadable_parts: Callable[[], int]) -> None:
        """Export each supervised task's state and crash count, and the report parts the
        coordinator skipped as malformed."""
        self.registry.register(_TaskCollector(tasks, unreadable_parts))

    def install(self, app: FastAPI) -> None:
        """Count and time every request by its route template (not its raw path)."""
        app.add_middleware(_Measure, metrics=self)


class _Measure:
    """A plain ASGI middleware (``BaseHTTPMiddleware`` costs a task and a stream per
    request): it notes the status sent and, when the response is done, counts it."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, name, str(status)).inc()
            self.metrics.latency.labels(method, name).observe(time.perf_counter() - started)


class _TaskCollector(Collector):
    def __init__(self, tasks: Tasks, unreadable_parts: Callable[[], int]) -> None:
        self.tasks = tasks
        self.unreadable_parts = unreadable_parts

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("storemon_task_up", "1 while the API task runs", labels=["task"])
        crashes = CounterMetricFamily(
            "storemon_task_crashes", "Times an API task crashed and was restarted", labels=["task"]
        )
        for task in self.tasks.all.values():
            up.add_metric([task.name], 1.0 if task.up else 0.0)
            crashes.add_metric([task.name], task.crashes)
        parts = CounterMetricFamily(
            "storemon_unreadable_report_parts", "Report parts skipped as malformed"
        )
        parts.add_metric([], self.unreadable_parts())
        yield from (up, crashes, parts)
