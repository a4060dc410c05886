"""The progress watchdog: every few seconds, for each source partition this worker owns,
the newest offset it processed against the log end offset (``streams/core/progress.py``).

A partition with lag and no progress for ``STOREMON_STALL_AFTER_S`` (neither processed
further nor committed further) is logged, counted (``storemon_partition_stalls_total``)
and healed: resumed and sought to the lower of its committed offset and the next offset
to process; then, if it still does not move, the worker leaves the group and joins again;
then it exits non-zero for its supervisor to start it afresh. A worker that stays
unready (recovering, rebalancing) for ``STOREMON_RECOVERY_STALL_S`` exits too.

It trusts neither Faust nor aiokafka to say where a partition is: the offsets come from
a Kafka client of its own (log start and end, the group's commits) and from what the
agents say they processed (``streams/counters.py``). Its cost per check grows with the
partitions owned, never with the stores.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from aiokafka import TopicPartition

from streams.app import TOPICS, app, settings
from streams.core.progress import EXIT, REJOIN, RESUME, Heal, Key, Offsets, ProgressWatch
from streams.counters import counters
from streams.engine import rewind
from streams.lag import LagProbe

log = logging.getLogger(__name__)

CHECK_EVERY_S = max(0.5, min(5.0, settings.stall_after_s / 3))
SOURCES = frozenset(
    t.name for t in (TOPICS.polls, TOPICS.hours, TOPICS.zones, TOPICS.report_requests)
)
watch = ProgressWatch(settings.stall_after_s)
_probe: LagProbe | None = None
_unready_since: float | None = None


def _ready() -> bool:
    return bool(
        app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]  # faust's TableManager
        and not app.rebalancing
    )


async def _measure(keys: list[Key]) -> dict[Key, Offsets]:
    """Each partition's next offset to process and log end, from our own client."""
    global _probe  # noqa: PLW0603 - one client for the worker's life, made at first use
    if _probe is None:
        probe = LagProbe(settings)
        await probe.start()
        _probe = probe
    tps = [TopicPartition(topic, partition) for topic, partition in keys]
    starts = await _probe.consumer.beginning_offsets(tps)
    ends = await _probe.consumer.end_offsets(tps)
    committed = await _probe.admin.list_consumer_group_offsets(_probe.group_id, partitions=tps)
    measured = {}
    for key, tp in zip(keys, tps, strict=True):
        done = committed.get(tp)
        floor = max(starts[tp], done.offset if done is not None and done.offset >= 0 else 0)
        counters.floor(key[0], key[1], floor)
        counters.starts[key] = starts[tp]
        measured[key] = Offsets(counters.next_offset(key[0], key[1]), ends[tp], floor)
    return measured


@app.timer(interval=CHECK_EVERY_S)  # type: ignore[untyped-decorator]  # faust's is untyped
async def check_progress() -> None:
    """Measure the owned partitions and take the steps the rule asks for."""
    global _unready_since  # noqa: PLW0603
    now = time.monotonic()
    if not _ready():
        _unready_since = _unready_since or now
        if now - _unready_since >= settings.recovery_stall_s:
            await _exit(f"not ready for {now - _unready_since:.0f} s (recovering or rebalancing)")
        return  # partitions do not move while they recover: not a stall yet
    if _unready_since is not None:
        watch.paused(now - _unready_since)
        _unready_since = None
    keys = sorted(
        (tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in SOURCES
    )
    try:
        measured = await asyncio.wait_for(_measure(keys), timeout=settings.stall_after_s)
    except Exception as exc:  # Kafka away: nothing measured, nothing judged
        log.warning("progress check failed: %s: %s", type(exc).__name__, exc)
        return
    if not _ready():
        return  # a rebalance began while measuring
    for heal in watch.check(time.monotonic(), measured):
        await _take(heal)


async def _take(heal: Heal) -> None:
    where = ", ".join(
        f"{s.topic}:{s.partition} (processed to offset {s.processed}, committed "
        f"{s.committed}, of {s.end}; {s.stalled_s:.0f} s without progress)"
        for s in heal.stalled
    )
    if heal.step == RESUME:
        counters.stalls += len(heal.stalled)
        log.error("stalled partitions: %s; resuming and seeking them", where)
        await _resume(heal)
    elif heal.step == REJOIN:
        log.error("still stalled after resuming: %s; leaving the group to join again", where)
        await _rejoin()
    elif heal.step == EXIT:
        await _exit(f"still stalled after rejoining: {where}")


async def _resume(heal: Heal) -> None:
    from faust.types import TP

    try:
        await rewind(app.consumer, {TP(s.topic, s.partition): s.position for s in heal.stalled})
    except Exception as exc:  # Kafka away, a rebalance began: the next step follows
        log.warning("resuming failed: %s: %s", type(exc).__name__, exc)


async def _rejoin() -> None:
    consumer: Any = app.consumer
    thread = consumer._thread
    coordinator = thread._ensure_consumer()._coordinator
    await thread.call_thread(coordinator._maybe_leave_group)


EXIT_STALLED = 75
"""The worker's exit status when the watchdog gives up (EX_TEMPFAIL: start it again)."""


async def _exit(why: str) -> None:
    # A hard exit: a worker this stuck may not stop cleanly, and nothing is lost by it
    # (the state is in RocksDB and the changelogs, the offsets are committed after it).
    log.critical(
        "%s: exiting (%d) for the supervisor to start this worker again", why, EXIT_STALLED
    )
    logging.shutdown()
    os._exit(EXIT_STALLED)
