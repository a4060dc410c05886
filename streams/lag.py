"""``storemon lag``: how far the workers' consumer group is behind, per partition, and its
Burrow-like status over a few samples."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from typing import NamedTuple

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams import kafka
from streams.core.lagstatus import Sample, partition_status, worst
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


class LagProbe:
    """Kafka clients that measure the workers' group; start once, measure often."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group_id = settings.app_id
        self.admin = kafka.admin(settings)
        self.consumer = kafka.consumer(settings, group_id=None, enable_auto_commit=False)

    async def start(self) -> None:
        """Connect."""
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        """Disconnect."""
        await self.consumer.stop()
        await self.admin.close()

    async def measure(self) -> list[PartitionLag]:
        """Lag of every partition of the source topics."""
        tps: list[TopicPartition] = []
        for topic in source_topics(self.settings):
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                await self.consumer._client.force_metadata_update()
                partitions = self.consumer.partitions_for_topic(topic) or set()
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        ends = await self.consumer.end_offsets(tps)
        committed = await self.admin.list_consumer_group_offsets(self.group_id, partitions=tps)
        return [
            PartitionLag(
                tp.topic,
                tp.partition,
                ends[tp],
                committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None,
            )
            for tp in tps
        ]

    async def ping(self) -> bool:
        """Whether a broker answers a metadata request (cheap: no group, no offsets)."""
        cluster = await self.admin.describe_cluster()
        return bool(cluster.get("brokers"))

    async def members(self) -> int:
        """How many consumers are in the group now."""
        return (await self.group())[0]

    async def group(self) -> tuple[int, str | None]:
        """How many consumers are in the group now, and its state (``Stable``,
        ``PreparingRebalance``, ``CompletingRebalance``, ``Empty``, ``Dead``)."""
        responses = await self.admin.describe_consumer_groups([self.group_id])
        groups = [
            g for r in responses for g in r.to_object()["groups"] if g["group"] == self.group_id
        ]
        members = sum(len(g["members"]) for g in groups)
        return members, (groups[0]["state"] if groups else None)


async def measure(settings: Settings) -> list[PartitionLag]:
    """One measurement with short-lived clients."""
    probe = LagProbe(settings)
    await probe.start()
    try:
        return await probe.measure()
    finally:
        await probe.stop()


async def _measured(probe: LagProbe) -> list[PartitionLag] | None:
    """A measurement, or None while Kafka cannot give one (a broker lost, its partitions'
    leaders not moved yet): a look that failed says nothing about the lag."""
    try:
        return await probe.measure()
    except KafkaError as exc:
        print(f"storemon lag: Kafka did not answer ({exc}); looking again", file=sys.stderr)
        return None


async def _caught_up(settings: Settings, timeout_s: float, every_s: float) -> bool:
    probe = LagProbe(settings)
    await probe.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            lags = await _measured(probe)
            if lags is not None and sum(item.lag for item in lags) == 0:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(every_s)
    finally:
        await probe.stop()


def wait_caught_up(settings: Settings, timeout_s: float = 300.0, every_s: float = 0.1) -> bool:
    """Wait until every source partition's lag is 0; False if ``timeout_s`` passes first."""
    return asyncio.run(_caught_up(settings, timeout_s, every_s))


def render(lags: list[PartitionLag], statuses: dict[tuple[str, int], str] | None = None) -> str:
    """A table of lags (and statuses), and the totals."""
    statuses = statuses or {}
    lines = [f"{'topic':<40} {'partition':>9} {'end':>10} {'committed':>10} {'lag':>8}  status"]
    for item in lags:
        committed = "-" if item.committed is None else str(item.committed)
        status = statuses.get((item.topic, item.partition), "")
        numbers = f"{item.partition:>9} {item.end:>10} {committed:>10} {item.lag:>8}"
        lines.append(f"{item.topic:<40} {numbers}  {status}")
    lines.append(f"total lag: {sum(i.lag for i in lags)}")
    if statuses:
        lines.append(f"group status: {worst(list(statuses.values()))}")
    return "\n".join(lines)


async def _watch(settings: Settings, wait_zero: bool, timeout_s: float, samples: int) -> int:
    probe = LagProbe(settings)
    await probe.start()
    try:
        windows: dict[tuple[str, int], deque[Sample]] = {}
        deadline = time.monotonic() + timeout_s
        taken = 0
        while True:
            measured = await _measured(probe)
            if measured is None:
                if time.monotonic() > deadline:
                    print(f"storemon lag: Kafka did not answer for {timeout_s:.0f} s")
                    return 1
                await asyncio.sleep(1.0)
                continue
            lags = measured
            try:
                members = await probe.members()
            except KafkaError:
                members = 1  # unknown: judged as if consumers were there
            taken += 1
            now = time.monotonic()
            statuses = {}
            for item in lags:
                key = (item.topic, item.partition)
                window = windows.setdefault(key, deque(maxlen=max(samples, 2)))
                window.append(Sample(now, item.end, item.committed))
                statuses[key] = partition_status(window, members > 0)
            caught_up = all(item.lag == 0 for item in lags)
            if wait_zero and caught_up:
                print(render(lags, statuses))
                return 0
            if not wait_zero and taken >= samples:
                print(render(lags, statuses))
                return 0
            if wait_zero and time.monotonic() > deadline:
                print(render(lags, statuses))
                print(f"storemon lag: not caught up after {timeout_s:.0f} s")
                return 1
            await asyncio.sleep(0.5 if wait_zero else 1.0)
    finally:
        await probe.stop()


def run(settings: Settings, wait_zero: bool, timeout_s: float, samples: int = 3) -> int:
    """The ``storemon lag`` command."""
    return asyncio.run(_watch(settings, wait_zero, timeout_s, samples))
