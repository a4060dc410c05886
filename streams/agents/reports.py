"""Answering report requests: each partition's owner reports its own stores."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import faust

from streams.agents.deadletters import decoded
from streams.app import (
    TOPICS,
    app,
    history_store,
    index,
    profile_index,
    profiles,
    report_parts_topic,
    report_requests_topic,
    segments,
    settings,
    timelines,
)
from streams.core.daystore import prefix as day_prefix
from streams.core.daystore import store_month, stored_days
from streams.core.history import Day, MonthRow, month_span, zone_of
from streams.core.payloads import decode_profile
from streams.core.pollkeys import Keys
from streams.core.protocol import (
    ROWS,
    STORE,
    WATERMARK,
    ReportPart,
    ReportRequest,
    decode_request,
    encode,
)
from streams.core.report import ReportRow
from streams.core.schedule import Profile
from streams.core.segments import merge
from streams.core.timeline import Timeline
from streams.core.zones import local_ordinal
from streams.counters import counters

log = logging.getLogger(__name__)
ROWS_PER_PART = 5_000


def build(partition: int, store: bytes, profile_bytes: bytes | None, n_us: int) -> Timeline:
    """A store's timeline for ``n_us``, from its segments in RocksDB and its profile."""
    found = segments.read(partition, store)
    index.counted(partition, store, len(found))
    index.dirty.pop((partition, store), None)
    return Timeline.for_report(merge(found.items()), decode_profile(profile_bytes), n_us)


def row_of(partition: int, store: bytes, version: int, n_us: int) -> ReportRow | None:
    """The store's row at ``n_us``, from the cache or built now."""
    profile_bytes = profile_index.get(store, profiles.get)
    return timelines.row(
        store, version, profile_bytes, n_us, lambda n: build(partition, store, profile_bytes, n)
    )


YIELD_EVERY = 2_000
"""Stores between two returns to the event loop while rows are computed."""


async def _rows(partition: int, chosen: list[tuple[bytes, int]], n_us: int) -> list[list[str]]:
    """The fields of the chosen stores' rows at ``n_us``, sorted by store."""
    rows = []
    for i, (store, version) in enumerate(chosen):
        if i and i % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let heartbeats, ingestion and other answers through
        row = row_of(partition, store, version, n_us)
        if row is not None:
            rows.append(row)
    rows.sort()
    return [row.to_fields() for row in rows]


def _stored(
    partition: int, store: bytes, profile: Profile, keys: Keys
) -> tuple[list[Day], int | None]:
    """The store's final days stored after their polls (``keys``: those it keeps), and its
    mark (docs/semantics.md §8.2)."""
    return stored_days(
        store,
        history_store.scan(partition, day_prefix(store)),
        local_ordinal(zone_of(profile), int(keys[-1]) >> 1),
        settings.history_days,
    )


SLICE_S = 0.02
"""The longest a monthly report computes rows before it returns to the event loop."""


async def _month_rows(
    partition: int, stores: list[bytes], n_us: int, month: tuple[int, int]
) -> tuple[list[list[str]], bool]:
    """The fields of the stores' rows of the monthly report of ``month`` at ``n_us``, sorted
    by store, and whether the month is partial for one of them."""
    rows: list[MonthRow] = []
    partial = False
    since = time.perf_counter()
    for store in stores:
        if time.perf_counter() - since > SLICE_S:
            await asyncio.sleep(0)  # let heartbeats, ingestion and other answers through
            since = time.perf_counter()
        keys = merge(segments.read(partition, store).items())
        if not len(keys):
            continue
        profile = decode_profile(profile_index.get(store, profiles.get))
        stored, mark = _stored(partition, store, profile, keys)
        got = store_month(
            store.decode(), keys, profile, n_us, stored, mark, month, settings.history_days
        )
        if got is not None:
            rows.append(got[0])
            partial = partial or got[1]
    rows.sort()
    return [row.to_fields() for row in rows], partial


