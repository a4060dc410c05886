"""The ``polls`` table's RocksDB partitions, read and written a segment at a time.

Faust keeps one RocksDB per table partition (``table.data``); the agents write segments
straight into it with one ``WriteBatch`` per partition and send the same puts to the
changelog, which is what a restore or a standby replays. Deletes (retention, merging) are
local only: the changelog drops records by age instead (``streams/topics.py``).

The changelog records of one write go as one Kafka record batch on Faust's own producer
(whose flush, before every offset commit, waits for them), and the table's persisted
offset is set once per batch when the broker acknowledges it: Faust's per-record path
(a buffered send, a callback and a RocksDB write per record) would cost more than the
rest of a live poll's processing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from faust.types import TP
from rocksdict import Rdict, WriteBatch

from streams.core.segments import NEWEST, SEGMENT, prefix, store_of

log = logging.getLogger(__name__)


class Table(Protocol):
    """What this needs of a Faust table: its store (``faust.stores.rocksdb.Store``)."""

    @property
    def data(self) -> Any:
        """The table's store."""


class Changelog(Protocol):
    """Where a write's changelog records go."""

    async def send(self, partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
        """Send the records, in order, to the changelog partition."""


async def send_batches(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    records: Sequence[tuple[bytes, bytes | None]],
    headers: Sequence[tuple[str, bytes]] = (),
) -> list[tuple[asyncio.Future[RecordMetadata], int]]:
    """Send records, in order, to one partition as few Kafka record batches as they fit in
    (Faust's per-record send costs more than the rest of a live poll); each batch's
    future, with its record count. Every record carries ``headers``."""
    sent = []
    listed = list(headers)  # aiokafka's record builder takes a list, nothing else
    batch = producer.create_batch()
    for key, value in records:
        while batch.append(key=key, value=value, timestamp=None, headers=listed) is None:
            sent.append(await _send_batch(producer, batch, topic, partition))
            batch = producer.create_batch()  # full: sent, start another
    if batch.record_count():
        sent.append(await _send_batch(producer, batch, topic, partition))
    return sent


async def _send_batch(
    producer: AIOKafkaProducer, batch: Any, topic: str, partition: int
) -> tuple[asyncio.Future[RecordMetadata], int]:
    count = batch.record_count()
    batch.close()
    return await producer.send_batch(batch, topic, partition=partition), count


class KafkaChangelog:
    """The table's changelog topic, written a record batch at a time on ``producer``."""

    def __init__(self, table: Table, topic: str, producer: Callable[[], AIOKafkaProducer]) -> None:
        self.table = table
        self.topic = topic
        self._producer = producer

    @property
    def producer(self) -> AIOKafkaProducer:
        """The producer (it exists once the app has started)."""
        return self._producer()

    async def send(self, partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
        """Send the records; once acknowledged, the last one's offset is persisted."""
        for future, count in await send_batches(self.producer, self.topic, partition, records):
            future.add_done_callback(
                lambda f, count=count: self._acknowledged(f, partition, count)  # type: ignore[misc]
            )

    def _acknowledged(
        self, future: asyncio.Future[RecordMetadata], partition: int, count: int
    ) -> None:
        if future.cancelled() or future.exception() is not None:
            log.error(
                "the changelog write to %s partition %d failed (%s): the local state is "
                "ahead of the changelog until the next write of those stores",
                self.topic, partition, future.exception() or "cancelled",
            )  # fmt: skip
            return
        first = future.result().offset
        self.table.data.own_write_acknowledged(TP(self.topic, partition), first, first + count - 1)


class TableStore:
    """A table's RocksDB partitions (those this worker holds, active or standby), written
    with one atomic ``WriteBatch`` per partition whose puts go to the changelog as record
    batches."""

    def __init__(self, table: Table, changelog: Changelog | None = None) -> None:
        self.table = table
        self.changelog = changelog

    def _db(self, partition: int) -> Rdict:
        db: Rdict = self.table.data._db_for_partition(partition)
        return db

    def get(self, partition: int, key: bytes) -> bytes | None:
        """One key's value in one partition (Faust's own ``get`` tries every partition)."""
        value: bytes | None = self._db(partition).get(key)
        return value

    def scan(self, partition: int, start: bytes) -> dict[bytes, bytes]:
        """Every key of one partition beginning with ``start``, with its value (in key
        order)."""
        out: dict[bytes, bytes] = {}
        it = self._db(partition).iter()
        it.seek(start)
        while it.valid():
            key = it.key()
            if not key.startswith(start):
                break
            out[key] = it.value()
            it.next()
        return out

    async def put(
        self,
        partition: int,
        puts: Mapping[bytes, bytes],
        deletes: Iterable[bytes] = (),
        *,
        tombstones: bool = False,
    ) -> None:
        """One atomic RocksDB write; the puts go to the changelog too, and the deletes as
        tombstones with ``tombstones`` (the segments' deletes need none: their changelog
        deletes records by age)."""
        batch = WriteBatch(raw_mode=True)
        records: list[tuple[bytes, bytes | None]] = list(puts.items())
        for key, value in puts.items():
            batch.put(key, value)
        gone = list(deletes)
        for key in gone:
            batch.delete(key)
        self._db(partition).write(batch)
        if tombstones:
            records += [(key, None) for key in gone]
        if self.changelog is not None and records:
            await self.changelog.send(partition, records)


class SegmentStore(TableStore):
    """Segments of the stores of the partitions this worker holds (active or standby)."""

    def read(self, partition: int, store: bytes) -> dict[bytes, bytes]:
        """Every segment of ``store``, by key (in key order)."""
        return self.scan(partition, prefix(store))

    def stores(self, partition: int) -> list[bytes]:
        """The stores with segments in ``partition``: one seek per store, not per key."""
        found: list[bytes] = []
        it = self._db(partition).iter()
        it.seek(SEGMENT)
        while it.valid():
            store = store_of(it.key())
            if store is None:
                break
            found.append(store)
            it.seek(SEGMENT + store + b"\x01")  # just past the store's last segment
        return found

    def newest(self, partition: int) -> int | None:
        """The partition's newest poll time, as last written."""
        value = self._db(partition).get(NEWEST)
        return int.from_bytes(value, "big") if value else None

    async def write(
        self,
        partition: int,
        puts: Mapping[bytes, bytes],
        deletes: Iterable[bytes] = (),
        newest_us: int | None = None,
    ) -> None:
        """One atomic write of segments (``put``), with the partition's newest poll time."""
        if newest_us is not None:
            puts = {**puts, NEWEST: newest_us.to_bytes(8, "big")}
        await self.put(partition, puts, deletes)
