"""Defences against a known fault of the engine (faust-streaming 0.15 on aiokafka 0.14):
records handed out by aiokafka, dropped by Faust, and never fetched again.

How it happens (found in a run where a broker died during a rebalance; two partitions
were never consumed again, their committed offsets empty):

1. Faust hands aiokafka its *live* set of active partitions as the fetch filter
   (``faust/transport/consumer.py`` ``Consumer._wait_next_records`` →
   ``drivers/aiokafka.py`` ``AIOKafkaConsumerThread._fetch_records`` →
   ``aiokafka/consumer/fetcher.py`` ``Fetcher.fetched_records``, on the consumer's thread),
   while the main thread changes that set in place (``pause_partitions`` at a new
   assignment, ``app/base.py`` ``_on_partitions_assigned``).
2. aiokafka reads an empty filter as "every partition" (``if partitions and tp not in
   partitions``), so a fetch that was waiting through the rebalance returns the first
   batch of every newly assigned partition, and moves their positions past it.
3. Faust drops those records (flow stopped, or the partition paused for recovery:
   ``Consumer.getmany``) and seeks back to the committed offsets (``perform_seek``).
4. aiokafka's ``seek_to_committed`` seeks only where the committed offset is positive:
   a partition that never committed (its previous owner's commits failed with
   ``UnknownMemberIdError``) stays past the dropped records, for good.

The two patches here close both ends: the fetch filter is a snapshot that is never read
as "everything", records Faust would drop are put back (the partition is sought to their
first offset), and a partition with no committed offset is sought to its beginning (this
app's ``auto_offset_reset`` is ``earliest``) when Faust seeks to the committed offsets.
The progress watchdog (``agents/watchdog.py``) catches whatever else stalls a partition.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)


def install() -> None:
    """Patch Faust's aiokafka consumer thread (idempotent)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    # faust types these as methods; replacing them is the point here
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]


async def _fetch_records(
    self: Any,
    consumer: Any,
    active_partitions: set[Any] | None,
    timeout: float | None = None,
    max_records: int | None = None,
) -> Mapping[Any, list[Any]]:
    """Faust's ``_fetch_records``, with a snapshot of the filter, and records that Faust
    would drop sought back to, not lost."""
    from aiokafka.errors import ConsumerStoppedError, IllegalStateError

    faust_consumer = self.consumer
    if not faust_consumer.flow_active:
        return {}
    wanted = None if active_partitions is None else frozenset(active_partitions)
    if wanted is not None and not wanted:
        return {}  # aiokafka would read an empty filter as every partition
    generation = faust_consumer.app.consumer_generation_id
    fetcher = consumer._fetcher
    if consumer._closed or fetcher._closed:
        raise ConsumerStoppedError()
    with fetcher._subscriptions.fetch_context():
        records = await fetcher.fetched_records(wanted, timeout=timeout, max_records=max_records)
    if not records or wanted is None:
        return records  # type: ignore[no-any-return]
    # Faust takes a partition's records only while flow is on, in the same generation,
    # for partitions active (or buffered) now; the rest it would drop without a seek.
    live = faust_consumer._active_partitions or set()
    buffered = faust_consumer._buffered_partitions
    same = faust_consumer.flow_active and faust_consumer.app.consumer_generation_id == generation
    kept = {}
    for tp, batch in records.items():
        if same and (tp in live or tp in buffered):
            kept[tp] = batch
            continue
        # Sought back, it is fetched again when it is taken; a partition no longer
        # assigned here is its new owner's, who starts from the commit.
        with contextlib.suppress(IllegalStateError):
            consumer.seek(tp, batch[0].offset)
        log.info("fetched records of %s put back from offset %d", tp, batch[0].offset)
    return kept


async def _seek_to_committed(self: Any) -> Mapping[Any, int]:
    """Seek to the committed offsets; a source partition that never committed to its
    beginning (changelogs are Faust's recovery's to place)."""
    consumer = self._ensure_consumer()
    changelog = self.consumer._is_changelog_tp
    return await self.call_thread(_seek_committed_or_beginning, consumer, changelog)  # type: ignore[no-any-return]


async def _seek_committed_or_beginning(
    consumer: Any, is_changelog: Callable[[Any], bool]
) -> Mapping[Any, int]:
    from aiokafka.errors import IllegalStateError

    committed: dict[Any, int] = await consumer.seek_to_committed()
    never = [tp for tp, offset in committed.items() if not offset and not is_changelog(tp)]
    if never:
        # A plain seek to the log's start, not a reset: a reset leaves the position
        # unknown until it resolves, and Faust's livelock check reads it meanwhile.
        starts = await consumer.beginning_offsets(never)
        for tp, offset in starts.items():
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                consumer.seek(tp, offset)
    return committed
