"""Polls, hours and zones into the per-store tables.

Polls are taken in batches (``take_events``: up to ``BATCH`` messages, or what came within
``WITHIN_S``), grouped by store, and written as one new segment per store with one RocksDB
write per partition (``streams/core/segments.py``). Faust acknowledges a batch's offsets
after the loop body, so after the writes; a batch read again after a crash writes
segments that hold the same polls, which changes nothing.

Why ``take_events`` and not ``stream.noack()`` with manual acks: the latter lost messages.
A worker restarted mid-replay skipped one message in about ten on most partitions about
one run in three, and Faust committed past them (found by the kill-and-restart test;
faust-streaming issue #527 reports the same). ``take_events`` lost none in the same runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import faust
import numpy as np

from streams.agents import alerts, rereads
from streams.agents.deadletters import reject, reject_record
from streams.app import (
    app,
    home_partition,
    hours_topic,
    index,
    polls_topic,
    profile_index,
    profile_store,
    segments,
    settings,
    zones_topic,
)
from streams.core.exceptions import PayloadError
from streams.core.payloads import (
    StoredProfile,
    Update,
    decode_hours,
    decode_polls,
    decode_stored_profile,
    decode_zone,
    encode_hours,
    encode_profile,
    encode_zone,
    with_hours,
    with_zone,
)
from streams.core.pollkeys import Keys, normalize_keys
from streams.core.segments import encode
from streams.counters import counters

log = logging.getLogger(__name__)
BATCH = 4_000
WITHIN_S = 0.1
"""How long a batch waits for more messages once the first has come."""
BUSY_PER_S = 200


class Load:
    """Whether the polls agent is working through a backlog (over ``BUSY_PER_S`` messages
    in the last second or the one before), so that work that can wait (warming,
    compaction) does."""

    def __init__(self) -> None:
        self._second = 0
        self._count = 0
        self._last = 0

    def batch(self, size: int) -> None:
        """Record a batch of ``size`` messages."""
        second = int(time.monotonic())
        if second != self._second:
            self._last = self._count if second == self._second + 1 else 0
            self._second, self._count = second, 0
        self._count += size

    def busy(self) -> bool:
        """True while messages keep coming fast."""
        self.batch(0)
        return max(self._count, self._last) >= BUSY_PER_S


load = Load()


async def _misrouted(event: faust.EventT[bytes], topic: faust.TopicT, store: bytes) -> bool:
    """Forward a message whose key does not put it in its store's partition.

    A store's state must live in one partition. A producer that sent without the store id
    as key is forgiven: the message goes again, keyed, to where it belongs.
    """
    if event.message.partition == home_partition(store):
        return False
    await topic.send(key=store, value=event.value)
    return True


@app.agent(polls_topic, name="ingest-polls")
async def ingest_polls(stream: faust.StreamT[bytes]) -> None:
    """Each batch of messages: one new segment per store, one write per partition; the
    batch's offsets are acknowledged (by ``take_events``) after its writes."""
    async for events in stream.take_events(BATCH, WITHIN_S):  # type: ignore[attr-defined]  # Stream has it
        await ingest_batch(events)
        load.batch(len(events))
        rereads.processed(events)


async def ingest_batch(events: Sequence[faust.EventT[bytes]]) -> None:
    """Decode, check and group a batch of polls messages, then write them."""
    bounds = settings.time_bounds()
    groups: dict[tuple[int, bytes], list[Keys]] = {}
    for event in events:
        try:
            batch = decode_polls(event.value, bounds)
        except PayloadError as exc:
            await reject(event, str(exc))
            continue
        store = batch.store_id.encode()
        if await _misrouted(event, polls_topic, store):
            continue
        if batch.rejected:
            await reject(event, "; ".join(batch.rejected))
        if len(batch.keys):
            groups.setdefault((event.message.partition, store), []).append(batch.keys)
    if groups:
        await write_groups(groups)


async def write_groups(groups: dict[tuple[int, bytes], list[Keys]]) -> None:
    """One segment per store, one RocksDB write (and its changelog records) per partition."""
    now = time.time()
    puts: dict[int, dict[bytes, bytes]] = {}
    stores: dict[int, list[bytes]] = {}
    newest: dict[int, int] = {}
    written: list[tuple[int, bytes, Keys]] = []
    for (partition, store), parts in groups.items():
        keys = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if len(keys) > 1:
            keys = normalize_keys(keys)
        written.append((partition, store, keys))
        key, value = encode(store, keys)
        puts.setdefault(partition, {})[key] = value
        stores.setdefault(partition, []).append(store)
        last = int(keys[-1]) >> 1
        if last > newest.get(partition, last - 1):
            newest[partition] = last
        counters.processed(partition, len(keys), last)
    for partition, batch in puts.items():
        index.partition(partition, now)
        stamp = newest[partition] if index.newer(partition, newest[partition]) else None
        await segments.write(partition, batch, newest_us=stamp)
        for store in stores[partition]:
            index.wrote(partition, store, 1, now)
    await alerts.observe(written)


