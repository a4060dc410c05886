"""``storemon replay``: the three CSV exports into Kafka, keyed by store.

Hours and zones go first (one message per store: its whole schedule, its zone); then the
polls, grouped per store into messages of many polls, as fast as possible or paced by
the data's own timestamps. Rows the core rejects go to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from streams import kafka
from streams.core.exports import GroupedPolls, read_hours, read_polls, read_zones
from streams.core.payloads import encode_hours, encode_polls, encode_zone
from streams.core.protocol import encode_dead_letter
from streams.core.rows import Rejection
from streams.core.schedule import shifts_of
from streams.settings import Settings
from streams.topics import ensure_topics_async, topics_for

POLLS_PER_MESSAGE = 2_000
TICK_S = 0.1


class Summary(NamedTuple):
    """What a replay did."""

    polls: int
    """Polls sent."""
    messages: int
    """Poll messages sent."""
    stores: int
    """Stores whose hours or zone were sent."""
    rejected: int
    """Rows sent to the dead letters."""
    seconds: float
    """Wall time from the first send to the last acknowledgement."""

    @property
    def polls_per_s(self) -> float:
        """Polls sent per second."""
        return self.polls / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"sent {self.polls:,} polls in {self.messages:,} messages and the hours/zones of "
            f"{self.stores:,} stores; rejected {self.rejected:,} rows; "
            f"{self.seconds:.2f} s, {self.polls_per_s:,.0f} polls/s"
        )


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """An idempotent producer that waits for all replicas."""
    producer: AIOKafkaProducer = kafka.producer(
        settings,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1_048_576,
        max_request_size=4_194_304,
    )
    return producer


async def send_rejections(
    producer: AIOKafkaProducer, topic: str, rejections: list[Rejection]
) -> None:
    """Every rejected row to the dead letters: source file, line and reason."""
    now = datetime.now(UTC).isoformat()
    for r in rejections:
        value = encode_dead_letter(r.source, f"line {r.line}", r.reason, r.raw, now)
        await producer.send(topic, key=r.source.encode(), value=value)


async def replay(
    settings: Settings,
    status: Path,
    hours: Path,
    timezones: Path,
    *,
    rate: float | None = None,
    speed: float | None = None,
    progress: bool = False,
) -> Summary:
    """Send the exports; returns once every message is acknowledged."""
    topics = topics_for(settings)
    hours_rows, bad_hours = read_hours(hours)
    zones, bad_zones = read_zones(timezones)
    polls, bad_polls = read_polls(status, settings.time_bounds())
    await ensure_topics_async(settings)
    producer = make_producer(settings)
    await producer.start()
    started = time.perf_counter()
    try:
        await send_rejections(producer, topics.dead_letters.name, bad_hours + bad_zones + bad_polls)
        for store_id, rows in hours_rows.items():
            value = encode_hours(store_id, shifts_of(rows))
            await producer.send(topics.hours.name, key=store_id.encode(), value=value)
        for store_id, zone in zones.items():
            value = encode_zone(store_id, zone)
            await producer.send(topics.zones.name, key=store_id.encode(), value=value)
        await producer.flush()
        bar = tqdm(
            total=len(polls), unit="poll", unit_scale=True, disable=not progress, file=sys.stderr
        )
        with bar:
            send = _sender(producer, topics.polls.name, bar.update)
            if rate is None and speed is None:
                messages = await _send_fast(polls, send)
            else:
                messages = await _send_paced(polls, send, rate=rate, speed=speed)
            await producer.flush()
    finally:
        await producer.stop()
    return Summary(
        len(polls),
        messages,
        len(hours_rows.keys() | zones.keys()),
        len(bad_hours) + len(bad_zones) + len(bad_polls),
        time.perf_counter() - started,
    )


Send = Callable[[str, np.ndarray], Awaitable[None]]


def _sender(producer: AIOKafkaProducer, topic: str, advance: Callable[[int], object]) -> Send:
    async def send(store_id: str, keys: np.ndarray) -> None:
        await producer.send(topic, key=store_id.encode(), value=encode_polls(store_id, keys))
        advance(len(keys))

    return send


async def _send_fast(polls: GroupedPolls, send: Send) -> int:
    messages = 0
    for store_id, keys in polls.items():
        for start in range(0, len(keys), POLLS_PER_MESSAGE):
            await send(store_id, keys[start : start + POLLS_PER_MESSAGE])
            messages += 1
    return messages


async def _send_paced(
    polls: GroupedPolls, send: Send, *, rate: float | None, speed: float | None
) -> int:
    """Send in time order: ``rate`` polls per second, or the data's time sped up ``speed``×."""
    owner = np.repeat(np.arange(len(polls.store_ids)), np.diff(polls.bounds))
    order = np.argsort(polls.keys >> 1, kind="stable")
    keys, owner = polls.keys[order], owner[order]
    times = keys >> 1
    messages = sent = 0
    started = time.monotonic()
    while sent < len(keys):
        elapsed = time.monotonic() - started + TICK_S
        if speed is not None:
            due = int(np.searchsorted(times, times[0] + elapsed * speed * 1e6, side="right"))
        else:
            assert rate is not None
            due = min(len(keys), int(elapsed * rate))
        if due > sent:
            chunk_owner, chunk_keys = owner[sent:due], keys[sent:due]
            by_store = np.argsort(chunk_owner, kind="stable")
            chunk_owner, chunk_keys = chunk_owner[by_store], chunk_keys[by_store]
            cuts = np.flatnonzero(np.diff(chunk_owner)) + 1
            for group_keys, group_owner in zip(
                np.split(chunk_keys, cuts), np.split(chunk_owner, cuts), strict=True
            ):
                await send(polls.store_ids[int(group_owner[0])], group_keys)
                messages += 1
            sent = due
        await asyncio.sleep(TICK_S)
    return messages


def run(
    settings: Settings,
    status: Path,
    hours: Path,
    timezones: Path,
    rate: float | None,
    speed: float | None,
) -> int:
    """The ``storemon replay`` command; returns the exit code."""
    summary = asyncio.run(
        replay(
            settings, status, hours, timezones, rate=rate, speed=speed, progress=sys.stderr.isatty()
        )
    )
    print(f"storemon replay: {summary}")
    return 0
