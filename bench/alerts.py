"""Alert latency: ``python -m bench.alerts``.

One local Kafka and one worker. For each of ``SAMPLES`` new stores (open around the
clock): an active poll, then an inactive one a second later, each sent with ``acks=all``;
the latency is from the broker's acknowledgement of the inactive poll to its
``storemon.store.down`` event arriving on ``storemon.alerts`` (a consumer follows the
topic all along). Writes the ``alerts`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import OUT, arguments, machine, write_section
from storemon.localkafka import LocalKafka
from storemon.processes import Supervisor
from streams import kafka
from streams.core.alerts import DOWN
from streams.core.payloads import encode_poll, load_json
from streams.settings import ROOT, Settings
from streams.topics import ensure_topics_async, topics_for

PORT = 29592
SAMPLES = 100
TARGET_P99_S = 1.0


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _measure(settings: Settings) -> list[float]:
    await ensure_topics_async(settings)
    topics = topics_for(settings)
    arrived: dict[str, float] = {}
    consumer = kafka.consumer(
        settings, topics.alerts.name, group_id=None, auto_offset_reset="latest"
    )
    producer = kafka.producer(settings, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()

    async def follow() -> None:
        async for message in consumer:
            event: Any = load_json(message.value or b"{}")
            if event.get("type") == DOWN:
                arrived.setdefault(event["subject"], time.perf_counter())

    follower = asyncio.create_task(follow())
    try:
        await asyncio.sleep(3)  # the consumer has its partitions and sits at their end
        latencies = []
        run = int(time.time())
        for i in range(SAMPLES):
            store = f"lat-{run}-{i}"
            now = datetime.now(UTC)
            for status, at in (("active", now - timedelta(seconds=1)), ("inactive", now)):
                value = encode_poll(store, status, _stamp(at))
                await producer.send_and_wait(topics.polls.name, value, key=store.encode())
            acked = time.perf_counter()
            deadline = acked + 30
            while store not in arrived and time.perf_counter() < deadline:
                await asyncio.sleep(0.002)
            if store not in arrived:
                raise RuntimeError(f"no down alert for {store} within 30 s")
            latencies.append(arrived[store] - acked)
            await asyncio.sleep(0.05)
        return latencies
    finally:
        follower.cancel()
        await producer.stop()
        await consumer.stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    arguments("bench.alerts", __doc__)
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1, local_dir=ROOT / ".local",
        app_id="bench-alerts", topic_prefix="bench-alerts", data_dir=OUT / "alerts-worker",
    )  # fmt: skip
    broker = LocalKafka(settings, home=OUT / "kafka-alerts")
    broker.up(fresh=True)
    shutil.rmtree(OUT / "alerts", ignore_errors=True)  # a fresh broker: fresh RocksDB too
    procs = Supervisor(settings, OUT / "alerts")
    try:
        procs.worker("worker-1")
        procs.wait_worker_ready("worker-1")
        latencies = asyncio.run(_measure(settings))
    finally:
        procs.stop_all()
        broker.down()
    p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    print(f"alert latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms", flush=True)
    verdict = "met" if p99 <= TARGET_P99_S else "**missed**"
    write_section(
        "alerts",
        f"""
## Alert latency (issue 12)

`python -m bench.alerts` on {machine()}: one local Kafka 4.1.1 and one worker. For each of
{SAMPLES} new stores (open around the clock), an active poll and then an inactive one, each
acknowledged by the broker (`acks=all`); measured from the inactive poll's acknowledgement
to its `storemon.store.down` CloudEvent arriving on `storemon.alerts`.

| measure | measured | target | |
| --- | --- | --- | --- |
| latency p50 | {p50 * 1000:.0f} ms | | |
| latency p99 | {p99 * 1000:.0f} ms | ≤ {TARGET_P99_S * 1000:.0f} ms | {verdict} |
| slowest | {max(latencies) * 1000:.0f} ms | | |

Most of it is the polls agent's batching (it waits up to 0.1 s for more messages once one
has come) and the worker's producer sending the event.
""",
    )


if __name__ == "__main__":
    main()
