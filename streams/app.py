"""The one Faust app: its configuration, topics and tables (agents live in ``agents/``)."""

from __future__ import annotations

import faust

from streams.core.snapshot import ProfileIndex, StoreIndex
from streams.settings import get_settings
from streams.topics import topics_for

settings = get_settings()
TOPICS = topics_for(settings)

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
    store="rocksdb://",
    datadir=str(settings.data_dir),
    autodiscover=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    table_standby_replicas=0,
    processing_guarantee="at_least_once",
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    web_enabled=settings.web_port is not None,
    web_port=settings.web_port or 6066,
    broker_commit_interval=1.0,
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
)


def _raw_topic(name: str) -> faust.TopicT:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


polls_topic = _raw_topic(TOPICS.polls.name)
hours_topic = _raw_topic(TOPICS.hours.name)
zones_topic = _raw_topic(TOPICS.zones.name)
report_requests_topic = _raw_topic(TOPICS.report_requests.name)
report_parts_topic = _raw_topic(TOPICS.report_parts.name)
dead_letters_topic = _raw_topic(TOPICS.dead_letters.name)
worker_stats_topic = _raw_topic(TOPICS.worker_stats.name)

# Per-store state, keyed by store id (bytes), RocksDB-backed, with changelogs.
# (bytes keys and values: Faust then uses its "raw" codec, no JSON round trip.)
poll_logs = app.Table(
    "poll-logs", key_type=bytes, value_type=bytes, partitions=settings.partitions,
    help="each store's retained polls (PollLog.to_bytes)",
)  # fmt: skip
profiles = app.Table(
    "profiles", key_type=bytes, value_type=bytes, partitions=settings.partitions,
    help="each store's weekly schedule and zone (JSON)",
)  # fmt: skip

# In memory beside poll-logs: each partition's stores, so that a report reads its own.
poll_index = StoreIndex()
profile_index = ProfileIndex()


@app.on_partitions_revoked.connect
async def _forget_on_revoke(sender: faust.App, revoked: set[faust.types.TP], **_: object) -> None:
    poll_index.clear()
    profile_index.clear()


@app.on_partitions_assigned.connect
async def _forget_on_assign(sender: faust.App, assigned: set[faust.types.TP], **_: object) -> None:
    poll_index.clear()
    profile_index.clear()
