"""Work between messages, a little at a time, and little while the polls agent works
through a backlog: compacting stores with many segments,
writing each store's segments to the changelog again before they age out of it, and
rebuilding changed timelines, and their rows at the default report time, so that a report
finds them ready.

Each tick compacts and refreshes for at most ``BUDGET_S``, then warms until nothing is left
(``BUDGET_S`` at a time, giving the event loop a turn between), and while the polls agent
is busy only warms, for ``BUSY_BUDGET_S``. It looks only at what is due (sets and a heap
kept by the writes), never at every key.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from streams.agents.ingest import load
from streams.agents.reports import build
from streams.app import (
    app,
    held_partitions,
    history_store,
    index,
    owned_partitions,
    profile_index,
    profiles,
    segments,
    settings,
    timelines,
)
from streams.core.daystore import finalize
from streams.core.payloads import decode_profile
from streams.core.segments import merge, plan_compaction

EVERY_S = 1.0
BUDGET_S = 0.15
BUSY_BUDGET_S = 0.05
"""Warming's share of each second while the polls agent works through a backlog: a
replay sends each store's polls together, so a store warmed then is warm at zero lag."""


async def compact(partition: int, store: bytes, refresh: bool) -> None:
    """Store the final days whose polls retention is about to drop (``finalize``), then
    seal the store's older days and drop what retention allows (``plan_compaction``);
    with ``refresh``, write every segment it keeps to the changelog again."""
    found = segments.read(partition, store)
    profile = decode_profile(profile_index.get(store, profiles.get))
    if found:
        days = finalize(
            store,
            merge(found.items()),
            profile,
            partial(history_store.get, partition),
            settings.history_days,
        )
        if days.puts or days.deletes:  # before the polls go: a crash between loses nothing
            await history_store.put(partition, days.puts, days.deletes, tombstones=True)
    plan = plan_compaction(store, found, profile, refresh=refresh)
    if plan.puts or plan.deletes:
        await segments.write(partition, plan.puts, plan.deletes)
    index.counted(partition, store, len((found.keys() - set(plan.deletes)) | plan.puts.keys()))


@app.timer(interval=EVERY_S)  # type: ignore[untyped-decorator]  # faust's is untyped
async def maintain() -> None:
    """Compact and refresh within the tick's budget; warm within a small share of the time
    while the polls agent is busy, and else until nothing is left to warm."""
    if app.in_recovery or app.rebalancing:
        return
    if load.busy():
        warm(time.perf_counter() + BUSY_BUDGET_S)
        return
    now = time.time()
    deadline = time.perf_counter() + BUDGET_S
    held = held_partitions()
    for partition in held:
        index.partition(partition, now)
    actives = set(owned_partitions())
    for partition, store in list(index.crowded):
        if time.perf_counter() > deadline:
            return
        index.crowded.pop((partition, store), None)
        if partition in actives:
            await compact(partition, store, refresh=False)
    for partition, store in index.due(now):
        if partition in actives:
            await compact(partition, store, refresh=True)
        if time.perf_counter() > deadline:
            return
    while warm(deadline):
        await asyncio.sleep(0)  # a slice at a time: messages and answers go between
        if app.in_recovery or app.rebalancing or load.busy():
            return
        deadline = time.perf_counter() + BUDGET_S


_standby: dict[tuple[int, bytes], None] = {}
"""Changed stores of standby partitions, warmed once no store of an active one waits (a
report asks the active ones now; a standby one only after a failover)."""


def warm(deadline: float) -> bool:
    """Rebuild changed timelines and their rows at the newest poll time held, the default
    report time, until ``deadline``, those of active partitions first: the next report, or
    the first after this worker takes over a standby partition, finds the row ready unless
    a poll came since. True if there is more to do."""
    now = time.time()
    held = held_partitions()
    newest = [n for p in held if (n := index.partition(p, now).newest_us) is not None]
    if not newest:
        return False
    n_us = max(newest)
    actives, holding = set(owned_partitions()), set(held)
    while index.dirty:
        if time.perf_counter() > deadline:
            return True
        key = next(iter(index.dirty))
        index.dirty.pop(key, None)
        if key[0] in actives:
            _warm_one(key[0], key[1], n_us, now)
        elif key[0] in holding:
            _standby[key] = None
    while _standby:
        if time.perf_counter() > deadline:
            return True
        key = next(iter(_standby))
        _standby.pop(key, None)
        if key[0] in holding:  # still held (a partition that moved away is let go)
            _warm_one(key[0], key[1], n_us, now)
    return False


def _warm_one(partition: int, store: bytes, n_us: int, now: float) -> None:
    info = index.partition(partition, now).stores.get(store)
    if info is None:
        return
    profile_bytes = profile_index.get(store, profiles.get)
    timelines.row(
        store, info.version, profile_bytes, n_us, partial(build, partition, store, profile_bytes)
    )
