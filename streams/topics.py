"""Every topic of the pipeline, its partitions and configs: the one place that names them."""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from streams.settings import Settings

DAY_MS = 24 * 3600 * 1000


class TopicSpec(NamedTuple):
    """A topic as created."""

    name: str
    """Full topic name, prefix included."""
    partitions: int
    """Partition count; store-keyed topics share one, so Faust co-partitions them."""
    config: dict[str, str]
    """Topic-level configs."""
    doc: str
    """What flows through it."""


class Topics(NamedTuple):
    """The pipeline's topics."""

    polls: TopicSpec
    hours: TopicSpec
    zones: TopicSpec
    report_requests: TopicSpec
    report_parts: TopicSpec
    dead_letters: TopicSpec
    worker_stats: TopicSpec
    alerts: TopicSpec
    polls_changelog: TopicSpec
    profiles_changelog: TopicSpec


def topics_for(settings: Settings) -> Topics:
    """The topics under ``settings.topic_prefix``."""
    p, n = settings.topic_prefix, settings.partitions
    compacted = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    return Topics(
        polls=TopicSpec(
            f"{p}.polls", n, {"retention.ms": str(30 * DAY_MS)},
            "key store id; value one poll or a batch of one store's polls (polls.schema.json)",
        ),
        hours=TopicSpec(
            f"{p}.store-hours", n, compacted,
            "key store id; value the store's whole weekly schedule (store-hours.schema.json)",
        ),
        zones=TopicSpec(
            f"{p}.store-timezones", n, compacted,
            "key store id; value the store's IANA time zone (store-timezone.schema.json)",
        ),
        report_requests=TopicSpec(
            f"{p}.report-requests", n, {"retention.ms": str(DAY_MS)},
            "one request per partition: report id, phase, report time (report-request.schema.json)",
        ),
        report_parts=TopicSpec(
            f"{p}.report-parts", 1, {"retention.ms": str(DAY_MS)},
            "a partition's answer: its newest poll time, or its rows (report-part.schema.json)",
        ),
        dead_letters=TopicSpec(
            f"{p}.dead-letters", 1, {"retention.ms": str(30 * DAY_MS)},
            "each rejected row or message, where it came from and why (dead-letter.schema.json)",
        ),
        worker_stats=TopicSpec(
            f"{p}.worker-stats", 1, {"retention.ms": str(DAY_MS)},
            "each worker's counters, every few seconds (worker-stats.schema.json)",
        ),
        alerts=TopicSpec(
            f"{p}.alerts", n, {"retention.ms": str(7 * DAY_MS)},
            "key store id; value a CloudEvent 1.0 (storemon.store.down, .up, .silent)",
        ),
        # Faust names its tables' changelogs "<app id>-<table>-changelog".
        polls_changelog=TopicSpec(
            f"{settings.app_id}-polls-changelog", n,
            {"cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.1",
             "retention.ms": str(int(settings.changelog_retention_s * 1000)),
             "segment.ms": str(DAY_MS)},
            "the polls table's changelog (Faust): one record per segment written "
            "(streams/core/segments.py); records older than the retention are deleted, "
            "and workers write what they still keep again every refresh_every_s",
        ),
        profiles_changelog=TopicSpec(
            f"{settings.app_id}-profiles-changelog", n, compacted,
            "the profiles table's changelog (Faust): key store id, value profile JSON",
        ),
    )  # fmt: skip


async def ensure_topics_async(settings: Settings) -> list[str]:
    """Create whichever of the topics do not exist yet; returns the names created."""
    from aiokafka.admin import NewTopic

    from streams import kafka

    specs = list(topics_for(settings))
    admin = kafka.admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
            )
            await _wait_for_metadata(admin, {s.name for s in missing})
        return [s.name for s in missing]
    finally:
        await admin.close()


async def _wait_for_metadata(admin: object, names: set[str], timeout_s: float = 30.0) -> None:
    list_topics = admin.list_topics  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not names <= set(await list_topics()):
        if loop.time() > deadline:
            logging.getLogger(__name__).warning(
                "topics %s not visible after %.0f s", names, timeout_s
            )
            return
        await asyncio.sleep(0.2)


def ensure_topics(settings: Settings) -> list[str]:
    """Synchronous :func:`ensure_topics_async`."""
    return asyncio.run(ensure_topics_async(settings))


def partition_of(store_id: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as Java and aiokafka)."""
    from aiokafka.partitioner import murmur2

    return int(murmur2(store_id) & 0x7FFFFFFF) % partitions