SOURCES = (TOPICS.polls.name, TOPICS.hours.name, TOPICS.zones.name)


def processed(partition: int) -> dict[str, int]:
    """Per source topic, the next offset of ``partition`` to process here: the answer
    holds everything before it (docs/semantics.md §5.4)."""
    return {topic: counters.next_offset(topic, partition) for topic in SOURCES}


async def _send(request: ReportRequest, partition: int, **fields: object) -> None:
    fields = {"keys": None, "profile": None, **fields}
    part = ReportPart(report_id=request.report_id, partition=partition, **fields)  # type: ignore[arg-type]
    await report_parts_topic.send(key=request.report_id.encode(), value=encode(part))


async def _answer(request: ReportRequest, partition: int) -> None:
    started = time.perf_counter()
    if time.time() > request.deadline:
        log.info("report %s partition %d: past its deadline, skipped", request.report_id, partition)
        return
    answer = uuid.uuid4().hex  # this owner's answer: only its chunks are put together
    done = processed(partition)  # read first: the answer holds at least all of it
    state = index.partition(partition, time.time())
    if request.phase == WATERMARK:  # the default report time is the newest of all polls
        await _send(
            request, partition, answer=answer, phase=WATERMARK, newest_us=state.newest_us,
            chunk=0, chunks=1, rows=[], processed=done,
        )  # fmt: skip
        return
    if request.phase == STORE:  # one store's polls and profile: the API derives the rest
        assert request.store_id is not None
        store = request.store_id.encode()
        found = merge(segments.read(partition, store).items()) if store in state.stores else None
        profile_bytes = profile_index.get(store, profiles.get)
        days, mark = None, None
        if found is not None and len(found):
            days, mark = _stored(partition, store, decode_profile(profile_bytes), found)
        await _send(
            request, partition, answer=answer, phase=STORE, newest_us=state.newest_us, chunk=0,
            chunks=1, rows=[], keys=None if found is None else found.tolist(),
            profile=(profile_bytes or b"").decode() or None,
            days=None if days is None else [[d.ordinal, d.business, d.active] for d in days],
            days_mark=mark,
        )  # fmt: skip
        return
    assert request.n_us is not None
    n_us = request.n_us
    partial = None
    if request.month is not None:
        span = month_span(request.month)
        picked = [request.store_id.encode()] if request.store_id is not None else None
        lines, partial = await _month_rows(partition, picked or list(state.stores), n_us, span)
    elif request.store_id is not None:
        store = request.store_id.encode()
        info = state.stores.get(store)
        lines = await _rows(partition, [(store, info.version)] if info is not None else [], n_us)
    elif state.answer is not None and state.answer[:2] == (state.generation, n_us):
        lines = state.answer[2]  # nothing changed in the partition since: the same rows
    else:
        generation = state.generation
        chosen = [(s, info.version) for s, info in state.stores.items()]
        lines = await _rows(partition, chosen, n_us)
        if state.generation == generation:  # no write came while the rows were computed
            state.answer = (generation, n_us, lines)
    chunks = max(1, -(-len(lines) // ROWS_PER_PART))
    for i in range(chunks):
        await _send(
            request, partition, answer=answer, phase=ROWS, newest_us=None, chunk=i,
            chunks=chunks, rows=lines[i * ROWS_PER_PART : (i + 1) * ROWS_PER_PART],
            processed=done, partial=partial,
        )  # fmt: skip
    log.info(
        "report %s partition %d: %d rows in %.3f s",
        request.report_id, partition, len(lines), time.perf_counter() - started,
    )  # fmt: skip


@app.agent(report_requests_topic, name="answer-reports")
async def answer_reports(stream: faust.StreamT[bytes]) -> None:
    """For each request, this partition's newest poll time or its rows."""
    async for event, request in decoded(stream, decode_request):
        await _answer(request, event.message.partition)
