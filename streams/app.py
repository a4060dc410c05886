"""The one Faust app: its configuration, topics and tables (agents live in ``agents/``)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import faust
from faust.types import StoreT

from streams.core.payloads import decode_stored_profile, encode_profile, merge_stored
from streams.core.segments import NEWEST, store_of
from streams.core.snapshot import TimelineCache
from streams.kafka import faust_credentials
from streams.settings import get_settings
from streams.state.index import StoreIndex
from streams.state.profiles import ProfileIndex
from streams.state.rocksdb import Store
from streams.state.segments import KafkaChangelog, SegmentStore, TableStore
from streams.topics import partition_of, topics_for

settings = get_settings()
TOPICS = topics_for(settings)

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
    broker_credentials=faust_credentials(settings),
    store="rocksdb://",
    datadir=str(settings.data_dir),
    autodiscover=False,
    topic_partitions=settings.partitions,
    # worker.run puts the replication the topics were made with in the settings first.
    topic_replication_factor=settings.replication_factor or 1,
    # With two workers or more, each keeps a warm copy of another's partitions (its tables
    # and, through ``PollsTable``, its timelines), so a worker lost is replaced in seconds.
    table_standby_replicas=1,
    processing_guarantee="at_least_once",
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    web_enabled=settings.web_port is not None,
    web_port=settings.web_port or 6066,
    broker_commit_interval=settings.commit_every_s,
    broker_session_timeout=settings.session_timeout_s,
    # A survivor hears of a rebalance at its next heartbeat: once a second, so a worker
    # lost is replaced about a session timeout after it went, not up to 3 s later.
    broker_heartbeat_interval=min(1.0, settings.session_timeout_s / 3),
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
alerts_topic = _raw_topic(TOPICS.alerts.name)


class Table(faust.Table):  # type: ignore[type-arg]  # faust's generics are untyped
    """A table kept in this app's RocksDB store (``streams/state/rocksdb.py``)."""

    def _new_store_by_url(self, url: Any) -> StoreT:  # type: ignore[type-arg]  # untyped generic
        # Faust's own call (``faust.tables.base``), with the store class chosen here.
        return Store(
            url, self.app, self, table_name=self.name, key_type=self.key_type,
            key_serializer=self.key_serializer, value_serializer=self.value_serializer,
            value_type=self.value_type, loop=self.loop, options=self.options,
        )  # fmt: skip

    def _on_changelog_sent(self, fut: Any) -> None:
        # Faust's own (``faust.tables.base``) moves the persisted offset to every record
        # acknowledged; ours moves it only over records that follow on from it.
        result = fut.result()
        self.data.own_write_acknowledged(result.topic_partition, result.offset, result.offset)  # type: ignore[attr-defined]  # our Store


class PollsTable(Table):
    """The ``polls`` table: its changelog batches, applied on a restore or by a standby,
    also tell the in-memory index which stores changed."""

    def apply_changelog_batch(self, batch: Iterable[faust.EventT[bytes]]) -> None:
        """Write the batch to RocksDB, then note every store it touched."""
        events = list(batch)
        store: Any = self.data  # our Store (streams/state/rocksdb.py)
        newest: dict[int, bytes] = {}
        for event in events:  # the newest poll time only grows, whoever wrote last
            message = event.message
            if message.key == NEWEST and message.value:
                held = newest.get(message.partition)
                if held is None:
                    held = store._db_for_partition(message.partition).get(NEWEST) or b""
                message.value = newest[message.partition] = max(
                    message.value, held, key=lambda v: int.from_bytes(v, "big")
                )
        super().apply_changelog_batch(events)
        now = time.time()
        for event in events:
            message = event.message
            if message.key == NEWEST and message.value:
                index.newer(message.partition, int.from_bytes(message.value, "big"))
                continue
            store = store_of(message.key or b"")
            if store is not None:
                index.wrote(message.partition, store, 1, now)


