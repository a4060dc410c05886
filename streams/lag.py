"""``storemon lag``: how far the workers' consumer group is behind, per partition."""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings
from streams.topics import topics_for


class PartitionLag(NamedTuple):
    """One partition's consumer lag."""

    topic: str
    """The source topic."""
    partition: int
    """The partition."""
    end: int
    """Log end offset."""
    committed: int | None
    """The group's committed offset, None if it never committed."""

    @property
    def lag(self) -> int:
        """Messages not yet processed and committed."""
        return self.end - (self.committed or 0)


def source_topics(settings: Settings) -> list[str]:
    """The topics the workers consume."""
    t = topics_for(settings)
    return [t.polls.name, t.hours.name, t.zones.name, t.report_requests.name]


async def measure(settings: Settings) -> list[PartitionLag]:
    """Lag of every partition of the source topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await admin.start()
    await consumer.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in source_topics(settings)
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(settings.app_id, partitions=tps)
        return [
            PartitionLag(
                tp.topic,
                tp.partition,
                ends[tp],
                committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None,
            )
            for tp in tps
        ]
    finally:
        await consumer.stop()
        await admin.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def render(lags: list[PartitionLag]) -> str:
    """A table of lags, and the total."""
    lines = [f"{'topic':<40} {'partition':>9} {'end':>10} {'committed':>10} {'lag':>8}"]
    for item in lags:
        committed = "-" if item.committed is None else str(item.committed)
        lines.append(
            f"{item.topic:<40} {item.partition:>9} {item.end:>10} {committed:>10} {item.lag:>8}"
        )
    lines.append(f"total lag: {sum(i.lag for i in lags)}")
    return "\n".join(lines)


def run(settings: Settings, wait_zero: bool, timeout_s: float) -> int:
    """The ``storemon lag`` command."""
    deadline = time.monotonic() + timeout_s
    while True:
        lags = asyncio.run(measure(settings))
        caught_up = all(item.lag == 0 for item in lags)
        if not wait_zero or caught_up:
            print(render(lags))
            return 0
        if time.monotonic() > deadline:
            print(render(lags))
            print(f"storemon lag: not caught up after {timeout_s:.0f} s")
            return 1
        time.sleep(0.5)
