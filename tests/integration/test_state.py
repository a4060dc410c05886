"""The per-store state layout on a real broker: batches and live single polls mixed,
across a worker killed and restarted, with or without its RocksDB folder."""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from replay.synthetic import generate
from streams.core.exports import read_polls
from streams.core.payloads import encode_poll
from streams.core.timestamps import US_PER_HOUR, format_timestamp
from streams.settings import Settings
from tests.integration.conftest import Stack, assert_same_report, offline_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _live_polls(status: Path, stores: int, per_store: int) -> list[tuple[str, str, str]]:
    """Single polls after each chosen store's newest: (store, status, timestamp)."""
    polls, _ = read_polls(status, Settings().time_bounds())
    rnd = random.Random(5)
    out = []
    for sid, keys in list(polls.items())[:stores]:
        t = int(keys[-1]) >> 1
        for _ in range(per_store):
            t += US_PER_HOUR + rnd.randint(-300, 300) * 1_000_000
            out.append((sid, rnd.choice(["active", "inactive"]), format_timestamp(t)))
    return out


def _send_kafka(settings: Settings, polls: list[tuple[str, str, str]]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            topic = f"{settings.topic_prefix}.polls"
            for sid, status, stamp in polls:
                value = encode_poll(sid, status, stamp)
                await producer.send_and_wait(topic, value, key=sid.encode())
        finally:
            await producer.stop()

    asyncio.run(send())


@pytest.mark.parametrize("lose_rocksdb", [False, True], ids=["same-folder", "folder-deleted"])
def test_batches_and_live_polls_survive_a_killed_worker(
    stack: Stack, loop_2023: Path, tmp_path: Path, lose_rocksdb: bool
) -> None:
    data = generate(loop_2023, tmp_path / "data", stores=300, days=3, seed=11, duplicates=0.02)
    files = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
    worker = stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.replay(files)  # batches: a segment per store per message
    live = _live_polls(data.status, stores=120, per_store=4)
    over_http, over_kafka = live[: len(live) // 2], live[len(live) // 2 :]
    for sid, status, stamp in over_http:  # one poll a request, each a segment of one poll
        body = {"store_id": sid, "status": status, "timestamp_utc": stamp}
        assert httpx.post(f"{url}/polls", json=body, timeout=10).status_code == 202
    _send_kafka(stack.settings, over_kafka)
    stack.wait_caught_up()
    combined = tmp_path / "combined.csv"
    lines = data.status.read_text().splitlines()
    lines += [f"{sid},{status},{stamp}" for sid, status, stamp in live]
    combined.write_text("\n".join(lines) + "\n")
    expected = offline_csv({**files, "status": combined})
    assert_same_report(stack.report(), expected)

    worker.send_signal(signal.SIGKILL)
    worker.wait()
    stack.processes.pop("worker-1")
    if lose_rocksdb:  # everything comes back from the changelog
        shutil.rmtree(stack.folder / "worker-1")
    stack.worker("worker-1")
    stack.wait_worker_ready("worker-1")
    assert_same_report(stack.report(), expected)
    log = stack.log("worker-1")
    assert "ConsistencyError" not in log
    assert "Traceback" not in log
