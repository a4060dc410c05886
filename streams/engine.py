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

Faust takes any jump in offsets for compaction and commits past it (``Consumer._add_gap``),
and its commit rule lets a hole of one message at the head through (``_new_offset``: it
asks ``min(acked) - committed > 1``). On the topics whose offsets have no holes (polls,
report requests), both are closed here: a skipped message holds the commits back until it
is read again, by this worker (``agents/rereads.py``) or by the partition's next owner.

The progress watchdog (``agents/watchdog.py``) catches whatever else stalls a partition,
and every source message is checked for a skipped offset before it (``agents/rereads.py``);
both heal by :func:`rewind`, which needs Faust's read offsets held down (:class:`ReadOffsets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streams.counters import counters

log = logging.getLogger(__name__)


def install(holeless: frozenset[str] = frozenset()) -> None:
    """Patch Faust's aiokafka consumer thread (idempotent). ``holeless``: the source
    topics whose offsets have no holes, which Faust must never commit past a hole in."""
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    _holeless.update(holeless)
    # faust types these as methods; replacing them is the point here
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]
    if getattr(Consumer.__init__, "_storemon", False):
        return
    made = Consumer.__init__
    add_gap = Consumer._add_gap
    new_offset = Consumer._new_offset

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self._read_offset = ReadOffsets()

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic not in _holeless:
            await add_gap(self, tp, offset_from, offset_to)  # compaction: commit past it

    def _new_offset(self: Any, tp: Any) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if tp.topic in _holeless and acked and committed is not None:
            start = counters.starts.get((tp.topic, tp.partition), 0)
            if start > committed:  # retention deleted what was not committed: not a hole
                committed = self._committed_offset[tp] = start
            if min(acked) > committed:
                return None  # the next offset to commit is not acknowledged yet: a hole
        result: int | None = new_offset(self, tp)
        return result

    init._storemon = True  # type: ignore[attr-defined]
    Consumer.__init__ = init  # type: ignore[method-assign]
    Consumer._add_gap = _add_gap  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]


_holeless: set[str] = set()


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


class ReadOffsets(defaultdict[Any, "int | None"]):
    """Faust's newest offset read per partition (``Consumer._read_offset``), which a rewind
    can hold down.

    Faust drops anything fetched below it ("DROPPED MESSAGE ROFF" in
    ``Consumer._drain_messages``), and its drain sets it after each message it hands on,
    so a seek back reads nothing again: records fetched before the seek, or one whose
    hand-over was under way, raise it past the offsets sought. While held, a partition's
    offset stays where the rewind put it until a message read again (at or below the
    offset held when it began) comes through.
    """

    def __init__(self) -> None:
        super().__init__(lambda: None)
        self._held: dict[Any, int] = {}

    def hold(self, tp: Any, offset: int) -> None:
        """Read ``tp`` again from ``offset``; what was fetched before is not let raise it."""
        newest = self.get(tp)
        self._held[tp] = max(offset, newest if newest is not None else offset)
        super().__setitem__(tp, offset)

    def holding(self, tp: Any) -> bool:
        """Whether a rewind of ``tp`` still waits for its first message read again."""
        return tp in self._held

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        held = self._held.get(tp)
        if held is not None:
            if offset is not None and offset > held:
                return  # fetched before the rewind
            del self._held[tp]
        super().__setitem__(tp, offset)

    def update(self, *args: Any, **kwargs: Any) -> None:  # Faust's perform_seek
        other = dict(*args, **kwargs)
        for tp in other:
            self._held.pop(tp, None)
        super().update(other)

    def pop(self, tp: Any, *default: Any) -> Any:  # a revoke
        self._held.pop(tp, None)
        return super().pop(tp, *default)


async def rewind(consumer: Any, offsets: Mapping[Any, int]) -> None:
    """Resume ``offsets``' partitions and read each again from its offset (the watchdog's
    first healing step, and the ingest agent's answer to skipped messages).

    A message read again whose offset is already acknowledged is not counted twice
    (``Consumer.ack`` keeps an index), one that never was fills the hole the commits were
    waiting on, and what was processed is processed again idempotently.
    """
    log.info("rewinding %s", {f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items()})
    async with _rewinding:
        await asyncio.wait_for(_rewind(consumer, offsets), REWIND_S)
    log.info("rewound %s", sorted(f"{tp.topic}:{tp.partition}" for tp in offsets))


REWIND_S = 30.0
"""A rewind that takes longer fails (``TimeoutError``): its caller asks again later."""
_rewinding = asyncio.Lock()
"""One rewind at a time (the watchdog's and the re-reads')."""


async def _rewind(consumer: Any, offsets: Mapping[Any, int]) -> None:
    consumer.resume_partitions(set(offsets))
    assigned = consumer.assignment()
    wanted = {tp: offset for tp, offset in offsets.items() if tp in assigned}
    read = consumer._read_offset
    hold = read.hold if isinstance(read, ReadOffsets) else read.__setitem__
    for tp, offset in wanted.items():
        hold(tp, offset)
    await consumer.seek_wait(wanted)
    # Faust's seek_wait sets the read offsets itself, which ends the holds; what the drain
    # handed on from the old fetch meanwhile may have raised them again: hold them anew.
    for tp, offset in wanted.items():
        hold(tp, offset)


def acknowledge(consumer: Any, tp: Any, offsets: Iterable[int]) -> None:
    """Count ``offsets`` of ``tp`` as acknowledged in Faust's consumer (its ``ack``, by
    offset): records applied outside the streams (read again from the log) let the commits
    move past them. A message Faust handed to a stream and lost stays in its unacked set,
    which a rebalance waits to empty; it leaves it too."""
    committed = consumer._committed_offset[tp]
    index = consumer._acked_index[tp]
    acked = consumer._acked[tp]
    wanted = set(offsets)
    for offset in sorted(wanted):
        if (committed is None or offset >= committed) and offset not in index:
            index.add(offset)
            acked.append(offset)
    lost = [m for m in consumer._unacked_messages if m.tp == tp and m.offset in wanted]
    for message in lost:
        message.acked = True
        consumer._unacked_messages.discard(message)


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
