"""The reports topic, read into every API instance's index and written by each.

At start-up an instance reads ``storemon.reports`` (compacted: the newest record per
report, and tombstones) from its beginning to its end before it says it is up, then keeps
reading, so that any instance answers for any report. Its own writes go to the index at
once and come back later from the topic (the index keeps the newer version).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from api.coordinator import KafkaUnavailableError
from api.reportstore import ReportStore
from streams import kafka
from streams.settings import Settings
from streams.topics import ensure_topics_async, topics_for

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 15.0
SYNC_TIMEOUT_S = 3.0


class ReportLog:
    """Reads the reports topic into a store's index; writes records to it."""

    def __init__(self, settings: Settings, store: ReportStore) -> None:
        self.settings = settings
        self.store = store
        self.topic = topics_for(settings).reports.name
        self._producer: Any = None
        self.unreadable = 0
        """Records of the topic that were not report records (skipped)."""
        self.on_connected: Callable[[], None] = lambda: None
        """Called once the topic is read to its end (the supervisor marks the task up)."""
        self.loaded = asyncio.Event()
        """Set once the index holds every record the topic had at start-up."""
        self._consumer: Any = None
        self._next = 0
        """The offset after the newest record applied."""

    async def sync(self, timeout_s: float = SYNC_TIMEOUT_S) -> None:
        """Wait (at most ``timeout_s``) until every record written so far is in the index:
        a report triggered on another instance a moment ago is then known here."""
        consumer = self._consumer
        if consumer is None:
            return
        tp = TopicPartition(self.topic, 0)
        deadline = time.monotonic() + timeout_s
        try:
            end = (await asyncio.wait_for(consumer.end_offsets([tp]), timeout_s))[tp]
        except (KafkaError, TimeoutError):
            return
        while self._next < end and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def put(self, report_id: str, record: dict[str, Any] | None) -> None:
        """Write a record (None: a tombstone); raises :class:`KafkaUnavailableError` when
        Kafka does not take it."""
        producer = self._producer
        if producer is None:
            raise KafkaUnavailableError("not connected to Kafka yet: try again in a moment")
        value = orjson.dumps(record) if record is not None else None
        try:
            await asyncio.wait_for(
                producer.send_and_wait(self.topic, key=report_id.encode(), value=value),
                SEND_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailableError(
                f"Kafka did not take the report record ({type(exc).__name__}); try again"
            ) from exc

    async def run(self) -> None:
        """Connect, read the topic to its end, then follow it (supervised)."""
        producer = kafka.producer(
            self.settings, acks="all", enable_idempotence=True, linger_ms=0,
            request_timeout_ms=15_000,
        )  # fmt: skip
        consumer = kafka.consumer(self.settings, group_id=None, enable_auto_commit=False)
        try:
            await ensure_topics_async(self.settings)
            await producer.start()
            await consumer.start()
            tp = TopicPartition(self.topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            self._producer, self._consumer = producer, consumer
            while await consumer.position(tp) < end:
                self._apply(await consumer.getmany(tp, timeout_ms=1000, max_records=5000))
            self.loaded.set()
            log.info("report records read: %d reports known", len(self.store))
            self.on_connected()
            while True:
                self._apply(await consumer.getmany(tp, timeout_ms=1000, max_records=5000))
        finally:
            self._producer = self._consumer = None
            for client in (consumer, producer):
                with contextlib.suppress(Exception):
                    await client.stop()

    def _apply(self, batches: dict[Any, list[Any]]) -> None:
        for records in batches.values():
            for message in records:
                self._next = message.offset + 1
                try:
                    report_id = message.key.decode()
                    record = orjson.loads(message.value) if message.value is not None else None
                    if record is not None and record.get("report_id") != report_id:
                        raise ValueError("its key is not its report id")
                except (AttributeError, UnicodeDecodeError, ValueError) as exc:
                    self.unreadable += 1
                    log.warning(
                        "%s offset %d: not a report record (%s); skipped",
                        self.topic, message.offset, exc,
                    )  # fmt: skip
                    continue
                self.store.apply(report_id, record)
