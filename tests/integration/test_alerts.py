"""Incidents and alerts on the real broker: down, up and silent for a store pushed over
HTTP, delivered to a webhook; nothing outside business hours; no flood when history is
replayed; every store's incidents adding up to its report; the store page in a browser."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings import kafka as kafka_binding

from replay.synthetic import generate
from storemon.processes import free_port
from streams.core.alerts import DOWN, SILENT, UP
from tests.integration.conftest import Stack, offline_history, read_records, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


class Sink:
    """A webhook that records what it gets; it refuses the first delivery (503)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if sink.refused == 0:
                    sink.refused += 1
                    self.send_response(503)
                else:
                    sink.events.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.server.shutdown()
    s.server.server_close()


def _wait(predicate: Any, timeout_s: float = 60, every_s: float = 0.3) -> Any:
    return wait_until(predicate, timeout_s, every_s)


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _alerts(stack: Stack, store: str) -> list[dict[str, Any]]:
    """The store's alerts on the topic, each read with the CloudEvents SDK's Kafka binding
    (structured content mode: the ``content-type`` header says so)."""
    records = read_records(
        stack.settings.bootstrap_servers, f"{stack.settings.topic_prefix}.alerts", 3
    )
    events = []
    for record in records:
        headers = dict(record.headers)
        assert headers == {"content-type": b"application/cloudevents+json"}
        message = kafka_binding.KafkaMessage(headers=headers, key=record.key, value=record.value)
        event = kafka_binding.from_kafka_event(message)
        assert event.get_extension("partitionkey") == record.key.decode()
        if event.get_subject() == store:
            events.append({**json.loads(record.value), "type": event.get_type()})
    return events


def test_down_up_and_silent_for_a_store_pushed_over_http_and_nothing_after_hours(
    stack: Stack, sink: Sink
) -> None:
    stack.settings = stack.settings.model_copy(
        update={"silent_after_s": 8.0, "alert_check_every_s": 0.5, "alert_webhooks": sink.url,
                "monitor_every_s": 0.5}
    )  # fmt: skip
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    _wait(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, 120)
    now = datetime.now(UTC)
    # b1 was open until a minute ago: its observation half an hour ago is inactive, but
    # the store is closed now, so the alert waits for the next opening (tomorrow).
    start, end = now - timedelta(hours=2), now - timedelta(minutes=1)
    shift = {
        "day": start.weekday(),
        "start": start.strftime("%H:%M:%S"),
        "end": end.strftime("%H:%M:%S"),
    }
    # c1 is like b1, but opens again 25 s from now: its held alert goes out then, since the
    # incident is still open.
    reopen, reclose = now + timedelta(seconds=25), now + timedelta(hours=2)
    again = {
        "day": reopen.weekday(),
        "start": reopen.strftime("%H:%M:%S"),
        "end": reclose.strftime("%H:%M:%S"),
    }
    for store in ("a1", "b1", "c1"):
        assert (
            httpx.put(
                f"{url}/stores/{store}/timezone", json={"timezone": "UTC"}, timeout=10
            ).status_code
            == 202
        )
    assert (
        httpx.put(f"{url}/stores/b1/hours", json={"shifts": [shift]}, timeout=10).status_code == 202
    )
    assert (
        httpx.put(f"{url}/stores/c1/hours", json={"shifts": [shift, again]}, timeout=10).status_code
        == 202
    )
    time.sleep(1.0)  # the profiles are in before the polls

    def poll(store: str, status: str, at: datetime) -> None:
        body = {"store_id": store, "status": status, "timestamp_utc": _stamp(at)}
        assert httpx.post(f"{url}/polls", json=body, timeout=10).status_code == 202

    now_b = now
    poll("b1", "active", now - timedelta(minutes=90))
    poll("b1", "inactive", now - timedelta(minutes=30))
    poll("b1", "inactive", now)  # outside hours: not an observation
    poll("c1", "active", now - timedelta(minutes=90))
    poll("c1", "inactive", now - timedelta(minutes=30))
    time.sleep(1.0)  # processed apart: the poll below comes after the alert is held
    poll("c1", "inactive", now)  # polled while closed: the held alert must survive it
    held_until = reopen
    now = datetime.now(UTC)  # silence counts from the newest poll: 8 s after the last one
    poll("a1", "active", now - timedelta(seconds=3))
    poll("a1", "inactive", now - timedelta(seconds=2))
    down = _wait(lambda: [e for e in _alerts(stack, "a1") if e["type"] == DOWN])
    poll("a1", "active", now)
    got = _wait(lambda: (a := _alerts(stack, "a1")) and a[-1]["type"] == SILENT and a, 60)
    assert [e["type"] for e in got] == [DOWN, UP, SILENT]
    assert len({e["id"] for e in got}) == 3
    # The incident began halfway between the active and the inactive poll, and ended
    # halfway between the inactive and the active one.
    assert down[0]["data"]["incident_start"] == _stamp(now - timedelta(seconds=2.5))
    assert got[1]["data"]["incident_end"] == _stamp(now - timedelta(seconds=1))
    for event in got:
        assert event["specversion"] == "1.0"
        assert event["source"].startswith("storemon/")
        assert event["data"]["incident_start_local"] is not None or event["type"] == SILENT
    # The webhook got the three, after refusing the first attempt (a retry).
    delivered = _wait(lambda: len(sink.events) >= 3 and sink.events)
    assert sink.refused == 1
    assert [e["id"] for e in delivered] == [e["id"] for e in got]
    listed = httpx.get(f"{url}/alerts", params={"store_id": "a1"}, timeout=10).json()
    assert [e["type"] for e in listed] == [SILENT, UP, DOWN]  # newest first
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert f'storemon_alerts_total{{type="{DOWN}"}} 1.0' in metrics
    assert "storemon_stores_down" in metrics
    incidents = httpx.get(f"{url}/stores/a1/incidents", timeout=30).json()
    [incident] = incidents["incidents"]
    assert incident["end"] == got[1]["data"]["incident_end"]
    assert incident["downtime_s"] == pytest.approx(1.5, abs=1e-6)  # 2.5 s ago to 1 s ago
    assert _alerts(stack, "b1") == []  # closed now: held, not sent
    reported, *later = _wait(lambda: _alerts(stack, "c1"), timeout_s=90)  # at the opening
    assert reported["type"] == DOWN
    assert [e["type"] for e in later] in ([], [SILENT])  # no poll since: silent 8 s later
    assert datetime.now(UTC) >= held_until  # not before it
    assert reported["data"]["incident_start"] == _stamp(now_b - timedelta(minutes=60))
    assert "Traceback" not in stack.log("worker-1")


