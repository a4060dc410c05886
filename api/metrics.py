"""Prometheus metrics of the API: HTTP requests and report durations (plus the monitor's)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

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

    def install(self, app: FastAPI) -> None:
        """Count and time every request by its route template (not its raw path)."""

        @app.middleware("http")
        async def measure(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            started = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.requests.labels(request.method, name, str(response.status_code)).inc()
            self.latency.labels(request.method, name).observe(time.perf_counter() - started)
            return response
