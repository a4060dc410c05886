"""Polls, hours and zones into the per-store tables: one table write per message."""

from __future__ import annotations

from collections.abc import Callable

import faust

from streams.agents.deadletters import decoded, reject
from streams.agents.stats import counters
from streams.app import (
    app,
    hours_topic,
    poll_index,
    poll_logs,
    polls_topic,
    profile_index,
    profiles,
    settings,
    zones_topic,
)
from streams.core.payloads import (
    decode_hours,
    decode_polls,
    decode_profile,
    decode_zone,
    encode_profile,
)
from streams.core.polllog import PollLog
from streams.core.schedule import Profile
from streams.topics import partition_of


async def _misrouted(event: faust.EventT, topic: faust.TopicT, store: bytes) -> bool:
    """Forward a message whose key does not put it in its store's partition.

    A store's state must live in one partition. A producer that sent without the store id
    as key is forgiven: the message goes again, keyed, to where it belongs.
    """
    if event.message.partition == partition_of(store, settings.partitions):
        return False
    await topic.send(key=store, value=event.value)
    return True


@app.agent(polls_topic, name="ingest-polls")
async def ingest_polls(stream: faust.StreamT[bytes]) -> None:
    """Merge each message's polls into its store's poll log."""
    async for event, batch in decoded(stream, lambda d: decode_polls(d, settings.time_bounds())):
        store = batch.store_id.encode()
        if await _misrouted(event, polls_topic, store):
            continue
        if batch.rejected:
            await reject(event, "; ".join(batch.rejected))
        if not len(batch.keys):
            continue
        stored = poll_logs.get(store)
        log = PollLog.from_bytes(stored) if stored else PollLog()
        log.add_keys(batch.keys)
        log_bytes = log.to_bytes()
        poll_logs[store] = log_bytes
        poll_index.put(event.message.partition, store, log_bytes)
        counters.processed(event.message.partition, len(batch.keys), int(batch.keys.max()) >> 1)


async def _update_profiles(
    stream: faust.StreamT[bytes],
    topic: faust.TopicT,
    decode: Callable[[bytes], tuple[str, object]],
    change: Callable[[Profile, object], Profile],
) -> None:
    async for event, (store_id, value) in decoded(stream, decode):
        store = store_id.encode()
        if await _misrouted(event, topic, store):
            continue
        profile_bytes = encode_profile(change(decode_profile(profiles.get(store)), value))
        profiles[store] = profile_bytes
        profile_index.put(store, profile_bytes)


@app.agent(hours_topic, name="ingest-hours")
async def ingest_hours(stream: faust.StreamT[bytes]) -> None:
    """Replace a store's weekly schedule, whole."""
    await _update_profiles(
        stream, hours_topic, decode_hours, lambda old, shifts: old._replace(shifts=shifts)
    )


@app.agent(zones_topic, name="ingest-timezones")
async def ingest_zones(stream: faust.StreamT[bytes]) -> None:
    """Replace a store's time zone."""
    await _update_profiles(
        stream, zones_topic, decode_zone, lambda old, zone: old._replace(zone=zone)
    )
