"""Faults on the real stack: poison on every topic, the broker and a worker killed with
``kill -9``, and readiness that tells the truth about all of them."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from replay.synthetic import generate
from storemon.localkafka import LocalKafka
from storemon.processes import free_port
from streams.core.payloads import encode_poll
from streams.core.timestamps import format_timestamp
from streams.lag import measure
from streams.settings import ROOT, Settings
from tests.integration.conftest import (
    Stack,
    assert_same_report,
    offline_csv,
    produce,
    read_topic,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

POISON = [
    b"{not json",
    b"[" * 20_000 + b"]" * 20_000,
    b'{"store_id": "s", "status": "active", "timestamp_utc": ' + b"9" * 5_001 + b"}",
    b"\xff\xfe\x00garbage",
    b'{"report_id": []}',
    b'{"report_id": "' + b"r" * 24 + b'", "phase": "rows", "n_us": 1e30, "store_id": 123}',
    b'{"store_id": "x", "shifts": [[1]], "version": "soon"}',
]


@pytest.fixture(scope="module")
def scenario(loop_2023: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("faults")
    g = generate(loop_2023, out, stores=300, days=3, seed=21, duplicates=0.01)
    return {"status": g.status, "hours": g.hours, "timezones": g.timezones}


def _metric(url: str, name: str, **labels: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _wait(predicate: Any, timeout_s: float = 90.0, every_s: float = 0.2) -> Any:
    return wait_until(predicate, timeout_s, every_s, lambda: f"/readyz last said {_last_readyz[0]}")


_last_readyz: list[str] = [""]


def _status(url: str) -> int:
    try:
        got = httpx.get(f"{url}/readyz", timeout=5)
    except httpx.TransportError as exc:
        _last_readyz[0] = repr(exc)
        return 0
    _last_readyz[0] = got.text
    return got.status_code


def test_poison_on_every_topic_stops_nothing(stack: Stack, scenario: dict[str, Path]) -> None:
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    _wait(lambda: _status(url) == 200)
    p = stack.settings.topic_prefix
    bootstrap = stack.settings.bootstrap_servers
    sent = {}
    for name in ("polls", "store-hours", "store-timezones"):
        produce(bootstrap, f"{p}.{name}", [(b"s", m) for m in POISON])
        sent[f"{p}.{name}"] = len(POISON)
    for partition in range(stack.settings.partitions):  # every answering agent gets some
        produce(bootstrap, f"{p}.report-requests", [(None, m) for m in POISON], partition)
    sent[f"{p}.report-requests"] = len(POISON) * stack.settings.partitions
    for name in ("report-parts", "worker-stats", "dead-letters"):  # read by the API
        produce(bootstrap, f"{p}.{name}", [(b"x", m) for m in POISON])
    stack.replay(scenario)
    stack.wait_caught_up()
    assert_same_report(stack.report(), offline_csv(scenario))
    letters = read_topic(bootstrap, f"{p}.dead-letters")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for letter in letters:
        if isinstance(letter, dict) and "source" in letter:
            by_source.setdefault(letter["source"], []).append(letter)
    for topic, count in sent.items():
        got = by_source.get(topic, [])
        assert len(got) == count, (topic, len(got))
        assert all(re.match(r"partition \d+ offset \d+", d["location"]) for d in got)
        assert all(d["reason"] for d in got)
    assert _metric(url, "storemon_unreadable_report_parts_total") == len(POISON)
    assert _metric(url, "storemon_unreadable_messages_total", topic=f"{p}.worker-stats") == len(
        POISON
    )
    assert _metric(url, "storemon_unreadable_messages_total", topic=f"{p}.dead-letters") >= len(
        POISON
    )
    assert _status(url) == 200
    assert _metric(url, "storemon_task_crashes_total", task="report-coordinator") == 0
    for name in ("worker-1", "api"):
        assert "Traceback" not in stack.log(name), stack.log(name)[-3000:]


def test_broker_killed_mid_replay_loses_nothing(
    stack: Stack, scenario: dict[str, Path], broker: LocalKafka
) -> None:
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    replay = stack.start(
        "replay", "replay", "--status", str(scenario["status"]), "--hours",
        str(scenario["hours"]), "--timezones", str(scenario["timezones"]), "--rate", "2500",
    )  # fmt: skip
    _wait(lambda: sum(x.committed or 0 for x in asyncio.run(measure(stack.settings))) > 0, 60)
    assert replay.poll() is None, "the replay should still be running"
    pid = broker.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: _status(url) == 503, timeout_s=10)  # readiness follows within seconds
    time.sleep(3)
    broker.up()  # the same data: acknowledged writes are there
    assert replay.wait(300) == 0, stack.log("replay")
    stack.wait_caught_up(timeout_s=300)
    _wait(lambda: _status(url) == 200, timeout_s=120)
    assert_same_report(stack.report(), offline_csv(scenario))


NEW_HOURS = [{"day": d, "start": "06:30:00", "end": "11:00:00"} for d in range(7)]


def _with_new_hours(files: dict[str, Path], stores: list[str], out: Path) -> dict[str, Path]:
    """The same export with ``stores`` open only at ``NEW_HOURS``."""
    rows = list(csv.reader(files["hours"].read_text().splitlines()))
    kept = [rows[0], *(r for r in rows[1:] if r[0] not in stores)]
    kept += [[s, str(h["day"]), h["start"], h["end"]] for s in stores for h in NEW_HOURS]
    with out.open("w", newline="") as f:
        csv.writer(f).writerows(kept)
    return {**files, "hours": out}


def test_worker_killed_mid_report_the_report_completes_whole(
    stack: Stack, scenario: dict[str, Path], tmp_path: Path
) -> None:
    workers = {name: stack.worker(name) for name in ("worker-1", "worker-2")}
    url = stack.start_api()
    for name in workers:
        stack.wait_worker_ready(name)
    stack.replay(scenario)
    stack.wait_caught_up()
    assert_same_report(stack.report(), offline_csv(scenario))  # both remember their answers
    # New hours for stores of every partition: worker-1 hears of those in worker-2's as its
    # standby, from the profiles changelog, and must answer with them once it owns them.
    stores = sorted({r[0] for r in csv.reader(scenario["hours"].read_text().splitlines())})
    changed = [s for s in stores if s != "store_id"][:40]
    for store in changed:
        body = {"shifts": NEW_HOURS}
        assert httpx.put(f"{url}/stores/{store}/hours", json=body, timeout=10).status_code == 202
    expected = offline_csv(_with_new_hours(scenario, changed, tmp_path / "hours.csv"))
    _wait(lambda: _same(stack.report(), expected), timeout_s=60, every_s=1.0)
    report_id = httpx.post(f"{url}/trigger_report", timeout=30).json()["report_id"]
    workers["worker-2"].send_signal(signal.SIGKILL)  # while it answers
    workers["worker-2"].wait()
    stack.processes.pop("worker-2")

    def complete() -> str | None:
        got = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=10)
        if got.headers.get("X-Report-Status") == "Complete":
            return got.text
        assert got.json()["status"] == "Running", got.text
        return None

    assert_same_report(_wait(complete, timeout_s=120), expected)


def _same(got: str, expected: str) -> bool:
    try:
        assert_same_report(got, expected)
    except AssertionError:
        return False
    return True


def _send_singles(settings: Settings, count: int) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20)
        await producer.start()
        try:
            for i in range(count):
                sid = f"single-{i % 3_000}"
                stamp = format_timestamp(1_674_000_000_000_000 + i * 60_000_000)
                await producer.send(
                    f"{settings.topic_prefix}.polls", encode_poll(sid, "active", stamp),
                    key=sid.encode(),
                )  # fmt: skip
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def test_readiness_waits_while_a_joining_worker_restores_its_tables(
    stack: Stack, scenario: dict[str, Path]
) -> None:
    # The first worker is ready and reports so; a second joins and restores its share of
    # the tables from the changelog. Until it has, /readyz must not say 200.
    stack.settings = stack.settings.model_copy(update={"monitor_every_s": 0.5})
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.replay(scenario)
    _send_singles(stack.settings, 60_000)  # a segment (and a changelog record) each
    stack.wait_caught_up()
    _wait(lambda: _status(url) == 200)
    joined = time.time()
    stack.worker("worker-2")
    _wait(lambda: _status(url) == 503, timeout_s=30, every_s=0.05)
    first_ready = _wait(lambda: _status(url) == 200 and time.time(), timeout_s=120, every_s=0.05)
    restored = [
        datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for m in re.findall(r"^\[([\d-]+ [\d:,]+)\] .*Worker ready", stack.log("worker-2"), re.M)
    ]
    restored = [t for t in restored if t >= joined]
    assert restored, "the joining worker never logged that it was ready"
    assert first_ready >= min(restored), "ready was said before the joining worker had recovered"
    assert _status(url) == 200


def test_the_api_starts_without_kafka_and_becomes_ready_when_it_comes(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{port}", controller_port=free_port(), app_id="late",
        topic_prefix="late", reports_dir=tmp_path / "reports", data_dir=tmp_path / "worker",
        local_dir=ROOT / ".local", monitor_every_s=0.5,
    )  # fmt: skip
    stack = Stack.__new__(Stack)
    Stack.__init__(stack, settings.bootstrap_servers, tmp_path)
    stack.settings = settings
    broker = LocalKafka(settings, home=tmp_path / "kafka")
    try:
        url = stack.start_api()  # nothing listens at the bootstrap address yet
        assert httpx.get(f"{url}/livez", timeout=10).status_code == 200
        down = httpx.get(f"{url}/readyz", timeout=10)
        assert down.status_code == 503
        assert any("Kafka" in r or "task" in r for r in down.json()["reasons"])
        poll = {"store_id": "s", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}
        refused = httpx.post(f"{url}/polls", json=poll, timeout=10)
        assert refused.status_code == 503
        assert "not reachable" in refused.json()["error"]
        assert httpx.post(f"{url}/trigger_report", timeout=10).status_code == 503
        broker.up(fresh=True)
        stack.worker("worker-1")
        _wait(lambda: _status(url) == 200, timeout_s=180)
        assert httpx.post(f"{url}/polls", json=poll, timeout=10).status_code == 202
        # Acknowledged is not yet processed: the report holds the poll once the worker has it.
        _wait(lambda: "\ns," in stack.report(), timeout_s=60, every_s=0.5)
    finally:
        stack.stop_all()
        broker.down()
