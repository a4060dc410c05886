"""Decoding what arrives, and sending what cannot be used to the dead-letter topic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TypeVar

import faust

from streams.agents import rereads
from streams.app import dead_letters_topic
from streams.core.exceptions import PayloadError
from streams.core.protocol import encode_dead_letter
from streams.counters import counters

log = logging.getLogger(__name__)
Value = TypeVar("Value")


async def reject(event: faust.EventT[bytes], reason: str) -> None:
    """Send a message this worker cannot use to the dead letters, with its topic and offset."""
    message = event.message
    raw = message.value if isinstance(message.value, bytes) else bytes(str(message.value), "utf-8")
    await reject_record(message.topic, message.partition, message.offset, raw, reason)


async def reject_record(topic: str, partition: int, offset: int, raw: bytes, reason: str) -> None:
    """Send a record this worker cannot use to the dead letters, with its topic and offset."""
    location = f"partition {partition} offset {offset}"
    counters.rejected += 1
    log.warning("rejected %s %s: %s", topic, location, reason)
    await dead_letters_topic.send(
        key=topic.encode(),
        value=encode_dead_letter(
            topic,
            location,
            reason,
            raw[:10_000].decode("utf-8", errors="replace"),
            datetime.now(UTC).isoformat(),
        ),
    )


async def decoded(
    stream: faust.StreamT[bytes], decode: Callable[[bytes], Value]
) -> AsyncIterator[tuple[faust.EventT[bytes], Value]]:
    """Each event with its decoded value; the undecodable go to the dead letters.

    An event counts as processed once the loop body that took it is done (the generator
    resumes right after), or once it is dead-lettered."""
    async for event in stream.events():
        message = event.message
        try:
            value = decode(event.value)
        except PayloadError as exc:
            await reject(event, str(exc))
        else:
            yield event, value
        rereads.done(message.topic, message.partition, message.offset)
