"""Messages the engine skipped, found and read again.

Every source message an agent finishes goes through :func:`done` (the per-event agents by
way of ``deadletters.decoded``, the batched ones with :func:`processed`). Its offset is
checked against the one expected (``core/progress.py`` ``Continuity``):

- on a topic whose offsets have no holes (polls, report requests: deleted by time, never
  compacted, never written in transactions), a jump is messages the engine skipped. The
  partition is read again from the first (``Rereads``), by a timer, outside the agents,
  asked again until the re-read is seen to begin. Faust does not commit past the hole
  (``engine.py``), so a partition that moves first is read again by its new owner, and a
  rewind that never takes stalls the partition for the watchdog to heal.
- on a compacted topic (hours, zones), a jump may be compaction. Each is checked with a
  Kafka client of our own, off the hot path: a record inside it was skipped, and is read
  again the same way. Checks wait in a bounded queue; past it, they are counted and let go.

The cost is a dictionary lookup per message, and for a hole one fetch or one rewind.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust

from streams import kafka
from streams.app import TOPICS, app, settings
from streams.core.progress import Continuity, Key, Rereads
from streams.counters import counters
from streams.engine import rewind

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
    """Check the holes of the compacted topics; rewind what was skipped."""
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


async def _check(key: Key, first: int, seen: int) -> None:
    """Does the log hold a record between ``first`` and ``seen``? Then it was skipped."""
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
        got = await asyncio.wait_for(_checker.getmany(tp, timeout_ms=2_000, max_records=1), 10)
    except Exception as exc:  # Kafka away: the hole is checked again later
        log.warning("checking %s:%d from %d failed: %s", key[0], key[1], first, exc)
        if len(_checks) < CHECKS:
            _checks.append((key, first, seen))
        return
    found = [r.offset for records in got.values() for r in records if r.offset < seen]
    if found:
        _skipped(key, found[0], seen)