class ProfilesTable(Table):
    """The ``profiles`` table: its changelog batches, applied on a restore or by a standby,
    are merged part by part with what is stored (``payloads.merge_stored``: a record of a
    worker that had lost the partition without knowing it never makes a part older), keep
    the profile index current and tell the store index that a partition changed, as a
    write by this worker would (so a standby's copy needs no reading again when it becomes
    active)."""

    def apply_changelog_batch(self, batch: Iterable[faust.EventT[bytes]]) -> None:
        """Merge the batch into RocksDB, then note every profile it changed."""
        events = list(batch)
        merged: dict[tuple[int, bytes], bytes] = {}
        for event in events:
            message = event.message
            if message.key is None or message.value is None:
                continue
            where = (message.partition, message.key)
            current = merged.get(where)
            if current is None:
                store: Any = self.data  # our Store (streams/state/rocksdb.py)
                current = store._db_for_partition(message.partition).get(message.key)
            value = encode_profile(
                merge_stored(decode_stored_profile(current), decode_stored_profile(message.value))
            )
            message.value = merged[where] = value
        super().apply_changelog_batch(events)
        for event in events:
            message = event.message
            if message.key is not None:
                profile_index.put(message.key, message.value)
                index.touch(message.partition)


STANDBY_BUFFER = 50
"""A standby applies changelog records in batches of this many per partition (Faust's
default, 1,000, leaves up to 999 records of a quiet partition unapplied, and their stores
cold, until the partition fails over)."""


def _table(cls: Any, name: str, help_: str) -> Any:
    # bytes keys and values: Faust then uses its "raw" codec, no JSON round trip.
    return app.tables.add(
        cls(
            app, name=name, beacon=app.tables.beacon, key_type=bytes, value_type=bytes,
            partitions=settings.partitions, help=help_, standby_buffer_size=STANDBY_BUFFER,
        )
    )  # fmt: skip


# Per-store state, RocksDB-backed, with changelogs (see streams/core/segments.py).
polls = _table(PollsTable, "polls", "each store's polls as append-only segments")
profiles = _table(ProfilesTable, "profiles", "each store's weekly schedule and zone (JSON)")
history = _table(Table, "history", "each store's final days, a record a month")


def raw_producer() -> Any:
    """Faust's own aiokafka producer (made lazily), so that Faust's flush before each
    offset commit covers what is sent on it too: the changelog, the alerts."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]  # the aiokafka driver's


segments = SegmentStore(
    polls, KafkaChangelog(polls, polls.changelog_topic.get_topic_name(), raw_producer)
)
profile_store = TableStore(
    profiles, KafkaChangelog(profiles, profiles.changelog_topic.get_topic_name(), raw_producer)
)
"""The profiles table, written a batch of updates at a time (``agents/ingest.py``)."""
history_store = TableStore(
    history, KafkaChangelog(history, history.changelog_topic.get_topic_name(), raw_producer)
)
"""The history table: final days, written when a store is compacted (``core/daystore.py``)."""
index = StoreIndex(settings.refresh_every_s, lambda p: (segments.stores(p), segments.newest(p)))
profile_index = ProfileIndex()
timelines = TimelineCache(settings.timeline_cache_bytes)


@lru_cache(maxsize=262_144)
def home_partition(store: bytes) -> int:
    """The partition a store's messages and state belong to (cached: murmur2 in Python)."""
    return partition_of(store, settings.partitions)


def owned_partitions() -> list[int]:
    """The polls partitions this worker processes now (its active ones), in order."""
    topic = polls_topic.get_topic_name()
    return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


def held_partitions() -> set[int]:
    """The partitions this worker holds now, active or standby."""
    assignor = app.assignor
    tps = assignor.assigned_actives() | assignor.assigned_standbys()
    names = {polls_topic.get_topic_name(), polls.changelog_topic.get_topic_name()}
    return {tp.partition for tp in tps if tp.topic in names}


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust types the sender positional-only
async def _forget_moved(sender: Any, *_: Any, signal: Any = None, **__: Any) -> None:
    # What this worker still holds (active or standby) stayed current in RocksDB and in
    # memory, through its own writes or the changelogs; a partition it no longer holds may
    # change elsewhere: forget it now, and read it again if it comes back. A partition
    # active here before and after kept its remembered answer: every write went through
    # here. (A failover loses nothing warm: no full scan, no answer built again for the
    # partitions the survivor had all along.)
    gone = set(index.loaded()) - held_partitions()
    if gone:
        timelines.forget(index.drop(gone))
        profile_index.clear()  # only the stores of held partitions are in it
    active = set(owned_partitions())
    index.forget_answers(active - _active)
    _active.clear()
    _active.update(active)


_active: set[int] = set()
"""The polls partitions active here since the last rebalance."""
