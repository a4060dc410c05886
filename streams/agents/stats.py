"""This worker's counters, published every few seconds for the API's metrics and health."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from streams.agents import alerts, watchdog
from streams.app import app, index, owned_partitions, timelines, worker_stats_topic
from streams.core.protocol import WorkerStats, encode
from streams.counters import counters

WORKER = f"{socket.gethostname()}-{os.getpid()}"
STATS_EVERY_S = 2.0


def _ready() -> bool:
    return bool(
        app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]  # faust's TableManager
        and not app.in_recovery
        and not app.rebalancing
    )


@app.timer(interval=STATS_EVERY_S)  # type: ignore[untyped-decorator]  # faust's is untyped
async def publish_stats() -> None:
    """Send this worker's stats to the worker-stats topic."""
    await _publish(ready=_ready())


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types the sender positional-only
async def _moving(sender: Any, *_: Any, signal: Any = None, **__: Any) -> None:
    # Partitions move: say so now, not at the next tick, so that /readyz turns 503 at once.
    await _publish(ready=False)


async def _publish(ready: bool) -> None:
    owned = owned_partitions()
    stats = WorkerStats(
        worker=WORKER,
        sent_at=time.time(),
        ready=ready,
        partitions=owned,
        polls_processed=counters.polls,
        messages_processed=counters.messages,
        messages_rejected=counters.rejected,
        newest_processed_us={str(p): us for p, us in counters.newest_us.items() if p in owned},
        partition_stalls=counters.stalls,
        messages_skipped=counters.skipped,
        stalled={f"{t}:{p}": round(s, 1) for (t, p), s in watchdog.watch.stalled(time.monotonic())},
        table_keys={
            "stores": sum(len(index.partition(p, time.time()).stores) for p in index.loaded()),
            "timelines": len(timelines),
            "timeline_bytes": timelines.nbytes,
            "timeline_evictions": timelines.evictions,
            "stale_updates": counters.stale,
            "alert_states": len(alerts.states),
            "stores_down": alerts.states.down,
            "alerts_sent": counters.alerts_sent,
        },
    )
    await worker_stats_topic.send(key=WORKER.encode(), value=encode(stats))
