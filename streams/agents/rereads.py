"""Messages the engine skipped, found and read again.

Every source message an agent finishes goes through :func:`done` (the per-event agents by
way of ``deadletters.decoded``, the batched ones with :func:`processed`). Its offset is
checked against the one expected (``core/progress.py`` ``Continuity``):

- on a topic whose offsets have no holes (polls, report requests: deleted by time, never
  compacted, never written in transactions), a jump is messages the engine skipped. The
  partition is read again from the first (``Rereads``), by a timer, outside the agents,
  asked again until the engine hands on a message read again. Faust does not commit past the hole
  (``engine.py``), so a partition that moves first is read again by its new owner, and a
  rewind that never takes stalls the partition for the watchdog to heal.
- on a compacted topic (hours, zones), a jump may be compaction. Each is checked with a
  Kafka client of our own, off the hot path: the records inside it were skipped, and are
  applied as read from the log by the agent's own code (not by a rewind: Faust's
  bookkeeping of compacted ranges, fed by a rewind's jumps, lets the commits crawl). Checks
  wait in a bounded queue; past it, they are logged and let go.

The cost is a dictionary lookup per message, and for a hole one fetch or one rewind.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from streams import kafka
from streams.app import TOPICS, app, settings
from streams.core.progress import Continuity, Key, Rereads
from streams.counters import counters
from streams.engine import ReadOffsets, acknowledge, rewind

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""How long a rewind is given to show its first message before it is asked again."""
CHECKS = 1_000
"""Holes of the compacted topics waiting to be checked, at most."""
COMPACTED = frozenset({TOPICS.hours.name, TOPICS.zones.name})

continuities: collections.defaultdict[str, Continuity] = collections.defaultdict(Continuity)
rereads = Rereads(RETRY_S)
_checks: collections.deque[tuple[Key, int, int]] = collections.deque()
_checker: Any = None
_unchecked = 0


def done(topic: str, partition: int, offset: int) -> None:
    """A message is processed: count it, and look for a hole before it."""
    counters.done(topic, partition, offset)
    key = (topic, partition)
    if rereads:
        rereads.saw(key, offset)
    continuity = continuities[topic]
    if not continuity.knows(partition):
        committed = _committed(topic, partition)
        if committed is not None:
            continuity.expect(partition, committed)
    expected = continuity.see(partition, offset)
    if expected is None:
        return
    if topic not in COMPACTED:
        _skipped(key, expected, offset)
    elif len(_checks) < CHECKS:
        _checks.append((key, expected, offset))
    else:
        global _unchecked  # noqa: PLW0603
        _unchecked += 1


def _committed(topic: str, partition: int) -> int | None:
    """Where Faust sought the partition at its assignment (the group's commit), if known."""
    from faust.types import TP

    consumer: Any = app.consumer
    offset: int | None = consumer._committed_offset.get(TP(topic, partition))
    if offset is None:
        return None
    return max(offset, counters.starts.get((topic, partition), 0))  # not below the log start


def processed(events: Sequence[faust.EventT[bytes]]) -> None:
    """A batch's messages are all processed (in offset order per partition)."""
    for event in events:
        message = event.message
        done(message.topic, message.partition, message.offset)


def _skipped(key: Key, first: int, seen: int) -> None:
    counters.skipped += seen - first
    log.error(
        "%s:%d: offsets %d to %d were skipped by the engine; reading them again",
        key[0], key[1], first, seen - 1,
    )  # fmt: skip
    rereads.ask(key, first, seen)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types the sender positional-only
async def _moving(sender: Any, *_: Any, signal: Any = None, **__: Any) -> None:
    for continuity in continuities.values():
        continuity.forget()  # what comes next starts afresh


@app.timer(interval=0.5)  # type: ignore[untyped-decorator]  # faust's is untyped
async def read_again() -> None:
    """Check the holes of the compacted topics; rewind what was skipped. Never raises (a
    timer that raises stops the worker)."""
    try:
        await _read_again()
    except Exception:
        log.exception("reading again what the engine skipped failed; tried again shortly")


async def _read_again() -> None:
    from faust.types import TP

    if app.rebalancing:
        return
    global _unchecked  # noqa: PLW0603
    if _unchecked:
        log.warning(
            "%d holes of compacted topics let go unchecked (over %d queued)", _unchecked, CHECKS
        )
        _unchecked = 0
    owned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
    for _ in range(len(_checks)):  # those queued now: a failed check waits for the next tick
        key, first, seen = _checks.popleft()
        if key in owned:
            await _check(key, first, seen)
    rereads.keep(owned)
    consumer: Any = app.consumer
    read = consumer._read_offset
    for key in rereads.asked():
        if isinstance(read, ReadOffsets) and not read.holding(TP(*key)):
            rereads.taken(key)  # the engine handed on a message read again
    wanted, given_up = rereads.due(time.monotonic())
    for key in given_up:
        log.error(
            "%s:%d: read again %d times and the re-read never began; left to the watchdog",
            key[0], key[1], rereads.tries,
        )  # fmt: skip
    if not wanted:
        return
    try:
        await rewind(app.consumer, {TP(*key): offset for key, offset in wanted.items()})
    except Exception as exc:  # Kafka away, a rebalance began: asked again in RETRY_S
        log.warning("reading again failed: %s: %s", type(exc).__name__, exc)
        rereads.failed(list(wanted))


ReadAgain = Callable[[Sequence[Any]], Awaitable[None]]
_handlers: dict[str, ReadAgain] = {}


def read_again_with(topic: str, handler: ReadAgain) -> None:
    """How the records of a compacted topic that the engine skipped are applied."""
    _handlers[topic] = handler


async def _check(key: Key, first: int, seen: int) -> None:
    """Does the log hold records between ``first`` and ``seen``? They were skipped: apply
    them as read from the log. (A rewind would be wrong here: Faust's bookkeeping of
    compacted ranges, fed by a rewind's jumps, then lets the commits crawl.)"""
    global _checker  # noqa: PLW0603 - one client for the worker's life, made at first use
    from aiokafka import TopicPartition

    try:
        if _checker is None:
            checker = kafka.consumer(settings, group_id=None, enable_auto_commit=False)
            await checker.start()
            _checker = checker
        tp = TopicPartition(*key)
        _checker.assign([tp])
        _checker.seek(tp, first)
        found: list[Any] = []
        while True:
            got = await asyncio.wait_for(_checker.getmany(tp, timeout_ms=2_000), 10)
            records = [r for batch in got.values() for r in batch]
            found += [r for r in records if r.offset < seen]
            if not records or records[-1].offset >= seen - 1:
                break
    except Exception as exc:  # Kafka away: the hole is checked again later
        log.warning("checking %s:%d from %d failed: %s", key[0], key[1], first, exc)
        if len(_checks) < CHECKS:
            _checks.append((key, first, seen))
        return
    if not found:
        return  # compaction
    counters.skipped += len(found)
    log.error(
        "%s:%d: offsets %d to %d were skipped by the engine; %d records read again from the log",
        key[0], key[1], found[0].offset, found[-1].offset, len(found),
    )  # fmt: skip
    await _handlers[key[0]](found)
    from faust.types import TP

    acknowledge(app.consumer, TP(*key), [r.offset for r in found])  # the commits move on