def _version(update: Update, timestamp_s: float | None) -> int:
    """An update's version: the producer's, or else the message's own timestamp."""
    if update.version is not None:
        return update.version
    return int((timestamp_s or 0) * 1_000_000)


class Incoming(NamedTuple):
    """One profile update as it came: from the stream, or read again from the log."""

    topic: str
    partition: int
    offset: int
    value: bytes
    timestamp_s: float | None


class _Profiles:
    """How one profile topic's updates change the stores' profiles, a batch at a time: the
    changed profiles are written with one RocksDB write (and one changelog record batch)
    per partition. Through Faust's table, each update would cost more than the update
    itself (a buffered send, a callback and a RocksDB write each)."""

    def __init__(
        self,
        topic: faust.TopicT,
        decode: Callable[[bytes], Update],
        encode_again: Callable[[str, Any, int], bytes],
        change: Callable[[StoredProfile, Any, int], StoredProfile | None],
    ) -> None:
        self.topic, self.decode = topic, decode
        self.encode_again, self.change = encode_again, change

    async def apply(self, batch: Sequence[Incoming]) -> None:
        """Apply a batch of updates, each unless a newer one is already there."""
        async with _profile_writes:
            await self._apply(batch)

    async def _apply(self, batch: Sequence[Incoming]) -> None:
        puts: dict[int, dict[bytes, bytes]] = {}
        for incoming in batch:
            try:
                update = self.decode(incoming.value)
            except PayloadError as exc:
                await reject_record(
                    incoming.topic, incoming.partition, incoming.offset, incoming.value, str(exc)
                )
                continue
            store = update.store_id.encode()
            version = _version(update, incoming.timestamp_s)
            if incoming.partition != home_partition(store):
                # Forwarded with its version: if it arrives after a newer update sent
                # straight to the store's partition, the newer one still wins.
                value = self.encode_again(update.store_id, update.value, version)
                await self.topic.send(key=store, value=value)
                continue
            partition_puts = puts.setdefault(incoming.partition, {})
            held = partition_puts.get(store)
            if held is None:
                held = profile_index.get(
                    store, functools.partial(profile_store.get, incoming.partition)
                )
            changed = self.change(decode_stored_profile(held), update.value, version)
            if changed is None:
                counters.stale += 1
                continue
            partition_puts[store] = encode_profile(changed)
        for partition, written in puts.items():
            await profile_store.put(partition, written)
            for store, profile_bytes in written.items():
                profile_index.put(store, profile_bytes)
            index.touch(partition)

    async def read_again(self, records: Sequence[Any]) -> None:
        """Records the engine skipped, read again from the log (``agents/rereads.py``)."""
        await self.apply(
            [
                Incoming(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.value,
                    None if r.timestamp is None else r.timestamp / 1000,
                )
                for r in records
            ]
        )

    async def run(self, stream: faust.StreamT[bytes]) -> None:
        """Each batch of the stream; its offsets are acknowledged (by ``take_events``)
        after its writes."""
        async for events in stream.take_events(BATCH, WITHIN_S):  # type: ignore[attr-defined]  # Stream has it
            await self.apply(
                [
                    Incoming(
                        m.topic,
                        m.partition,
                        m.offset,
                        m.value if isinstance(m.value, bytes) else bytes(str(m.value), "utf-8"),
                        m.timestamp,
                    )
                    for m in (event.message for event in events)
                ]
            )
            rereads.processed(events)


_profile_writes = asyncio.Lock()
"""Held while a batch's profiles are read and written: the hours and the zones agent (and
the records read again) change parts of the same records."""


_hours = _Profiles(hours_topic, decode_hours, encode_hours, with_hours)
_zones = _Profiles(zones_topic, decode_zone, encode_zone, with_zone)
rereads.read_again_with(hours_topic.get_topic_name(), _hours.read_again)
rereads.read_again_with(zones_topic.get_topic_name(), _zones.read_again)


@app.agent(hours_topic, name="ingest-hours")
async def ingest_hours(stream: faust.StreamT[bytes]) -> None:
    """Replace a store's weekly schedule, whole, unless a newer one is already there."""
    await _hours.run(stream)


@app.agent(zones_topic, name="ingest-timezones")
async def ingest_zones(stream: faust.StreamT[bytes]) -> None:
    """Replace a store's time zone, unless a newer one is already there."""
    await _zones.run(stream)
