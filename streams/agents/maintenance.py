"""Work between messages, a little at a time, and none while the polls agent works
through a backlog: compacting stores with many segments,
writing each store's segments to the changelog again before they age out of it, and
rebuilding changed timelines, and their rows at the default report time, so that a report
finds them ready.

Each tick works for at most ``BUDGET_S`` and looks only at what is due (sets and a heap
kept by the writes), never at every key.
"""

from __future__ import annotations

import time
from functools import partial

from streams.agents.ingest import load
from streams.agents.reports import build
from streams.app import (
    app,
    held_partitions,
    index,
    owned_partitions,
    profile_index,
    profiles,
    segments,
    timelines,
)
from streams.core.payloads import decode_profile
from streams.core.segments import plan_compaction

EVERY_S = 1.0
BUDGET_S = 0.15


async def compact(partition: int, store: bytes, refresh: bool) -> None:
    """Seal the store's older days and drop what retention allows (see ``plan_compaction``);
    with ``refresh``, write every segment it keeps to the changelog again."""
    found = segments.read(partition, store)
    profile = decode_profile(profile_index.get(store, profiles.get))
    plan = plan_compaction(store, found, profile, refresh=refresh)
    if plan.puts or plan.deletes:
        await segments.write(partition, plan.puts, plan.deletes)
    index.counted(partition, store, len((found.keys() - set(plan.deletes)) | plan.puts.keys()))


@app.timer(interval=EVERY_S)  # type: ignore[untyped-decorator]  # faust's is untyped
async def maintain() -> None:
    """Compact, refresh and warm, within the tick's budget."""
    if app.in_recovery or app.rebalancing or load.busy():
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
    newest = [n for p in held if (n := index.partition(p, now).newest_us) is not None]
    if not newest:
        return
    n_us = max(newest)
    for partition, store in list(index.dirty):
        if time.perf_counter() > deadline:
            return
        state = index.partition(partition, now)
        info = state.stores.get(store)
        index.dirty.pop((partition, store), None)
        if info is None:
            continue
        # The timeline (built again only if stale) and its row at the newest poll time held,
        # the default report time: the next report, or the first after this worker takes
        # over a standby partition, finds the row ready unless a poll came since.
        profile_bytes = profile_index.get(store, profiles.get)
        timelines.row(
            store,
            info.version,
            profile_bytes,
            n_us,
            partial(build, partition, store, profile_bytes),
        )
