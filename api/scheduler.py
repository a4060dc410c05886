"""Scheduled reports (``STOREMON_REPORT_EVERY_S``), taken by exactly one API instance at a
time, and the liveness of the running reports.

**One scheduler.** Every instance joins the consumer group ``<app id>-api-scheduler`` on
the one-partition topic ``storemon.report-schedule``; the member that holds its partition
takes the scheduled reports. Kafka gives the partition to one member at a time, and to
another within a session timeout when that one goes. The next report is due one interval
after the newest scheduled report any instance took (from the shared index, caught up
with the reports topic first), so a new scheduler neither repeats nor skips one; a holder
that loses the partition while taking a report lets it go only once that report is
written. An instance cut off from Kafka but still running
loses the partition when its session expires, and stops taking reports as it learns so.

**Keeper.** Every instance says, every ``HEARTBEAT_S``, that its running reports still
run, and fails the running reports of instances not heard from for ``orphan_after_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from api.coordinator import Coordinator, KafkaUnavailableError
from api.reportstore import HEARTBEAT_S, ReportStore
from streams import kafka
from streams.settings import Settings
from streams.topics import topics_for

log = logging.getLogger(__name__)
SESSION_TIMEOUT_MS = 6_000


def orphan_after_s(settings: Settings) -> float:
    """How long a running report's owner may stay silent before the report is failed:
    a few heartbeats, and never longer than the report timeout."""
    return min(3 * HEARTBEAT_S + 1, settings.report_timeout_s)


def next_due(last_at: float | None, every_s: float, now: float) -> float:
    """When the next scheduled report is due: one interval after the newest one any
    instance took, or now when none was. One long past is due now, once: taking it moves
    the newest one to now."""
    return now if last_at is None else last_at + every_s


TAKE_TIMEOUT_S = 5.0
"""How long a holder losing the schedule waits for a report it is taking to be written."""


class _Holder(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's is untyped
    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        self.holds = False
        self.taking: asyncio.Future[None] | None = None
        """The report being taken now, if any."""

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.tp in revoked and self.holds:
            log.info("this instance no longer takes the scheduled reports")
            self.holds = False
            # The next holder is given the partition only once this returns: a report this
            # one is taking is written first, so the next holder knows of it.
            if self.taking is not None and not self.taking.done():
                await asyncio.wait([self.taking], timeout=TAKE_TIMEOUT_S)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.holds = self.tp in assigned
        if self.holds:
            log.info("this instance takes the scheduled reports now")


class Scheduler:
    """Takes a report every ``every_s`` while this instance holds the schedule."""

    def __init__(self, settings: Settings, coordinator: Coordinator, store: ReportStore) -> None:
        self.settings = settings
        self.coordinator = coordinator
        self.store = store
        self.every_s = settings.report_every_s or 0.0
        self.topic = topics_for(settings).report_schedule.name
        self.holder = _Holder(TopicPartition(self.topic, 0))
        self.on_connected: Callable[[], None] = lambda: None

    @property
    def holds(self) -> bool:
        """Whether this instance takes the scheduled reports now."""
        return self.holder.holds

    async def run(self) -> None:
        """Join the scheduler group; take the reports while holding its partition."""
        consumer = kafka.consumer(
            self.settings, group_id=f"{self.settings.app_id}-api-scheduler",
            enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3,
        )  # fmt: skip
        try:
            await consumer.start()
            consumer.subscribe([self.topic], listener=self.holder)
            self.on_connected()
            while True:
                # Polled to stay in the group (nothing is ever written to the topic); a
                # poll parked through a rebalance is not waited for.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(consumer.getmany(timeout_ms=200), 1.0)
                await asyncio.sleep(0.3)
                if self._due():
                    # The newest report another instance took (the last holder's, say) may
                    # not be in the index yet.
                    await self.store.sync()
                    if self._due():
                        self.holder.taking = asyncio.ensure_future(self._take())
                        await self.holder.taking
        finally:
            self.holder.holds = False
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _due(self) -> bool:
        now = time.time()
        return self.holds and now >= next_due(self.store.last_scheduled_at, self.every_s, now)

    async def _take(self) -> None:
        try:
            record = await self.coordinator.trigger(None, None, scheduled=True)
        except KafkaUnavailableError as exc:
            log.warning("scheduled report skipped: %s", exc)
            await asyncio.sleep(1)
            return
        log.info("scheduled report %s", record["report_id"])


async def keep(store: ReportStore, coordinator: Coordinator, settings: Settings) -> None:
    """Heartbeats for this instance's running reports, and orphans failed (supervised)."""
    after = orphan_after_s(settings)
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await store.heartbeat(coordinator.mine)
            for report_id in await store.fail_orphans(after, coordinator.mine):
                log.warning("report %s: its instance stopped; marked failed", report_id)
        except KafkaUnavailableError as exc:
            log.warning("report liveness not written: %s", exc)
