"""Taking a report: fan a request out to every partition, gather the parts, write the CSV.

The coordinator's Kafka clients live in one supervised task (``run``): it connects, reads
report parts until something breaks, and is started again; meanwhile sends answer
:class:`KafkaUnavailableError` (a 503 at the HTTP edge) and the API stays up, unready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from api.reportstore import ReportStore
from streams import kafka
from streams.core.exceptions import PayloadError
from streams.core.history import MONTHLY_COLUMNS
from streams.core.payloads import encode_polls
from streams.core.progress import behind
from streams.core.protocol import (
    ROWS,
    STORE,
    WATERMARK,
    Assembly,
    ReportPart,
    ReportRequest,
    decode_part,
    encode,
)
from streams.core.report import COLUMNS, check_as_of
from streams.core.timestamps import format_timestamp
from streams.settings import Settings
from streams.topics import ensure_topics_async, partition_of, topics_for

log = logging.getLogger(__name__)


ASK_AGAIN_S = 10.0
"""A partition silent this long is asked again (until the report's deadline)."""


class PartitionsSilentError(TimeoutError):
    """Some partitions did not answer in time."""


class KafkaUnavailableError(RuntimeError):
    """The coordinator is not connected to Kafka (yet, or any more)."""


class PartitionsBehindError(TimeoutError):
    """Some partitions did not process, in time, what was written before the trigger."""

    def __init__(self, message: str, lagging: dict[int, int]) -> None:
        super().__init__(message)
        self.lagging = lagging
        """Per partition, how many messages it was behind when the report gave up."""


CATCH_UP_EVERY_S = 0.25
"""How often a consistent report asks the partitions behind how far they got."""

Ends = dict[int, dict[str, int]]
"""Per partition, per source topic, the log end offset at trigger time."""


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
        self._waiting: dict[str, asyncio.Queue[ReportPart]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        """This instance's running reports, by id."""
        self.unreadable_parts = 0
        """Messages on the report-parts topic that were not report parts (skipped)."""
        self.on_connected: Callable[[], None] = lambda: None
        """Called once connected (the supervisor marks the task up)."""

    @property
    def connected(self) -> bool:
        """Whether requests and polls can be sent now."""
        return self._producer is not None

    async def run(self) -> None:
        """Connect, then read report parts until the connection breaks (supervised)."""
        producer = kafka.producer(
            self.settings, acks="all", enable_idempotence=True, linger_ms=3,
            request_timeout_ms=15_000,
        )  # fmt: skip
        consumer = kafka.consumer(
            self.settings, group_id=None, enable_auto_commit=False,
            fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=40 * 1024 * 1024,
        )  # fmt: skip
        # End offsets of the source partitions, for how current a report is: assigned and
        # paused (never fetched), so their leaders stay known and a look is one request.
        offsets = kafka.consumer(self.settings, group_id=None, enable_auto_commit=False)
        try:
            await ensure_topics_async(self.settings)
            await producer.start()
            await consumer.start()
            await offsets.start()
            tp = TopicPartition(self.topics.report_parts.name, 0)
            consumer.assign([tp])
            await consumer.seek_to_end(tp)
            await consumer.position(tp)  # resolve "end" now, before any request goes out
            sources = self._source_partitions()
            offsets.assign(sources)
            offsets.pause(*sources)
            self._producer, self._consumer = producer, offsets
            self.on_connected()
            await self._read_parts(consumer)
        finally:
            self._producer = self._consumer = None
            for client in (consumer, offsets, producer):
                with contextlib.suppress(Exception):
                    await client.stop()

    async def stop(self) -> None:
        """Cancel the running reports (they are marked failed)."""
        for task in list(self._running.values()):
            task.cancel()
        for task in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def mine(self) -> set[str]:
        """Ids of the reports this instance runs now."""
        return set(self._running)

    async def _read_parts(self, consumer: AIOKafkaConsumer) -> None:
        async for message in consumer:
            try:
                part = decode_part(message.value or b"")
            except PayloadError as exc:
                self.unreadable_parts += 1
                log.warning("report part at offset %d skipped: %s", message.offset, exc)
                continue
            queue = self._waiting.get(part.report_id)
            if queue is not None:
                queue.put_nowait(part)

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise KafkaUnavailableError(
                f"Kafka at {self.settings.bootstrap_servers} is not reachable now; "
                "try again in a few seconds (GET /readyz says when it is)"
            )
        return self._producer

    async def send(self, topic: str, store_id: str, value: bytes) -> None:
        """One message keyed by store, acknowledged by all replicas."""
        await self._require().send_and_wait(topic, value, key=store_id.encode())

    async def send_polls(self, by_store: dict[str, list[int]]) -> None:
        """Polls grouped by store, one message per store; returns once all are acknowledged."""
        producer = self._require()
        futures = [
            await producer.send(
                self.topics.polls.name,
                encode_polls(store_id, np.array(keys, dtype=np.int64)),
                key=store_id.encode(),
            )
            for store_id, keys in by_store.items()
        ]
        await asyncio.gather(*futures)

    async def trigger(
        self,
        as_of_us: int | None,
        store_id: str | None,
        scheduled: bool = False,
        consistent: bool = False,
        month: str | None = None,
    ) -> dict[str, Any]:
        """Start a report (with ``month``, ``YYYY-MM``: the monthly report of that month,
        docs/semantics.md §8.3); returns its record (status Running).

        The log end offset of every source partition is read first: the report says how
        far behind them each partition's answer was, and a ``consistent`` one waits until
        every partition has processed up to them (docs/semantics.md §5.4).

        With ``as_of_us``, first asks the partitions for the newest poll (the default
        report time) and refuses an ``as_of`` the pipeline cannot answer
        (:class:`AsOfError`, docs/semantics.md §4); silent partitions raise
        :class:`PartitionsSilentError`.
        """
        self._require()
        report_id = self.store.new_id()
        self._waiting[report_id] = asyncio.Queue()
        try:
            ends = await self._end_offsets()
            if as_of_us is not None:
                deadline = time.monotonic() + min(self.settings.report_timeout_s, 15.0)
                newest, _parts = await self._watermark(report_id, deadline)
                check_as_of(as_of_us, newest, self.settings.time_bounds())
            record = await self.store.create(
                report_id,
                as_of=format_timestamp(as_of_us) if as_of_us is not None else None,
                store_id=store_id,
                scheduled=scheduled,
                consistent=consistent,
                **({"month": month} if month is not None else {}),
                ends={str(p): by_topic for p, by_topic in ends.items()},
            )
        except BaseException:
            self._waiting.pop(report_id, None)
            raise
        task = asyncio.create_task(
            self._run(report_id, as_of_us, store_id, ends, consistent, month)
        )
        self._running[report_id] = task
        task.add_done_callback(lambda _: self._running.pop(report_id, None))
        return record

    async def store_view(self, store_id: str) -> tuple[ReportPart, int | None]:
        """The store's retained polls and profile from its partition's owner, and the
        default report time (the newest poll of all partitions)."""
        self._require()
        request_id = self.store.new_id()
        self._waiting[request_id] = asyncio.Queue()
        try:
            deadline = time.monotonic() + min(self.settings.report_timeout_s, 15.0)
            newest, _marks = await self._watermark(request_id, deadline)
            partition = partition_of(store_id.encode(), self.topics.report_requests.partitions)
            [part] = await self._ask(request_id, STORE, None, store_id, [partition], deadline)
            return part, newest
        finally:
            self._waiting.pop(request_id, None)

    def _source_partitions(self) -> list[TopicPartition]:
        names = (self.topics.polls.name, self.topics.hours.name, self.topics.zones.name)
        count = self.topics.report_requests.partitions
        return [TopicPartition(name, p) for name in names for p in range(count)]

    async def _end_offsets(self) -> Ends:
        """The log end offset of every source partition, now."""
        consumer = self._consumer
        if consumer is None:
            self._require()
        assert consumer is not None
        tps = self._source_partitions()
        try:
            got = await asyncio.wait_for(consumer.end_offsets(tps), timeout=15.0)
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailableError(
                f"Kafka did not give the source partitions' end offsets: {exc or 'timed out'}; "
                "try again in a few seconds (GET /readyz says when it is ready)"
            ) from None
        ends: Ends = {}
        for tp in tps:
            ends.setdefault(tp.partition, {})[tp.topic] = got[tp]
        return ends

    async def _watermark(
        self, report_id: str, deadline: float, partitions: list[int] | None = None
    ) -> tuple[int | None, list[ReportPart]]:
        """The newest poll time of the partitions (all by default), the default report
        time, or None; and their answers (which say how far each one got)."""
        everyone = partitions or list(range(self.topics.report_requests.partitions))
        parts = await self._ask(report_id, WATERMARK, None, None, everyone, deadline)
        newest = max((p.newest_us for p in parts if p.newest_us is not None), default=None)
        return newest, parts

    async def _catch_up(
        self, report_id: str, ends: Ends, partitions: list[int], deadline: float
    ) -> None:
        """Wait until each partition's owner has processed everything before ``ends``;
        :class:`PartitionsBehindError` naming those that did not by ``deadline``."""
        waiting = sorted(partitions)
        lagging: dict[int, int] = {}
        while waiting:
            try:
                _newest, parts = await self._watermark(report_id, deadline, waiting)
            except PartitionsSilentError as exc:
                if lagging:
                    break  # they answered before, behind: say how far (more use than silence)
                raise PartitionsBehindError(
                    f"a consistent report could not catch up: {exc}", lagging
                ) from None
            lagging = {
                part.partition: n
                for part in parts
                if (n := behind(ends[part.partition], part.processed)) > 0
            }
            waiting = sorted(lagging)
            if not waiting:
                return
            if time.monotonic() + CATCH_UP_EVERY_S >= deadline:
                break
            await asyncio.sleep(CATCH_UP_EVERY_S)
        described = ", ".join(f"{p} ({n:,} messages behind)" for p, n in sorted(lagging.items()))
        raise PartitionsBehindError(
            f"partitions {described} did not process what was written before the trigger "
            f"within {self.settings.report_timeout_s:.0f} s: are their workers stalled? "
            "`storemon lag` and GET /readyz show it",
            lagging,
        )

    async def _run(
        self,
        report_id: str,
        as_of_us: int | None,
        store_id: str | None,
        ends: Ends,
        consistent: bool,
        month: str | None = None,
    ) -> None:
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.report_timeout_s
        everyone = list(range(self.topics.report_requests.partitions))
        targets = everyone
        if store_id is not None:
            targets = [partition_of(store_id.encode(), len(everyone))]
        lags: dict[int, int] = {}
        try:
            n_us = as_of_us
            timings: dict[str, float] = {}
            if consistent:
                await self._catch_up(report_id, ends, targets, deadline)
                timings["catch_up_s"] = round(time.perf_counter() - started, 4)
            if n_us is None:
                n_us, marks = await self._watermark(report_id, deadline)
                lags = self._behind(ends, marks, targets)
                timings["watermark_s"] = round(
                    time.perf_counter() - started - sum(timings.values()), 4
                )
            rows: list[list[str]] = []
            partial = False
            if n_us is not None:
                answers: dict[int, list[ReportPart]] = {}
                ask = targets
                while ask:
                    parts = await self._ask(report_id, ROWS, n_us, store_id, ask, deadline, month)
                    answers.update({p: [q for q in parts if q.partition == p] for p in ask})
                    lags.update(self._behind(ends, parts, ask))
                    # An owner that took a partition over mid-report may answer from less
                    # than its predecessor had: a consistent report asks it again.
                    ask = [p for p in ask if lags[p]] if consistent else []
                    if ask:
                        await self._catch_up(report_id, ends, ask, deadline)
                for p in sorted(answers):
                    for part in answers[p]:
                        rows.extend(part.rows)
                        partial = partial or bool(part.partial)
                timings["rows_s"] = round(time.perf_counter() - started - sum(timings.values()), 4)
            rows.sort(key=lambda fields: fields[0])
            monthly: dict[str, Any] = {"partial": partial} if month else {}
            await self.store.complete(
                report_id,
                rows,
                MONTHLY_COLUMNS if month else COLUMNS,
                **monthly,
                report_time=format_timestamp(n_us) if n_us is not None else None,
                duration_s=round(time.perf_counter() - started, 4),
                timings=timings,
                **_behind_fields(lags),
            )
        except PartitionsBehindError as exc:
            await self.store.update(report_id, **_behind_fields({**lags, **exc.lagging}))
            await self.store.fail(report_id, str(exc))
        except (PartitionsSilentError, KafkaUnavailableError) as exc:
            await self.store.update(report_id, **_behind_fields(lags))
            await self.store.fail(report_id, str(exc))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # Kafka gone too: the survivors sweep it
                await self.store.fail(
                    report_id, "the API stopped while this report ran; trigger it again"
                )
            raise
        except Exception as exc:
            log.exception("report %s failed", report_id)
            with contextlib.suppress(Exception):
                await self.store.fail(report_id, f"{type(exc).__name__}: {exc}")
        finally:
            self._waiting.pop(report_id, None)
            if self.on_done is not None:
                record = self.store.get(report_id) or {}
                self.on_done(str(record.get("status")), time.perf_counter() - started)

    @staticmethod
    def _behind(ends: Ends, parts: list[ReportPart], partitions: list[int]) -> dict[int, int]:
        """Per partition, how many messages written before the trigger its answer lacked."""
        answered = {part.partition: part.processed for part in parts}
        return {p: behind(ends.get(p, {}), answered.get(p)) for p in partitions}

    async def _send_requests(self, request: bytes, partitions: list[int]) -> None:
        producer = self._require()
        acks = [
            await producer.send(self.topics.report_requests.name, request, partition=p)
            for p in partitions
        ]
        await asyncio.gather(*acks)

    async def _ask(
        self,
        report_id: str,
        phase: str,
        n_us: int | None,
        store_id: str | None,
        partitions: list[int],
        deadline: float,
        month: str | None = None,
    ) -> list[ReportPart]:
        """Send one request per partition; return each partition's parts, all from one
        answer (a partition's old and new owner may both answer; their chunks never mix)."""
        request = encode(
            ReportRequest(
                report_id=report_id, phase=phase, n_us=n_us, store_id=store_id,  # type: ignore[arg-type]
                month=month, deadline=time.time() + max(0.0, deadline - time.monotonic()),
            )
        )  # fmt: skip
        await self._send_requests(request, partitions)
        queue = self._waiting[report_id]
        assembly = Assembly(phase, partitions)
        asked = time.monotonic()
        while missing := assembly.missing():
            now = time.monotonic()
            if now >= deadline:
                raise PartitionsSilentError(
                    f"partitions {missing} did not answer the {phase} request within "
                    f"{self.settings.report_timeout_s:.0f} s: are the workers running and caught "
                    "up? `storemon lag` shows it"
                )
            if now - asked >= ASK_AGAIN_S:
                # A request a worker never saw (it was fetched by an owner that then lost
                # the partition, say) is asked again; a repeated answer is left unused.
                await self._send_requests(request, missing)
                asked = now
            wait = min(deadline - now, ASK_AGAIN_S - (now - asked))
            try:
                part = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.001))
            except TimeoutError:
                continue
            assembly.add(part)
        return assembly.parts()


def _behind_fields(lags: dict[int, int]) -> dict[str, Any]:
    """How a report's record says how current it is (docs/semantics.md §5.4)."""
    if not lags:
        return {}
    return {
        "behind": {str(p): n for p, n in sorted(lags.items())},
        "behind_total": sum(lags.values()),
    }
