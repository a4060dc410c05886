"""Answering report requests: each partition's owner reports its own stores."""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import faust

from streams.agents.deadletters import decoded
from streams.app import (
    app,
    poll_index,
    poll_logs,
    polls_topic,
    profile_index,
    profiles,
    report_parts_topic,
    report_requests_topic,
    settings,
)
from streams.core.payloads import (
    ROWS,
    WATERMARK,
    ReportPart,
    ReportRequest,
    decode_request,
    encode_part,
)
from streams.core.snapshot import TimelineCache, newest_of
from streams.topics import partition_of

log = logging.getLogger(__name__)
ROWS_PER_PART = 5_000
_cache = TimelineCache()


@lru_cache(maxsize=1_000_000)
def _partition(store: bytes) -> int:
    return partition_of(store, settings.partitions)


def _stores_of(partition: int, only: bytes | None) -> list[tuple[bytes, bytes]]:
    if only is not None:
        value = poll_logs.get(only)
        return [(only, value)] if value else []
    polls = polls_topic.get_topic_name()
    owned = [tp.partition for tp in app.assignor.assigned_actives() if tp.topic == polls]
    poll_index.ensure([*owned, partition], poll_logs.items, _partition)
    return list(poll_index.stores(partition).items())


async def _answer(request: ReportRequest, partition: int) -> None:
    started = time.perf_counter()
    only = request.store_id.encode() if request.store_id is not None else None
    stores = _stores_of(partition, only)
    if request.phase == WATERMARK:
        if only is None:
            newest = poll_index.newest(partition)
        else:
            newest = max((n for _, v in stores if (n := newest_of(v)) is not None), default=None)
        part = ReportPart(request.report_id, partition, WATERMARK, newest, 0, 1, [])
        await report_parts_topic.send(key=request.report_id.encode(), value=encode_part(part))
        return
    assert request.n_us is not None
    rows = _cache.rows(
        ((s, v, profile_index.get(s, profiles.get)) for s, v in stores), request.n_us
    )
    lines = [row.to_fields() for row in rows]
    chunks = max(1, -(-len(lines) // ROWS_PER_PART))
    for i in range(chunks):
        part = ReportPart(
            request.report_id, partition, ROWS, None, i, chunks,
            lines[i * ROWS_PER_PART : (i + 1) * ROWS_PER_PART],
        )  # fmt: skip
        await report_parts_topic.send(key=request.report_id.encode(), value=encode_part(part))
    log.info(
        "report %s partition %d: %d rows in %.3f s",
        request.report_id, partition, len(lines), time.perf_counter() - started,
    )  # fmt: skip


@app.agent(report_requests_topic, name="answer-reports")
async def answer_reports(stream: faust.StreamT[bytes]) -> None:
    """For each request, this partition's newest poll time or its rows."""
    async for event, request in decoded(stream, decode_request):
        await _answer(request, event.message.partition)


WARM_EVERY_S = 1.0
WARM_BUDGET_S = 0.15


@app.timer(interval=WARM_EVERY_S)
async def warm_timelines() -> None:
    """Between reports, rebuild the timelines of stores whose state changed.

    A report then finds them ready instead of building thousands at once. Each tick works
    for at most ``WARM_BUDGET_S`` so that the agents keep flowing.
    """
    if app.in_recovery or app.rebalancing:
        return
    polls = polls_topic.get_topic_name()
    owned = [tp.partition for tp in app.assignor.assigned_actives() if tp.topic == polls]
    if not owned:
        return
    poll_index.ensure(owned, poll_logs.items, _partition)
    newest = [n for p in owned if (n := poll_index.newest(p)) is not None]
    if not newest:
        return
    n_us = max(newest)
    deadline = time.perf_counter() + WARM_BUDGET_S
    for partition in owned:
        for store, log_bytes in list(poll_index.stores(partition).items()):
            profile_bytes = profile_index.get(store, profiles.get)
            if _cache.fresh(store, log_bytes, profile_bytes):
                continue
            _cache.timeline(store, log_bytes, profile_bytes, n_us)
            if time.perf_counter() > deadline:
                return
