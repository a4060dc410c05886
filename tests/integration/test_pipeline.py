"""The pipeline on a real Kafka broker: replay → workers → report, against the offline report."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from replay.synthetic import generate
from storemon.processes import take_report_at
from streams.core.exceptions import RowError
from streams.core.rows import parse_poll_fields
from streams.core.timestamps import parse_timestamp
from streams.lag import measure
from streams.settings import Settings
from tests.integration.conftest import (
    Stack,
    assert_same_report,
    offline_csv,
    produce,
    read_topic,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def scenario(loop_2023: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated data set: 400 real stores, 3 days, and 40 bad poll rows mixed in."""
    out = tmp_path_factory.mktemp("scenario")
    g = generate(loop_2023, out, stores=400, days=3, seed=7, bad_rows=40)
    hours = out / "menu_hours.csv"
    with hours.open("a") as f:  # two bad hours rows too
        f.write("123,9,09:00,10:00\n456,1,25:00,10:00\n")
    return {"status": g.status, "hours": hours, "timezones": g.timezones}


def test_loop_2023_sample_matches_the_offline_report(stack: Stack, sample: dict[str, Path]) -> None:
    stack.worker("worker-1")
    stack.start_api()
    out = stack.replay(sample)
    assert "sent 9,999 polls" in out
    stack.wait_worker_ready("worker-1")
    stack.wait_caught_up()
    assert_same_report(stack.report(), offline_csv(sample))
    as_of = "2023-01-24T12:00:00Z"
    assert_same_report(stack.report(as_of=as_of), offline_csv(sample, "--as-of", as_of))
    one = offline_csv(sample).splitlines()[42].split(",")[0]
    assert_same_report(stack.report(store_id=one), offline_csv(sample, "--store-id", one))
    # The pipeline answers as_of from a week before the newest poll to now (+ skew) only.
    url = stack.api_url
    for as_of in ("9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "2023-01-18T18:00:00Z"):
        refused = httpx.post(f"{url}/trigger_report", params={"as_of": as_of}, timeout=30)
        assert refused.status_code == 422, refused.text
        assert "from 2023-01-18T18:13:18.647069Z" in refused.json()["error"]
    forged = httpx.get(f"{url}/trigger_report", params={"store_id": "a,b"}, timeout=30)
    assert forged.status_code == 422
    assert "store_id" in forged.json()["error"]


def test_bad_rows_reach_the_dead_letters_and_good_rows_the_report(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    stack.worker("worker-1")
    stack.start_api()
    stack.replay(scenario)
    topics = stack.settings.topic_prefix
    # Straight into Kafka: an unreadable message, and a good poll sent without a key.
    future = json.dumps(
        {
            "store_id": "late-1",
            "polls": [[4_070_908_800_000_000, "active"], [1_674_640_800_000_000, "inactive"]],
        }
    )
    produce(
        stack.settings.bootstrap_servers,
        f"{topics}.polls",
        [(b"x", b"{not json"), (None, b'{"store_id": "late-1", "status": "active", '
                                        b'"timestamp_utc": "2023-01-25T10:00:00Z"}'),
         (b"late-2", b'{"store_id": "late-2", "status": "active", '
                     b'"timestamp_utc": "2099-01-01T00:00:00Z"}'),
         (b"late-1", future.encode()),
         (b"x", b'{"store_id": "zz,injected\\nROW", "status": "active", '
                b'"timestamp_utc": "2023-01-25T10:00:00Z"}')],
    )  # fmt: skip
    stack.wait_worker_ready("worker-1")
    stack.wait_caught_up()
    letters = read_topic(stack.settings.bootstrap_servers, f"{topics}.dead-letters")
    from_files = [d for d in letters if d["source"].endswith(".csv")]
    assert len([d for d in from_files if d["source"].endswith("store_status.csv")]) == 40
    assert len([d for d in from_files if d["source"].endswith("menu_hours.csv")]) == 2
    assert all(d["location"].startswith("line ") and d["reason"] and d["raw"] for d in from_files)
    assert any("unknown status 'unknown'" in d["reason"] for d in from_files)
    assert any("day '9'" in d["reason"] for d in from_files)
    from_topic = [d for d in letters if d["source"] == f"{topics}.polls"]
    assert len(from_topic) == 4
    assert any("not JSON" in d["reason"] for d in from_topic)
    assert all(d["location"].startswith("partition ") for d in from_topic)
    reasons = " | ".join(d["reason"] for d in from_topic)
    assert "2099-01-01T00:00:00Z is in the future" in reasons  # the single poll, and ...
    assert "polls[0]: timestamp 2099-01-01T00:00:00Z is in the future" in reasons  # in a batch
    assert "store_id 'zz,injected\\nROW' has characters other than" in reasons
    _, got, report_time = take_report_at(stack.api_url or "")
    assert "\nlate-1," in got  # rerouted to its store's partition, then counted
    assert "late-2" not in got
    assert "injected" not in got
    # Nothing from 2099 moved the report time: N is the newest valid poll.
    newest = max(parse_timestamp(line.split(",")[2]) for line in
                 scenario["status"].read_text().splitlines()[1:] if _valid_poll(line))  # fmt: skip
    assert parse_timestamp(report_time) == max(newest, parse_timestamp("2023-01-25T10:00:00Z"))
    expected_lines = offline_csv(scenario).splitlines()
    got_without_late = "\n".join(
        line for line in got.splitlines() if not line.startswith("late-1,")
    )
    assert_same_report(got_without_late, "\n".join(expected_lines))


def _valid_poll(line: str) -> bool:
    fields = line.split(",")
    try:
        parse_poll_fields(fields[0], fields[1], fields[2], Settings().time_bounds())
    except (RowError, IndexError):
        return False
    return True


@pytest.mark.parametrize("partitions", [8, 64])
def test_two_workers_share_the_partitions(
    stack: Stack, sample: dict[str, Path], partitions: int
) -> None:
    # 64: STOREMON_PARTITIONS sized for a million stores, every store-keyed topic, every
    # table's RocksDB and changelog, and every report request at that count.
    stack.settings = stack.settings.model_copy(update={"partitions": partitions})
    stack.worker("worker-1")
    stack.worker("worker-2")
    stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.wait_worker_ready("worker-2")
    stack.replay(sample)
    stack.wait_caught_up()
    assert_same_report(stack.report(), offline_csv(sample))
    answered = {
        name: set(map(int, re.findall(r"partition (\d+): \d+ rows", stack.log(name))))
        for name in ("worker-1", "worker-2")
    }
    assert answered["worker-1"], answered  # both took part
    assert answered["worker-2"], answered
    assert answered["worker-1"] | answered["worker-2"] == set(range(partitions))


def test_worker_killed_mid_replay_recovers(stack: Stack, scenario: dict[str, Path]) -> None:
    worker = stack.worker("worker-1")
    stack.start_api()
    stack.wait_worker_ready("worker-1")
    replay = stack.start(
        "replay", "replay", "--status", str(scenario["status"]), "--hours", str(scenario["hours"]),
        "--timezones", str(scenario["timezones"]), "--rate", "500",
    )  # fmt: skip
    # Kill it once it has committed some polls, while the replay still sends.
    polls = f"{stack.settings.topic_prefix}.polls"
    deadline = time.monotonic() + 60
    committed = 0
    while committed == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        lags = asyncio.run(measure(stack.settings))
        committed = sum(p.committed or 0 for p in lags if p.topic == polls)
    assert committed > 0, "the worker committed no polls in 60 s"
    # A few seconds more (the replay sends for about 40 s): what was committed by then is
    # a clear share of the polls, so that reading it again would show below.
    time.sleep(5)
    assert replay.poll() is None, "the replay should still be running"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    stack.processes.pop("worker-1")
    assert replay.wait(120) == 0, stack.log("replay")
    total = int(re.search(r"sent ([\d,]+) polls", stack.log("replay"))[1].replace(",", ""))  # type: ignore[index]
    stack.worker("worker-1")  # the same data dir: recover from RocksDB and the changelog
    stack.wait_worker_ready("worker-1")
    stack.wait_caught_up()
    assert_same_report(stack.report(), offline_csv(scenario))
    # What the killed worker had committed is not read again: the new one resumes from the
    # committed offsets, so it processes fewer polls than were sent (at-least-once: it may
    # read again what was processed but not committed when it was killed).
    metrics = httpx.get(f"{stack.api_url}/metrics", timeout=10).text
    pid = stack.processes["worker-1"].pid
    processed = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("storemon_polls_processed_total") and f"-{pid}\"" in line]  # fmt: skip
    assert processed, metrics
    assert 0 < processed[0] < total
    log = stack.log("worker-1")
    assert "ConsistencyError" not in log
    assert "Traceback" not in log


def test_replaying_twice_changes_nothing(stack: Stack, sample: dict[str, Path]) -> None:
    stack.worker("worker-1")
    stack.start_api()
    stack.replay(sample)
    stack.replay(sample)
    stack.wait_worker_ready("worker-1")
    stack.wait_caught_up()
    assert_same_report(stack.report(), offline_csv(sample))


def test_a_report_with_no_worker_fails_with_a_reason(stack: Stack) -> None:
    stack.settings = stack.settings.model_copy(update={"report_timeout_s": 3})
    url = stack.start_api()

    # Until its Kafka clients are connected the API answers 503 (try again): wait for that.
    started = wait_until(
        lambda: (r := httpx.post(f"{url}/trigger_report", timeout=10)).status_code != 503 and r,
        timeout_s=60,
    )
    assert started.status_code == 200, started.text
    report_id = started.json()["report_id"]
    deadline = time.monotonic() + 30
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=10).json()
        if body["status"] != "Running":
            break
        time.sleep(0.3)
    assert body["status"] == "Failed"
    assert "did not answer" in body["error"]
    assert "storemon lag" in body["error"]