def test_replayed_history_raises_no_alert_and_incidents_and_days_match_the_offline_ones(
    stack: Stack, loop_2023: Path, tmp_path: Path
) -> None:
    data = generate(loop_2023, tmp_path / "data", stores=120, days=9, seed=31)
    files = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.replay(files)
    stack.wait_caught_up()
    report = list(csv.DictReader(io.StringIO(stack.report())))
    assert len(report) > 100
    events = read_records(
        stack.settings.bootstrap_servers, f"{stack.settings.topic_prefix}.alerts", 3
    )
    assert events == []  # 2023 is long past STOREMON_ALERT_MAX_AGE_S: no flood
    checked = 0
    for row in report:
        got = httpx.get(f"{url}/stores/{row['store_id']}/incidents", timeout=30)
        assert got.status_code == 200, got.text
        body = got.json()
        week = sum(i["downtime_s"] for i in body["incidents"]) / 3600
        assert abs(week - float(row["downtime_last_week"])) <= 0.005 + 1e-9, (row, body)
        to = datetime.fromisoformat(body["to"].replace("Z", "+00:00"))
        day = httpx.get(
            f"{url}/stores/{row['store_id']}/incidents",
            params={"from": _stamp(to - timedelta(days=1)), "to": body["to"]}, timeout=30,
        ).json()  # fmt: skip
        hours = sum(i["downtime_s"] for i in day["incidents"]) / 3600
        assert abs(hours - float(row["downtime_last_day"])) <= 0.005 + 1e-9, (row, day)
        checked += 1
    assert checked == len(report)
    # Daily history over HTTP: the same days as `storemon history` offline, every store
    # (9 days of polls: all are within the 14 days the pipeline keeps whole).
    offline = offline_history(files)
    assert len(offline) > 100
    for store_id, days in offline.items():
        got = httpx.get(f"{url}/stores/{store_id}/history", timeout=30)
        assert got.status_code == 200, got.text
        assert got.json()["days"] == days, store_id
    some, days = next(iter(offline.items()))
    as_csv = httpx.get(
        f"{url}/stores/{some}/history", headers={"Accept": "text/csv"},
        params={"from": days[1]["date"], "to": days[-1]["date"]}, timeout=30,
    )  # fmt: skip
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["date"] for r in rows] == [d["date"] for d in days[1:]]
    assert [float(r["uptime_s"]) for r in rows] == [d["uptime_s"] for d in days[1:]]
    bad = httpx.get(f"{url}/stores/{some}/history", params={"from": "last May"}, timeout=30)
    assert bad.status_code == 422
    assert "YYYY-MM-DD" in bad.json()["error"]


def test_the_store_page_in_a_real_browser(stack: Stack, loop_2023: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: `bash .ci/setup` installs Debian's chromium")
    data = generate(loop_2023, tmp_path / "data", stores=20, days=20, seed=41)
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.replay({"status": data.status, "hours": data.hours, "timezones": data.timezones})
    stack.wait_caught_up()
    report = list(csv.DictReader(io.StringIO(stack.report())))
    store = max(report, key=lambda r: float(r["downtime_last_week"]))["store_id"]
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}"]  # fmt: skip
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", f"{url}/stores/{store}"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert f'<span id="store-id">{store}</span>' in dom
    assert dom.count('class="day"') == 7
    assert 'class="down"' in dom
    assert 'class="up"' in dom
    assert dom.count('class="incident"') >= 1
    assert dom.count('class="cell"') == 90  # the history strip: one cell a local day
    history = httpx.get(f"{url}/stores/{store}/history", timeout=30).json()["days"]
    up = sum(d["uptime_s"] for d in history[-7:])
    business = sum(d["business_s"] for d in history[-7:])
    assert f"7 days <b>{100 * up / business:.2f} %</b>" in dom
    svg = httpx.get(f"{url}/stores/{store}.svg", timeout=30)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.count('class="day"') == 7
    page = httpx.get(f"{url}/", timeout=10).text
    assert 'id="store-search"' in page
    shot = tmp_path / "store-page.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=900,820",
                    f"{url}/stores/{store}"], capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 10_000
    keep = Path(__file__).resolve().parents[2] / ".local" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "store-page.png")
    assert httpx.get(f"{url}/stores/nope-such-store", timeout=30).status_code == 404
