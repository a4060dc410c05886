"""Producers and operators on the real stack: HTTP ingestion, metrics, readiness,
scheduled reports and the operator page."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.lag import measure
from tests.integration.conftest import Stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _wait(predicate: Any, timeout_s: float = 60.0, every_s: float = 0.5) -> Any:
    return wait_until(predicate, timeout_s, every_s)


def _metric(url: str, name: str, **labels: str) -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def _lag(url: str, group: str) -> float | None:
    return _metric(url, "kafka_consumergroup_group_sum_lag", group=group)


def _polls_end(stack: Stack) -> int:
    polls = f"{stack.settings.topic_prefix}.polls"
    return sum(p.end for p in asyncio.run(measure(stack.settings)) if p.topic == polls)


def test_polls_over_http_all_or_nothing_and_in_the_next_report(stack: Stack) -> None:
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    good = [
        {"store_id": "http-1", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"},
        {"store_id": "http-1", "status": "inactive", "timestamp_utc": "2023-01-25 11:00:00 UTC"},
        {"store_id": " 77 ", "status": "ACTIVE", "timestamp_utc": "2023-01-25T11:30:00+00:00"},
    ]
    bad = [*good, {"store_id": "http-2", "status": "sleepy", "timestamp_utc": "2023-01-25T10:00:00Z"},
           {"store_id": "http-3", "status": "active"}]  # fmt: skip
    refused = httpx.post(f"{url}/polls", json=bad, timeout=10)
    assert refused.status_code == 422
    body = refused.json()
    assert "nothing was written" in body["error"]
    assert [i["index"] for i in body["items"]] == [3, 4]
    assert "unknown status 'sleepy'" in body["items"][0]["reason"]
    assert "timestamp_utc" in body["items"][1]["reason"]
    assert _polls_end(stack) == 0  # nothing of the refused request was written

    accepted = httpx.post(f"{url}/polls", json=good, timeout=10)
    assert accepted.status_code == 202
    assert accepted.json() == {"accepted": 3}
    single = httpx.post(f"{url}/polls", json=good[0], timeout=10)  # the same poll again: harmless
    assert single.status_code == 202
    hours = httpx.put(
        f"{url}/stores/http-1/hours",
        json={"shifts": [{"day": 2, "start": "09:00", "end": "17:00"}]},
        timeout=10,
    )
    assert hours.status_code == 202
    zone = httpx.put(
        f"{url}/stores/http-1/timezone", json={"timezone": "America/New_York"}, timeout=10
    )
    assert zone.status_code == 202
    unknown = httpx.put(
        f"{url}/stores/http-1/timezone", json={"timezone": "Atlantis/Capital"}, timeout=10
    )
    assert unknown.status_code == 422
    assert "IANA" in unknown.json()["error"]
    stack.wait_caught_up()
    report = stack.report()
    rows = {line.split(",")[0]: line for line in report.splitlines()[1:]}
    assert set(rows) == {"77", "http-1"}
    # Open Wednesdays 09:00–17:00 New York (14:00–22:00 UTC): both polls of http-1 (10:00 and
    # 11:00 UTC on Wednesday 2023-01-25) fall outside, so it has no observation: zeros.
    assert rows["http-1"] == "http-1,0.00,0.00,0.00,0.00,0.00,0.00"
    assert rows["77"] == "77,60.00,24.00,168.00,0.00,0.00,0.00"


def test_oversize_bodies_are_refused_before_they_are_read(stack: Stack) -> None:
    url = stack.start_api()
    limit = stack.settings.max_body_bytes
    declared = httpx.post(f"{url}/polls", content=b"[" + b" " * (limit + 10) + b"]",
                          headers={"content-type": "application/json"}, timeout=30)  # fmt: skip
    assert declared.status_code == 413
    assert "at most" in declared.json()["error"]

    def chunks() -> Any:  # no Content-Length: the server counts as it reads
        yield b"["
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536
        yield b"]"

    streamed = httpx.post(
        f"{url}/polls", content=chunks(), headers={"content-type": "application/json"}, timeout=30
    )
    assert streamed.status_code == 413
    too_many = [{"store_id": "s", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}] * (
        stack.settings.max_polls_per_request + 1
    )
    assert httpx.post(f"{url}/polls", json=too_many, timeout=30).status_code == 413
    assert httpx.post(f"{url}/polls", content=b"{nope", timeout=10).status_code == 415  # untyped
    json_type = {"content-type": "application/json"}
    assert (
        httpx.post(f"{url}/polls", content=b"{nope", headers=json_type, timeout=10).status_code
        == 422
    )


def test_readiness_and_lag_metrics_follow_the_workers(stack: Stack) -> None:
    stack.settings = stack.settings.model_copy(update={"monitor_every_s": 1.0, "lag_window": 3})
    url = stack.start_api()
    assert httpx.get(f"{url}/livez", timeout=10).status_code == 200
    not_ready = _wait(
        lambda: (
            (r := httpx.get(f"{url}/readyz", timeout=10)).status_code == 503
            and any("no worker" in reason for reason in r.json()["reasons"])
            and r
        )
    )
    assert not_ready.json()["status"] == "not ready"
    group = stack.settings.app_id

    # Polls arrive while no worker runs: the lag rises.
    for i in range(5):
        polls = [
            {
                "store_id": f"m{j}",
                "status": "active",
                "timestamp_utc": f"2023-01-25T{10 + i:02d}:00:00Z",
            }
            for j in range(40)
        ]
        assert httpx.post(f"{url}/polls", json=polls, timeout=10).status_code == 202
    _wait(lambda: (_lag(url, group) or 0) >= 40 * 5 / 8)
    # Lag throughout the window and nobody consuming: STOP, as Burrow says.
    _wait(lambda: _metric(url, "storemon_group_status", group=group, status="STOP") == 1.0)

    stack.worker("worker-1")
    _wait(lambda: httpx.get(f"{url}/readyz", timeout=10).status_code == 200, timeout_s=120)
    _wait(lambda: _lag(url, group) == 0, timeout_s=120)
    assert _metric(url, "storemon_polls_processed_total") is not None
    assert (_metric(url, "storemon_polls_processed_total") or 0) >= 200
    assert _metric(url, "storemon_worker_ready") == 1.0
    assert _metric(url, "kafka_consumergroup_group_lag_seconds", partition="0") == 0.0
    assert _metric(url, "http_requests_total", method="POST", route="/polls", status="202") == 5.0


def test_scheduled_reports_appear_in_the_list(stack: Stack) -> None:
    stack.settings = stack.settings.model_copy(update={"report_every_s": 2.0})
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    sent = httpx.post(
        f"{url}/polls",
        json={"store_id": "s", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"},
        timeout=10,
    )
    assert sent.status_code == 202
    stack.wait_caught_up()
    since = time.time()  # every scheduled report from now on holds the poll
    listed = _wait(
        lambda: [
            r for r in httpx.get(f"{url}/reports", timeout=10).json()
            if r["status"] == "Complete" and r["requested_at"] > since
        ],
        timeout_s=90,
    )  # fmt: skip
    newest = listed[0]
    assert newest["scheduled"] is True
    assert newest["rows"] == 1
    assert newest["report_time"] == "2023-01-25T10:00:00Z"
    assert "\ns,60.00,24.00,168.00," in httpx.get(f"{url}{newest['url']}", timeout=10).text
    assert newest["duration_s"] > 0
    assert httpx.get(f"{url}{newest['url']}", timeout=10).headers["X-Report-Status"] == "Complete"
    times = [r["requested_at"] for r in httpx.get(f"{url}/reports", timeout=10).json()]
    assert times == sorted(times, reverse=True)


def test_operator_page_in_a_real_browser(stack: Stack, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: `bash .ci/setup` installs Debian's chromium")
    stack.settings = stack.settings.model_copy(update={"monitor_every_s": 1.0})
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    polls = [
        {"store_id": f"p{j}", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}
        for j in range(50)
    ]
    httpx.post(f"{url}/polls", json=polls, timeout=10)
    httpx.post(f"{url}/polls", json={"store_id": "x"}, timeout=10)  # refused: not a dead letter
    stack.report()
    # Wait until the page has what the browser checks below: a line per partition, and the
    # lag sampled since the polls went in (no fixed sleep).
    _wait(
        lambda: (
            len(re.findall(r'class="lag-line"', httpx.get(f"{url}/", timeout=10).text)) == 8
            and re.search(r'id="total-lag">0<', httpx.get(f"{url}/", timeout=10).text)
        )
    )
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}"]  # fmt: skip

    def caught_up_dom() -> str | None:
        dom = subprocess.run(
            [chromium, *flags, "--dump-dom", f"{url}/"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        return dom if re.search(r'id="total-lag">0<', dom) else None

    # The lag is sampled every second and a commit can be a moment late: the browser must
    # show the caught-up page within a few loads (each load is checked whole below).
    dom = _wait(caught_up_dom, timeout_s=60, every_s=1.0)
    assert 'class="lag-chart"' in dom
    lines = re.findall(r'<polyline class="lag-line" data-partition="(\d+)"', dom)
    assert sorted(map(int, lines)) == list(range(8))
    assert re.search(r'id="total-lag">0<', dom)
    assert re.search(r'id="group-status">OK<', dom)
    assert re.search(r'id="polls-per-s">[\d,]+<', dom)
    assert "/get_report?report_id=" in dom
    shot = tmp_path / "operator-page.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1000,1300", f"{url}/"],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 10_000
    keep = Path(__file__).resolve().parents[2] / ".local" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "operator-page.png")
