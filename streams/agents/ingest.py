"""Polls, hours and zones into the per-store tables: one table write per message."""

from __future__ import annotations

import faust

from streams.agents.deadletters import reject
from streams.app import app, hours_topic, poll_logs, polls_topic, profiles, settings, zones_topic
from streams.core.payloads import (
    PayloadError,
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
    async for event in stream.events():
        try:
            batch = decode_polls(event.value)
        except PayloadError as exc:
            await reject(event, str(exc))
            continue
        store = batch.store_id.encode()
        if await _misrouted(event, polls_topic, store):
            continue
        stored = poll_logs.get(store)
        log = PollLog.from_bytes(stored) if stored else PollLog()
        log.add_keys(batch.keys)
        poll_logs[store] = log.to_bytes()


@app.agent(hours_topic, name="ingest-hours")
async def ingest_hours(stream: faust.StreamT[bytes]) -> None:
    """Replace a store's weekly schedule, whole."""
    async for event in stream.events():
        try:
            store_id, shifts = decode_hours(event.value)
        except PayloadError as exc:
            await reject(event, str(exc))
            continue
        store = store_id.encode()
        if await _misrouted(event, hours_topic, store):
            continue
        old = decode_profile(profiles.get(store))
        profiles[store] = encode_profile(Profile(shifts, old.zone))


@app.agent(zones_topic, name="ingest-timezones")
async def ingest_zones(stream: faust.StreamT[bytes]) -> None:
    """Replace a store's time zone."""
    async for event in stream.events():
        try:
            store_id, zone = decode_zone(event.value)
        except PayloadError as exc:
            await reject(event, str(exc))
            continue
        store = store_id.encode()
        if await _misrouted(event, zones_topic, store):
            continue
        old = decode_profile(profiles.get(store))
        profiles[store] = encode_profile(Profile(old.shifts, zone))
