"""Progress is checked, not trusted: a partition that stops moving is seen (``/readyz``
503, naming it), healed by the worker's watchdog, and counted; a worker frozen past its
session timeout hands its partitions over and takes them back with nothing restarted by
hand; a consistent report includes every poll acknowledged before it and says it is not
behind; one that cannot catch up fails, naming the partitions."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from replay.synthetic import generate
from storemon.processes import take_report_at
from streams.lag import measure
from tests.integration.conftest import Stack, assert_same_report, offline_csv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def scenario(loop_2023: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    g = generate(loop_2023, tmp_path_factory.mktemp("progress"), stores=300, days=2, seed=29)
    return {"status": g.status, "hours": g.hours, "timezones": g.timezones}


def _readyz(url: str) -> tuple[int, list[str]]:
    got = httpx.get(f"{url}/readyz", timeout=5)
    return got.status_code, got.json().get("reasons", [])


def _stalls(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("storemon_partition_stalls_total")
    )


def test_a_partition_that_stops_being_fetched_is_reported_and_healed(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    api_settings = stack.settings.model_copy(update={"stall_after_s": 5.0, "monitor_every_s": 0.5})
    stack.settings = stack.settings.model_copy(
        update={"fault_pause_partitions": "1", "stall_after_s": 40.0}
    )
    stack.worker("worker-1")
    stack.wait_worker_ready("worker-1")
    stack.wait_for_log("worker-1", "fault: polls partitions [1] are no longer fetched", 30)
    stack.settings = api_settings
    url = stack.start_api()
    wait_until(lambda: _readyz(url)[0] == 200, 60)
    stack.replay(scenario)

    # Seen: once the rest has caught up, /readyz names the one partition that makes no
    # progress (while a replay floods the worker, others may be slow for a while too) ...
    def only_polls_1() -> list[str] | None:
        status, reasons = _readyz(url)
        stalled = [r for r in reasons if "no progress" in r]
        if status == 503 and stalled and re.findall(r"\.polls (\d+) \(", stalled[0]) == ["1"]:
            return reasons
        return None

    reasons = wait_until(only_polls_1, 60, why=lambda: str(_readyz(url)))
    assert any("polls 1 (STALL for" in r for r in reasons)
    page = httpx.get(f"{url}/", timeout=10).text
    assert 'class="stalled"' in page
    assert 'id="stalls"' in page
    # ... healed by the worker's watchdog (resume and seek), counted, and ready again.
    stack.wait_caught_up(timeout_s=120)
    assert "stalled partitions: " in stack.log("worker-1")
    assert "polls:1 (processed to offset 0, committed 0, of" in stack.log("worker-1")
    assert wait_until(lambda: _stalls(url) >= 1, 30)
    wait_until(lambda: _readyz(url)[0] == 200, 60, why=lambda: str(_readyz(url)))
    report_id, text, _ = take_report_at(url, consistent="true")
    assert_same_report(text, offline_csv(scenario))
    record = httpx.get(f"{url}/reports", timeout=10).json()[0]
    assert record["report_id"] == report_id
    assert record["consistent"] is True
    assert record["behind_total"] == 0
    assert set(record["behind"]) == {str(p) for p in range(8)}
    assert stack.processes["worker-1"].poll() is None  # healed in place, not restarted


def test_messages_skipped_or_never_acknowledged_are_read_again(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    # Two faults of the engine, brought about once the worker has processed some polls:
    # - partition 2: one message read and never handed on. Faust takes the offset jump for
    #   compaction and commits past it; only the polls agent's offset check sees it.
    # - partition 5: two messages processed whose acknowledgements are lost. Processing
    #   goes on to the log end, the commits wait at the hole; only the committed offsets
    #   show it, and the watchdog heals it.
    # - zones partition 3: three messages read and never handed on. The topic is compacted,
    #   so the jump is checked against the log, the records found there are applied, and
    #   acknowledged (else the commits would wait at the hole: the wait for zero lag shows it).
    stack.settings = stack.settings.model_copy(
        update={
            "fault_lose_message": 2,
            "fault_lose_zone": 3,
            "fault_unacked": 5,
            "stall_after_s": 15.0,
        }
    )
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.replay(scenario, "--rate", "20000")
    stack.wait_for_log("worker-1", "fault: polls:2 offset", 60)
    stack.wait_for_log("worker-1", "fault: the acknowledgement of polls:5", 60)
    stack.wait_caught_up(timeout_s=120)
    assert_same_report(stack.report(), offline_csv(scenario))  # nothing lost
    log = stack.log("worker-1")
    lost = int(re.search(r"fault: polls:2 offset (\d+) read and never delivered", log)[1])  # type: ignore[index]
    assert (
        f"polls:2: offsets {lost} to {lost} were skipped by the engine; reading them again" in log
    )
    zones = [
        int(o) for o in re.findall(r"fault: store-timezones:3 offset (\d+) read and never", log)
    ]
    assert len(zones) == 3
    assert (
        f"store-timezones:3: offsets {zones[0]} to {zones[-1]} were skipped by the engine; "
        "3 records read again from the log" in log
    )
    # ... and acknowledged: the commits went on, so the watchdog never saw it stall.
    assert "store-timezones:3 (processed to offset" not in log
    unacked = [int(o) for o in re.findall(r"acknowledgement of polls:5 offset (\d+) is lost", log)]
    stalled = re.search(r"polls:5 \(processed to offset (\d+), committed (\d+), of (\d+)", log)
    assert stalled, log[-3000:]
    processed, committed, end = (int(g) for g in stalled.groups())
    assert committed == unacked[0] < processed <= end  # processed past the hole, committed to it
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert wait_until(lambda: _stalls(url) >= 1, 30)
    assert "storemon_messages_skipped_total" in metrics
    assert stack.processes["worker-1"].poll() is None  # healed in place, not restarted


def test_a_worker_frozen_past_its_session_hands_over_and_takes_back(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    workers = [stack.worker("worker-1"), stack.worker("worker-2")]
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.wait_worker_ready("worker-2")
    pids = [w.pid for w in workers]
    replay = stack.start(
        "replay", "replay", "--status", str(scenario["status"]), "--hours", str(scenario["hours"]),
        "--timezones", str(scenario["timezones"]), "--rate", "1500",
    )  # fmt: skip
    time.sleep(2)
    back = stack.log("worker-1").count("Worker ready")
    workers[0].send_signal(signal.SIGSTOP)  # frozen: no heartbeat, past the 6 s session
    try:
        taken = stack.log("worker-2").count("Worker ready")
        wait_until(lambda: stack.log("worker-2").count("Worker ready") > taken, 90)
        time.sleep(3)
    finally:
        workers[0].send_signal(signal.SIGCONT)
    assert replay.wait(300) == 0, stack.log("replay")
    # worker 1 finds itself out of the group, joins again, and gets partitions back
    wait_until(lambda: stack.log("worker-1").count("Worker ready") > back, 120)
    stack.wait_caught_up(timeout_s=180)
    _, text, _ = take_report_at(url, consistent="true")
    assert_same_report(text, offline_csv(scenario))
    assert [w.pid for w in workers] == pids
    assert all(w.poll() is None for w in workers)


def test_a_consistent_report_sees_every_poll_acknowledged_before_it(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    wait_until(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, 60)
    now = datetime.now(UTC).replace(microsecond=0)
    for round_ in range(3):
        stores = [f"rw-{round_}-{i}" for i in range(40)]
        polls = [
            {"store_id": s, "status": "inactive" if i % 2 else "active",
             "timestamp_utc": (now - timedelta(minutes=30)).isoformat()}
            for i, s in enumerate(stores)
        ]  # fmt: skip
        assert httpx.post(f"{url}/polls", json=polls, timeout=30).status_code == 202
        # right after the 202: a consistent report has every one of them
        report_id, text, _ = take_report_at(url, consistent="true")
        got = {r["store_id"]: r for r in csv.DictReader(io.StringIO(text))}
        assert set(stores) <= set(got), round_
        done = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=10)
        assert done.headers["X-Report-Behind"] == "0"


def test_a_consistent_report_that_cannot_catch_up_fails_naming_the_partitions(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    stack.settings = stack.settings.model_copy(
        update={"fault_pause_partitions": "1", "stall_after_s": 600.0, "report_timeout_s": 20.0}
    )
    stack.worker("worker-1")
    stack.wait_worker_ready("worker-1")
    stack.wait_for_log("worker-1", "fault: polls partitions [1] are no longer fetched", 30)
    url = stack.start_api()
    stack.replay(scenario)
    polls = f"{stack.settings.topic_prefix}.polls"

    def others_done() -> bool:
        lags = asyncio.run(measure(stack.settings))
        return all(i.lag == 0 for i in lags if (i.topic, i.partition) != (polls, 1))

    wait_until(others_done, 120)
    triggered = httpx.post(f"{url}/trigger_report", params={"consistent": "true"}, timeout=30)
    report_id = triggered.json()["report_id"]

    def failed() -> dict[str, object] | None:
        body = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=10).json()
        return body if body["status"] == "Failed" else None

    body = wait_until(failed, 60)
    assert "partitions 1 (" in str(body["error"]), body
    assert "messages behind" in str(body["error"]), body
    assert body["behind"]["1"] > 0, body  # type: ignore[index]
    assert body["behind_total"] == body["behind"]["1"], body  # type: ignore[index]
    # without consistent=true the report completes and says how far behind it is
    _, text, _ = take_report_at(url)
    done = httpx.get(f"{url}/reports", timeout=10).json()[0]
    assert done["status"] == "Complete"
    assert done["behind"]["1"] > 0
    assert done["behind_total"] == done["behind"]["1"]
    assert text.startswith("store_id,")
