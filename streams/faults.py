"""Faults brought about on purpose, for the tests: each one is a race or a stall seen in a
real run, made to happen every time. Off unless a ``STOREMON_FAULT_*`` setting is given.

- ``fault_park_fetch``: the fetch that loses records in a rebalance (``streams/engine.py``).
  When the file appears, the next fetch already under way waits inside aiokafka, as a
  fetch woken by new data during a revoke does (``Fetcher.fetched_records`` waits for the
  new assignment), until Faust has paused the new partitions for recovery; then it goes
  on with the filter it was given.
- ``fault_pause_partitions``: the worker stops fetching some polls partitions once it is
  ready (Faust's ``pause_partitions``), as if something had paused them and never resumed.
- ``fault_lose_message``: once the worker is ready and has processed some of a polls
  partition, one message of it is read and never handed to the agent, as one is when
  Faust's drain cancels a delivery at a flow stop (``Consumer._drain_messages`` waits on
  ``suspend_flow`` beside the delivery, and marks the offset read either way). Faust takes
  the jump for a compacted range and commits past it; the polls agent must see it.
- ``fault_lose_zone``: the same, for three messages in a row, on a partition of the
  (compacted) zones topic, where a jump may be compaction and must be checked against the
  log (three: Faust's commits step over a hole of one by themselves).
- ``fault_unacked``: two messages of a polls partition are processed and their
  acknowledgements lost (``Consumer.ack``), so that the partition's commits wait on them
  for good while the messages after them are processed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from streams.settings import Settings

log = logging.getLogger(__name__)
PARK_AT_MOST_S = 120.0


def install(settings: Settings, app: Any, polls_topic: str, zones_topic: str) -> None:
    """Install the faults the settings ask for (none by default)."""
    if settings.fault_park_fetch is not None:
        _park_fetch(settings.fault_park_fetch, app)
    if settings.fault_pause_partitions is not None:
        partitions = [int(p) for p in settings.fault_pause_partitions.split(",")]
        _pause_when_ready(app, polls_topic, partitions)
    if settings.fault_lose_message is not None:
        _lose_one_message(app, polls_topic, settings.fault_lose_message)
    if settings.fault_lose_zone is not None:
        _lose_one_message(app, zones_topic, settings.fault_lose_zone, count=3)
    if settings.fault_unacked is not None:
        _lose_two_acks(app, polls_topic, settings.fault_unacked)


def _park_fetch(trigger: Path, app: Any) -> None:
    from aiokafka.consumer.fetcher import Fetcher

    real = Fetcher.fetched_records

    async def fetched_records(
        self: Any, partitions: Any, timeout: float = 0, max_records: int | None = None
    ) -> Any:
        if not trigger.exists():
            return await real(self, partitions, timeout=timeout, max_records=max_records)
        trigger.unlink()
        log.warning("fault: a fetch waits through the next rebalance")
        subscriptions = self._subscriptions
        before = subscriptions.subscription.assignment
        deadline = time.monotonic() + PARK_AT_MOST_S
        while time.monotonic() < deadline and (
            subscriptions.reassignment_in_progress
            or subscriptions.subscription.assignment is before
        ):
            await asyncio.sleep(0.005)
        # Until Faust's handler of the new assignment has paused it all for recovery.
        while time.monotonic() < deadline and app.consumer._active_partitions:
            await asyncio.sleep(0.001)
        got = await real(self, partitions, timeout=3.0, max_records=max_records)
        log.warning(
            "fault: the fetch that waited returns %s",
            {f"{tp.topic}:{tp.partition}": len(v) for tp, v in got.items()},
        )
        return got

    Fetcher.fetched_records = fetched_records


def _pause_when_ready(app: Any, polls_topic: str, partitions: list[int]) -> None:
    from faust.types import TP

    paused: set[int] = set()

    @app.timer(interval=0.5)  # type: ignore[untyped-decorator]  # faust's is untyped
    async def pause_partitions() -> None:
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == polls_topic}
        chosen = [p for p in partitions if p in owned and p not in paused]
        if chosen:
            app.consumer.pause_partitions({TP(polls_topic, p) for p in chosen})
            paused.update(chosen)
            log.warning("fault: polls partitions %s are no longer fetched", chosen)


def _lose_one_message(app: Any, topic: str, partition: int, count: int = 1) -> None:
    deliver = app.topics.on_message  # the consumer's callback, before the consumer exists
    lost: list[int] = []

    async def on_message(message: Any) -> None:
        if len(lost) < count and _chosen(app, message, topic, partition):
            lost.append(message.offset)
            log.warning(
                "fault: %s:%d offset %d read and never delivered",
                topic.rsplit(".", 1)[-1], partition, message.offset,
            )  # fmt: skip
            return
        await deliver(message)

    app.topics.on_message = on_message


def _lose_two_acks(app: Any, polls_topic: str, partition: int) -> None:
    from faust.transport.consumer import Consumer

    ack = Consumer.ack
    lost: list[int] = []

    def lose(self: Any, message: Any) -> bool:
        # After a commit of the partition: with none yet, Faust commits past a hole.
        committed = self._committed_offset.get(message.tp)
        if len(lost) < 2 and committed and _chosen(app, message, polls_topic, partition):
            lost.append(message.offset)
            message.acked = True  # as far as Faust knows; its offset is never recorded
            log.warning(
                "fault: the acknowledgement of polls:%d offset %d is lost",
                partition,
                message.offset,
            )
            return False
        return ack(self, message)

    Consumer.ack = lose  # type: ignore[method-assign]


def _chosen(app: Any, message: Any, topic: str, partition: int) -> bool:
    """A message of the partition, once the worker is ready and has processed some of it."""
    from streams.counters import counters

    return bool(
        message.topic == topic
        and message.partition == partition
        and app.tables.recovery.completed.is_set()
        and counters.next_offsets.get((topic, partition), 0) > 0
    )
