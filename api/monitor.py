"""What operators watch: lag per partition over time, its status, workers, dead letters.

One background task samples Kafka every ``monitor_every_s``; the metrics, the health checks
and the operator page read its latest snapshot and history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams import kafka
from streams.core.exceptions import PayloadError
from streams.core.lagstatus import OK, STALL, STATUSES, STOP, Sample, partition_status, worst
from streams.core.payloads import decode_polls
from streams.core.protocol import WorkerStats, decode_dead_letter, decode_stats
from streams.lag import LagProbe, PartitionLag
from streams.settings import Settings
from streams.topics import topics_for

log = logging.getLogger(__name__)
HISTORY_S = 15 * 60
STATS_FRESH_S = 10.0


class Point(NamedTuple):
    """One sample of the whole group, for the chart."""

    at: float
    """Seconds since the epoch."""
    lag_by_partition: dict[int, int]
    """Polls-topic lag per partition."""
    polls_per_s: float
    """Polls processed per second since the previous point."""


class Stall(NamedTuple):
    """A source partition that makes no progress."""

    topic: str
    """The topic."""
    partition: int
    """The partition."""
    status: str
    """``STALL`` (consumers there, not moving) or ``STOP`` (nobody consumes)."""
    seconds: float
    """How long its committed offset has not moved while it had lag."""
    lag: int
    """Messages behind."""


class Monitor(Collector):
    """Samples lag, worker stats and dead letters; a Prometheus collector of them too."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = topics_for(settings)
        self.group = settings.app_id
        self.lags: list[PartitionLag] = []
        self.windows: dict[tuple[str, int], deque[Sample]] = {}
        self.statuses: dict[tuple[str, int], str] = {}
        self.moved_at: dict[tuple[str, int], float] = {}
        """Per partition, when its committed offset last moved or its lag was 0."""
        self.members = 0
        self.time_lag_s: dict[int, float] = {}
        self.workers: dict[str, WorkerStats] = {}
        self.dead_letters: deque[dict[str, Any]] = deque(maxlen=200)
        self.dead_letters_total = 0
        self.unreadable: dict[str, int] = {}
        """Messages on the stats or dead-letter topics that were not what they should be."""
        self.history: deque[Point] = deque(maxlen=int(HISTORY_S / settings.monitor_every_s) + 1)
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.group_state: str | None = None
        self.on_connected: Callable[[], None] = lambda: None
        """Called once connected (the supervisor marks the task up)."""
        self._lag: LagProbe | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._feeds: AIOKafkaConsumer | None = None
        self._last_polls: tuple[float, int] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, then sample every ``monitor_every_s`` until something breaks
        (supervised: started again after a crash)."""
        lag = LagProbe(self.settings)
        probe = kafka.consumer(self.settings, group_id=None, enable_auto_commit=False)
        feeds = kafka.consumer(self.settings, group_id=None, enable_auto_commit=False)
        try:
            await asyncio.wait_for(lag.start(), 15)
            await asyncio.wait_for(probe.start(), 15)
            await asyncio.wait_for(feeds.start(), 15)
            stats = TopicPartition(self.topics.worker_stats.name, 0)
            letters = TopicPartition(self.topics.dead_letters.name, 0)
            feeds.assign([stats, letters])
            ends = await feeds.end_offsets([stats, letters])
            feeds.seek(stats, max(0, ends[stats] - 50))
            feeds.seek(letters, max(0, ends[letters] - (self.dead_letters.maxlen or 200)))
            self._lag, self._probe, self._feeds = lag, probe, feeds
            self.on_connected()
            await self._loop()
        finally:
            self._lag = self._probe = self._feeds = None
            self.last_ok = None
            for client in (probe, feeds):
                with contextlib.suppress(Exception):
                    await client.stop()
            with contextlib.suppress(Exception):
                await lag.stop()

    async def _loop(self) -> None:
        every = self.settings.monitor_every_s
        assert self._lag is not None
        failures = 0
        while True:
            started = time.monotonic()
            try:
                # Whether Kafka answers is decided by a cheap metadata request that must come
                # back within an interval: readiness turns 503 within one interval of the
                # broker going away, and 200 as soon as it answers again.
                if not await asyncio.wait_for(self._lag.ping(), timeout=max(every, 1.0)):
                    raise ConnectionError("no broker in the cluster's metadata")
                self.last_ok = time.time()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: say so in /readyz, keep trying
                self.last_ok = None
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                failures += 1
                log.warning("Kafka did not answer the monitor: %s", self.last_error)
                if failures >= 10:
                    raise  # connect afresh (the supervisor starts this again)
                await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
                continue
            failures = 0
            try:
                # The full sample (lag, group, workers) may take longer on a busy broker; its
                # figures are then a little older, which is all it costs.
                await asyncio.wait_for(self.sample(), timeout=max(10 * every, 10.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("monitor sample failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))

    # -- sampling ------------------------------------------------------------------------------
    async def sample(self) -> None:
        """Take one sample of everything."""
        assert self._lag is not None
        await self._read_feeds()
        lags = await self._lag.measure()
        self.members, self.group_state = await self._lag.group()
        now = time.time()
        self.observe(lags, now)
        await self._time_lag(lags)
        self.history.append(
            Point(
                now,
                {i.partition: i.lag for i in lags if i.topic == self.topics.polls.name},
                self._polls_rate(now),
            )
        )

    def observe(self, lags: list[PartitionLag], now: float) -> None:
        """Take one measurement of every partition's lag, at ``now`` (Unix seconds)."""
        for item in lags:
            key = (item.topic, item.partition)
            window = self.windows.setdefault(key, deque(maxlen=self.settings.lag_window))
            if item.lag == 0 or not window or window[-1].committed != item.committed:
                self.moved_at[key] = now
            window.append(Sample(now, item.end, item.committed))
            self.statuses[key] = partition_status(window, self.members > 0)
        self.lags = lags

    async def _read_feeds(self) -> None:
        assert self._feeds is not None
        batches = await self._feeds.getmany(timeout_ms=50, max_records=5000)
        for tp, messages in batches.items():
            for message in messages:
                try:
                    if tp.topic == self.topics.worker_stats.name:
                        stats = decode_stats(message.value or b"")
                        self.workers[stats.worker] = stats
                    else:
                        self.dead_letters_total = message.offset + 1
                        letter = decode_dead_letter(message.value or b"")
                        self.dead_letters.append(letter.model_dump())
                except PayloadError as exc:
                    self.unreadable[tp.topic] = self.unreadable.get(tp.topic, 0) + 1
                    log.warning("%s offset %d skipped: %s", tp.topic, message.offset, exc)
        for name, stats in list(self.workers.items()):
            if time.time() - stats.sent_at > 10 * STATS_FRESH_S:
                del self.workers[name]  # long gone

    async def _time_lag(self, lags: list[PartitionLag]) -> None:
        """Event-time lag: newest poll produced minus newest poll processed, per partition."""
        assert self._probe is not None
        processed: dict[int, int] = {}
        for stats in self.fresh_workers():
            for p, us in stats.newest_processed_us.items():
                processed[int(p)] = max(us, processed.get(int(p), us))
        polls = [i for i in lags if i.topic == self.topics.polls.name and i.end > 0]
        tps = [TopicPartition(i.topic, i.partition) for i in polls]
        if not tps:
            return
        self._probe.assign(tps)
        for item, tp in zip(polls, tps, strict=True):
            self._probe.seek(tp, item.end - 1)
        got = await self._probe.getmany(*tps, timeout_ms=500)
        bounds = self.settings.time_bounds()
        for tp, messages in got.items():
            newest = None
            for message in messages:
                try:
                    keys = decode_polls(message.value or b"", bounds).keys
                    newest = int(keys.max()) >> 1 if len(keys) else newest
                except PayloadError:
                    continue
            if newest is None:
                continue
            done = processed.get(tp.partition)
            caught_up = next(i.lag == 0 for i in polls if i.partition == tp.partition)
            if caught_up:
                self.time_lag_s[tp.partition] = 0.0
            elif done is not None:
                self.time_lag_s[tp.partition] = max(0.0, (newest - done) / 1e6)

    def _polls_rate(self, now: float) -> float:
        total = sum(s.polls_processed for s in self.fresh_workers())
        previous, self._last_polls = self._last_polls, (now, total)
        if previous is None or now <= previous[0] or total < previous[1]:
            return 0.0
        return (total - previous[1]) / (now - previous[0])

    # -- reading -------------------------------------------------------------------------------
    def fresh_workers(self) -> list[WorkerStats]:
        """Workers heard from in the last few seconds."""
        now = time.time()
        return [s for s in self.workers.values() if now - s.sent_at <= STATS_FRESH_S]

    def group_status(self) -> str:
        """The worst partition status."""
        return worst(list(self.statuses.values()))

    def stalled(self, now: float | None = None) -> list[Stall]:
        """Source partitions (polls, hours, zones) that are STALL or STOP and have not moved
        for ``stall_after_s``: their lag stays and their committed offset does not move."""
        now = time.time() if now is None else now
        sources = {self.topics.polls.name, self.topics.hours.name, self.topics.zones.name}
        found = []
        for item in self.lags:
            key = (item.topic, item.partition)
            status = self.statuses.get(key, OK)
            since = now - self.moved_at.get(key, now)
            stuck = status in (STALL, STOP) and since >= self.settings.stall_after_s
            if item.topic in sources and stuck:
                found.append(Stall(item.topic, item.partition, status, since, item.lag))
        return found

    def readiness(self, now: float | None = None) -> list[str]:
        """Why the pipeline is not ready (empty when it is), at ``now`` (default: now)."""
        problems = []
        if self.last_ok is None:
            problems.append(
                f"Kafka at {self.settings.bootstrap_servers} did not answer the last sample"
                + (f": {self.last_error}" if self.last_error else "")
            )
            return problems
        workers = self.fresh_workers()
        if not workers:
            problems.append("no worker has reported in the last 10 s: start `storemon worker`")
        not_ready = [w.worker for w in workers if not w.ready]
        if not_ready:
            problems.append(f"workers still recovering their tables: {', '.join(not_ready)}")
        if self.group_state not in (None, "Stable", "Empty"):
            problems.append(f"the workers' group is rebalancing ({self.group_state})")
        if self.members > len(workers):
            problems.append(
                f"{self.members - len(workers)} worker(s) in the group have not reported yet "
                "(starting, or recovering their tables)"
            )
        owned = {p for w in workers for p in w.partitions}
        missing = sorted(set(range(self.topics.polls.partitions)) - owned)
        if workers and missing:
            problems.append(f"no worker owns polls partitions {missing}")
        stalled = self.stalled(now)
        if stalled:
            named = ", ".join(
                f"{s.topic} {s.partition} ({s.status} for {s.seconds:.0f} s, {s.lag:,} behind)"
                for s in stalled
            )
            problems.append(
                f"partitions make no progress: {named}; reports would be behind: see "
                "`storemon lag` and the workers' logs (README: when a stall is reported)"
            )
        for w in workers:
            if w.stalled:
                named = ", ".join(f"{k} for {v:.0f} s" for k, v in sorted(w.stalled.items()))
                problems.append(f"worker {w.worker} is healing stalled partitions: {named}")
        return problems

    # -- Prometheus ----------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        """Metrics named as kafka-lag-exporter and kafka_exporter name them, where they fit."""
        labels = ["group", "topic", "partition"]
        lag = GaugeMetricFamily(
            "kafka_consumergroup_group_lag", "Offset lag: log end − committed", labels=labels
        )
        offset = GaugeMetricFamily(
            "kafka_consumergroup_group_offset", "Committed offset", labels=labels
        )
        latest = GaugeMetricFamily(
            "kafka_partition_latest_offset", "Log end offset", labels=["topic", "partition"]
        )
        status = GaugeMetricFamily(
            "storemon_lag_status", "Burrow-like status per partition (1 for the current one)",
            labels=[*labels, "status"],
        )  # fmt: skip
        for item in self.lags:
            key = [self.group, item.topic, str(item.partition)]
            lag.add_metric(key, item.lag)
            offset.add_metric(key, item.committed or 0)
            latest.add_metric([item.topic, str(item.partition)], item.end)
            current = self.statuses.get((item.topic, item.partition), "OK")
            for name in STATUSES:
                status.add_metric([*key, name], 1.0 if name == current else 0.0)
        yield from (lag, offset, latest, status)
        group = GaugeMetricFamily(
            "storemon_group_status", "Burrow-like status of the group (1 for the current one)",
            labels=["group", "status"],
        )  # fmt: skip
        for name in STATUSES:
            group.add_metric([self.group, name], 1.0 if name == self.group_status() else 0.0)
        yield group
        max_lag = GaugeMetricFamily(
            "kafka_consumergroup_group_max_lag", "Largest partition lag", labels=["group"]
        )
        max_lag.add_metric([self.group], max((i.lag for i in self.lags), default=0))
        sum_lag = GaugeMetricFamily(
            "kafka_consumergroup_group_sum_lag", "Sum of partition lags", labels=["group"]
        )
        sum_lag.add_metric([self.group], sum(i.lag for i in self.lags))
        yield from (max_lag, sum_lag)
        seconds = GaugeMetricFamily(
            "kafka_consumergroup_group_lag_seconds",
            "Event-time lag: newest poll produced − newest poll processed",
            labels=labels,
        )
        for partition, value in sorted(self.time_lag_s.items()):
            seconds.add_metric([self.group, self.topics.polls.name, str(partition)], value)
        yield seconds
        processed = CounterMetricFamily(
            "storemon_polls_processed", "Polls merged into the tables", labels=["worker"]
        )
        messages = CounterMetricFamily(
            "storemon_messages_rejected",
            "Messages a worker sent to the dead letters",
            labels=["worker"],
        )
        keys = GaugeMetricFamily(
            "storemon_table_keys", "Keys per table", labels=["worker", "table"]
        )
        ready = GaugeMetricFamily(
            "storemon_worker_ready", "1 when the worker's tables are recovered", labels=["worker"]
        )
        stalls = CounterMetricFamily(
            "storemon_partition_stalls",
            "Partitions a worker's progress watchdog found stalled (and healed)",
            labels=["worker"],
        )
        skipped = CounterMetricFamily(
            "storemon_messages_skipped",
            "Polls messages the engine skipped (an offset jump) and a worker read again",
            labels=["worker"],
        )
        for stats in self.fresh_workers():
            stalls.add_metric([stats.worker], stats.partition_stalls)
            skipped.add_metric([stats.worker], stats.messages_skipped)
            processed.add_metric([stats.worker], stats.polls_processed)
            messages.add_metric([stats.worker], stats.messages_rejected)
            ready.add_metric([stats.worker], 1.0 if stats.ready else 0.0)
            for table, count in stats.table_keys.items():
                keys.add_metric([stats.worker, table], count)
        yield from (processed, messages, keys, ready, stalls, skipped)
        down = GaugeMetricFamily(
            "storemon_stores_down", "Live stores whose newest observation is inactive"
        )
        down.add_metric([], sum(s.table_keys.get("stores_down", 0) for s in self.fresh_workers()))
        yield down
        rejected = CounterMetricFamily(
            "storemon_rejected",
            "Rows and messages in the dead-letter topic (rejected polls, hours, zones)",
        )
        rejected.add_metric([], self.dead_letters_total)
        yield rejected
        unreadable = CounterMetricFamily(
            "storemon_unreadable_messages",
            "Messages the API read from the pipeline's own topics and skipped as malformed",
            labels=["topic"],
        )
        for topic, count in sorted(self.unreadable.items()):
            unreadable.add_metric([topic], count)
        yield unreadable
