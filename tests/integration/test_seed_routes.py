"""Both seeds' clients on the real stack: the second seed's routes
(``GET /store/{store_id}/trigger_report/``, ``POST /store/get_report/``, with and without
the trailing slash) and the first seed's (``/trigger_report``, ``/get_report``) give the
offline report of the same data, one store's or all of them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Stack, assert_same_report, offline_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _fetch(url: str, path: str, report_id: str, timeout_s: float = 120) -> httpx.Response:
    """POST the id to ``path`` until the report is complete; every answer before that is
    ``{"status": "Running"}``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = httpx.post(f"{url}{path}", json={"report_id": report_id}, timeout=30)
        assert got.status_code == 200, got.text
        if got.headers.get("x-report-status") == "Complete":
            assert got.headers["content-type"].startswith("text/csv")
            return got
        assert got.json() == {"status": "Running"}, got.text
        time.sleep(0.05)
    raise AssertionError(f"report {report_id} not complete in {timeout_s} s")


def test_both_seeds_clients_get_the_offline_report(stack: Stack, sample: dict[str, Path]) -> None:
    stack.worker("worker-1")
    url = stack.start_api()
    stack.replay(sample)
    stack.wait_worker_ready("worker-1")
    stack.wait_caught_up()
    full = offline_csv(sample)
    store = full.splitlines()[42].split(",")[0]
    one = offline_csv(sample, "--store-id", store)
    for trigger, get in [
        ("/store/{}/trigger_report/", "/store/get_report/"),
        ("/store/{}/trigger_report", "/store/get_report"),
    ]:
        started = httpx.get(f"{url}{trigger.format(store)}", timeout=30, follow_redirects=False)
        assert started.status_code == 200, started.text
        report_id = started.json()["report_id"]
        got = _fetch(url, get, report_id)
        assert_same_report(got.text, one)
        # The first seed's route answers the very same report, byte for byte.
        first = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=30)
        assert (first.status_code, first.content) == (200, got.content)
        assert first.headers["x-report-time"] == got.headers["x-report-time"]
    # The whole report: the first seed's routes, and its id fetched by the second's.
    assert_same_report(stack.report(), full)
    started = httpx.post(f"{url}/trigger_report", timeout=30)
    assert started.status_code == 200, started.text
    assert_same_report(_fetch(url, "/store/get_report/", started.json()["report_id"]).text, full)
    # An unknown id is a 404 in JSON, whichever form asks.
    for get in ("/store/get_report/", "/store/get_report"):
        unknown = httpx.post(f"{url}{get}", json={"report_id": "N" * 24}, timeout=30)
        assert unknown.status_code == 404, unknown.text
        assert unknown.headers["content-type"] == "application/json"
        assert "no report with id" in unknown.json()["error"]
    refused = httpx.get(f"{url}/store/a,b/trigger_report/", timeout=30)
    assert refused.status_code == 422
    assert "store_id" in refused.json()["error"]
    assert "Traceback" not in stack.log("api")
