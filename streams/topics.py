"""Every topic of the pipeline, its partitions and configs: the one place that names them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

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
    reports: TopicSpec
    report_schedule: TopicSpec
    polls_changelog: TopicSpec
    profiles_changelog: TopicSpec
    history_changelog: TopicSpec


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
        reports=TopicSpec(
            f"{p}.reports", 1, compacted,
            "key report id; value the report's record (status, times, rows, behind, error, "
            "file), the newest per report; a tombstone when the retention lets it go",
        ),
        report_schedule=TopicSpec(
            f"{p}.report-schedule", 1, {"retention.ms": str(DAY_MS)},
            "empty: the API instance of the scheduler group that holds its one partition "
            "takes the scheduled reports",
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
        history_changelog=TopicSpec(
            f"{settings.app_id}-history-changelog", n, compacted,
            "the history table's changelog (Faust): a store's final days, a record a "
            "month (streams/core/daystore.py); deleted records are tombstones",
        ),
    )  # fmt: skip


class Replication(NamedTuple):
    """How the pipeline's topics are replicated."""

    factor: int
    """Copies of every partition."""
    min_insync: int
    """``min.insync.replicas``: with ``acks=all``, a write is acknowledged once this many
    copies have it, so losing ``factor − min_insync`` brokers loses no acknowledged write."""


def replication_for(
    brokers: int, factor: int | None = None, min_insync: int | None = None
) -> Replication:
    """The replication of a cluster of ``brokers``: ``factor`` copies (default: as many as
    there are brokers, up to 3) and ``min_insync`` (default: one less, at least 1). The
    one rule for the project's topics and the local brokers' internal ones."""
    factor = factor or min(3, max(1, brokers))
    return Replication(factor, min_insync or max(1, factor - 1))


class TopicsReport(NamedTuple):
    """What :func:`ensure_topics_async` found and did."""

    created: list[str]
    """Topics it created."""
    replication: Replication
    """The replication asked for."""
    weaker: list[str]
    """Existing topics replicated less than that, each with what it has (left as they are)."""


async def ensure_topics_async(settings: Settings) -> TopicsReport:
    """Create whichever of the topics do not exist yet, replicated as the settings say;
    report (and never recreate) those that exist with weaker replication."""
    from aiokafka.admin import NewTopic

    from streams import kafka

    specs = list(topics_for(settings))
    admin = kafka.admin(settings)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster()).get("brokers") or [])
        wanted = replication_for(brokers, settings.replication_factor, settings.min_insync_replicas)
        if wanted.factor > max(brokers, 1):
            raise TopicsError(
                f"STOREMON_REPLICATION_FACTOR is {wanted.factor} but the cluster at "
                f"{settings.bootstrap_servers} has {brokers} broker(s): lower it, or add brokers"
            )
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        s.name, s.partitions, wanted.factor,
                        topic_configs={**s.config, "min.insync.replicas": str(wanted.min_insync)},
                    )
                    for s in missing
                ]
            )  # fmt: skip
            await _wait_for_metadata(admin, {s.name for s in missing})
        present = [s.name for s in specs if s.name in existing]
        try:
            weaker = await _weaker(admin, present, wanted) if present else []
        except Exception as exc:  # a check that cannot run must not stop the start
            weaker = [f"could not check how the existing topics are replicated: {exc!r}"]
        for problem in weaker:
            logging.getLogger(__name__).warning("%s", problem)
        return TopicsReport([s.name for s in missing], wanted, weaker)
    finally:
        await admin.close()


class TopicsError(RuntimeError):
    """The topics cannot be made as the settings ask; the message says why."""


class Replicated(NamedTuple):
    """How one existing topic is replicated now."""

    factor: int
    """The fewest replicas a partition of it has."""
    in_sync: int
    """The fewest of them in sync."""
    min_insync: int
    """Its ``min.insync.replicas``."""


async def describe_replication(admin: Any, names: list[str]) -> dict[str, Replicated]:
    """How each of the topics ``names`` is replicated now (an admin client's view)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    partitions = {t["topic"]: t["partitions"] for t in await admin.describe_topics(names)}
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, n, {"min.insync.replicas": None}) for n in names
    ]
    in_sync: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == "min.insync.replicas":
                    in_sync[resource["resource_name"]] = int(entry["config_value"])
    return {
        name: Replicated(
            min((len(p["replicas"]) for p in partitions.get(name, [])), default=0),
            min((len(p["isr"]) for p in partitions.get(name, [])), default=0),
            in_sync.get(name, 1),
        )
        for name in names
    }


async def _weaker(admin: Any, names: list[str], wanted: Replication) -> list[str]:
    """Existing topics with fewer replicas or a lower ``min.insync.replicas`` than wanted."""
    problems = []
    for name, now in (await describe_replication(admin, names)).items():
        if now.factor < wanted.factor or now.min_insync < wanted.min_insync:
            problems.append(
                f"topic {name} has replication factor {now.factor} and min.insync.replicas "
                f"{now.min_insync}, weaker than the {wanted.factor} and {wanted.min_insync} "
                "asked for (STOREMON_REPLICATION_FACTOR, STOREMON_MIN_INSYNC_REPLICAS): it is "
                "left as it is; raise it with kafka-reassign-partitions and kafka-configs"
            )
    return problems


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


def ensure_topics(settings: Settings) -> TopicsReport:
    """Synchronous :func:`ensure_topics_async`."""
    return asyncio.run(ensure_topics_async(settings))


def partition_of(store_id: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as Java and aiokafka)."""
    from aiokafka.partitioner import murmur2

    return int(murmur2(store_id) & 0x7FFFFFFF) % partitions
