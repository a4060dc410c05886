"""Taking a report: fan a request out to every partition, gather the parts, write the CSV."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from api.reportstore import ReportStore
from streams.core.payloads import (
    ROWS,
    WATERMARK,
    PayloadError,
    ReportPart,
    ReportRequest,
    decode_part,
    encode_polls,
    encode_request,
)
from streams.core.report import check_as_of
from streams.core.timestamps import format_timestamp
from streams.settings import Settings
from streams.topics import ensure_topics_async, partition_of, topics_for

log = logging.getLogger(__name__)


class PartitionsSilentError(TimeoutError):
    """Some partitions did not answer in time."""


class Coordinator:
    """Sends report requests to the workers and assembles their answers."""

    def __init__(
        self,
        settings: Settings,
        store: ReportStore,
        on_done: Callable[[str, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_done = on_done
        self.store = store
        self.topics = topics_for(settings)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Queue[ReportPart]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect to Kafka; from here on every report part is seen."""
        await ensure_topics_async(self.settings)
        # A few milliseconds of linger let concurrent requests share one produce request;
        # without it they queue behind each other's acknowledgements.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers, acks="all",
            enable_idempotence=True, linger_ms=3,
        )  # fmt: skip
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        await self._consumer.start()
        tp = TopicPartition(self.topics.report_parts.name, 0)
        self._consumer.assign([tp])
        await self._consumer.seek_to_end(tp)
        await self._consumer.position(tp)  # resolve "end" now, before any request goes out
        self._reader = asyncio.create_task(self._read_parts())
        abandoned = self.store.fail_abandoned()
        if abandoned:
            log.warning("marked %d reports left running by a previous API as failed", abandoned)

    async def stop(self) -> None:
        """Stop reading and sending; running reports are cancelled."""
        for task in list(self._running):
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def _read_parts(self) -> None:
        assert self._consumer is not None
        async for message in self._consumer:
            try:
                part = decode_part(message.value or b"")
            except PayloadError as exc:
                log.warning("unreadable report part at offset %d: %s", message.offset, exc)
                continue
            queue = self._waiting.get(part.report_id)
            if queue is not None:
                queue.put_nowait(part)

    async def send(self, topic: str, store_id: str, value: bytes) -> None:
        """One message keyed by store, acknowledged by all replicas."""
        assert self._producer is not None
        await self._producer.send_and_wait(topic, value, key=store_id.encode())

    async def send_polls(self, by_store: dict[str, list[int]]) -> None:
        """Polls grouped by store, one message per store; returns once all are acknowledged."""
        assert self._producer is not None
        futures = [
            await self._producer.send(
                self.topics.polls.name,
                encode_polls(store_id, np.array(keys, dtype=np.int64)),
                key=store_id.encode(),
            )
            for store_id, keys in by_store.items()
        ]
        await asyncio.gather(*futures)

    async def trigger(
        self, as_of_us: int | None, store_id: str | None, scheduled: bool = False
    ) -> dict[str, Any]:
        """Start a report; returns its record (status Running).

        With ``as_of_us``, first asks the partitions for the newest poll (the default
        report time) and refuses an ``as_of`` the pipeline cannot answer
        (:class:`AsOfError`, SPEC §4); silent partitions raise
        :class:`PartitionsSilentError`.
        """
        report_id = self.store.new_id()
        self._waiting[report_id] = asyncio.Queue()
        if as_of_us is not None:
            try:
                deadline = time.monotonic() + min(self.settings.report_timeout_s, 15.0)
                newest = await self._watermark(report_id, deadline)
                check_as_of(as_of_us, newest, self.settings.time_bounds())
            except BaseException:
                self._waiting.pop(report_id, None)
                raise
        record = self.store.create(
            report_id,
            as_of=format_timestamp(as_of_us) if as_of_us is not None else None,
            store_id=store_id,
            scheduled=scheduled,
        )
        task = asyncio.create_task(self._run(report_id, as_of_us, store_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return record

    async def _watermark(self, report_id: str, deadline: float) -> int | None:
        """The newest poll time of all partitions (the default report time), or None."""
        everyone = list(range(self.topics.report_requests.partitions))
        parts = await self._ask(report_id, WATERMARK, None, None, everyone, deadline)
        return max((p.newest_us for p in parts if p.newest_us is not None), default=None)

    async def _run(self, report_id: str, as_of_us: int | None, store_id: str | None) -> None:
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.report_timeout_s
        everyone = list(range(self.topics.report_requests.partitions))
        try:
            n_us = as_of_us
            timings: dict[str, float] = {}
            if n_us is None:
                n_us = await self._watermark(report_id, deadline)
                timings["watermark_s"] = round(time.perf_counter() - started, 4)
            rows: list[list[str]] = []
            if n_us is not None:
                targets = everyone
                if store_id is not None:
                    targets = [partition_of(store_id.encode(), len(everyone))]
                parts = await self._ask(report_id, ROWS, n_us, store_id, targets, deadline)
                for part in parts:
                    rows.extend(part.rows)
                timings["rows_s"] = round(time.perf_counter() - started - sum(timings.values()), 4)
            rows.sort(key=lambda fields: fields[0])
            self.store.complete(
                report_id,
                rows,
                report_time=format_timestamp(n_us) if n_us is not None else None,
                duration_s=round(time.perf_counter() - started, 4),
                timings=timings,
            )
        except PartitionsSilentError as exc:
            self.store.fail(report_id, str(exc))
        except asyncio.CancelledError:
            self.store.fail(report_id, "the API stopped while this report ran; trigger it again")
            raise
        except Exception as exc:
            log.exception("report %s failed", report_id)
            self.store.fail(report_id, f"{type(exc).__name__}: {exc}")
        finally:
            self._waiting.pop(report_id, None)
            if self.on_done is not None:
                record = self.store.get(report_id) or {}
                self.on_done(str(record.get("status")), time.perf_counter() - started)

    async def _ask(
        self,
        report_id: str,
        phase: str,
        n_us: int | None,
        store_id: str | None,
        partitions: list[int],
        deadline: float,
    ) -> list[ReportPart]:
        """Send one request per partition; return every partition's parts (each chunk once)."""
        assert self._producer is not None
        request = encode_request(ReportRequest(report_id, phase, n_us, store_id))
        acks = [
            await self._producer.send(self.topics.report_requests.name, request, partition=p)
            for p in partitions
        ]
        await asyncio.gather(*acks)
        queue = self._waiting[report_id]
        got: dict[tuple[int, int], ReportPart] = {}
        expected: dict[int, int] = {}

        def done() -> bool:
            return all(
                p in expected and all((p, c) in got for c in range(expected[p])) for p in partitions
            )

        while not done():
            remaining = deadline - time.monotonic()
            try:
                part = await asyncio.wait_for(queue.get(), timeout=max(remaining, 0.001))
            except TimeoutError:
                silent = sorted(p for p in partitions if p not in expected)
                raise PartitionsSilentError(
                    f"partitions {silent or partitions} did not answer the {phase} request within "
                    f"{self.settings.report_timeout_s:.0f} s: are the workers running and caught "
                    "up? `storemon lag` shows it"
                ) from None
            if part.phase != phase or part.partition not in partitions:
                continue  # a late answer to an earlier phase, or a duplicate
            expected[part.partition] = part.chunks
            got[(part.partition, part.chunk)] = part
        return [got[key] for key in sorted(got)]
