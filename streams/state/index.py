"""What a worker keeps in memory beside its RocksDB partitions.

Per partition it holds (active or standby): the stores there, each with a **version**
(bumped by every write to the store, so that a cached timeline knows it is stale) and how
many segments it has at least; the partition's newest poll time. Beside that, the work
due: stores whose timelines should be rebuilt before the next report (``dirty``), stores
with too many segments (``crowded``), and when each store's segments must be written to
the changelog again (``refresh``, a heap: only what is due is looked at).

Memory is bounded by the number of stores (about 150 bytes each), never by their polls.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from streams.core.segments import MAX_SEGMENTS


@dataclass(slots=True)
class StoreState:
    """One store of a partition."""

    version: int = 0
    """Bumped by every write to the store."""
    segments: int = 0
    """Segments the store has, at least (exact after a read)."""


@dataclass(slots=True)
class PartitionState:
    """One partition's stores and newest poll time."""

    stores: dict[bytes, StoreState] = field(default_factory=dict)
    newest_us: int | None = None
    generation: int = 0
    """Bumped by every write to any of its stores and every profile change."""
    answer: tuple[int, int, list[list[str]]] | None = None
    """The rows of its last whole answer: (generation, report time, fields of each row)."""


Load = Callable[[int], tuple[list[bytes], int | None]]
"""Reads a partition's stores and newest poll time from RocksDB."""


class StoreIndex:
    """The partitions this worker holds, loaded on first use, dropped when they move."""

    def __init__(self, refresh_every_s: float, load: Load) -> None:
        self.refresh_every_s = refresh_every_s
        self._load = load
        self._partitions: dict[int, PartitionState] = {}
        self.dirty: dict[tuple[int, bytes], None] = {}
        """Stores written since their timeline was last built (insertion-ordered set)."""
        self.crowded: dict[tuple[int, bytes], None] = {}
        """Stores with more than ``MAX_SEGMENTS`` segments."""
        self._refresh: list[tuple[float, int, bytes]] = []

    def partition(self, partition: int, now: float) -> PartitionState:
        """The partition's state, read from RocksDB the first time it is asked for."""
        state = self._partitions.get(partition)
        if state is None:
            stores, newest = self._load(partition)
            state = self._partitions[partition] = PartitionState(
                {s: StoreState() for s in stores}, newest
            )
            for store in stores:
                self.dirty[(partition, store)] = None
                self._schedule(partition, store, now, first=True)
        return state

    def loaded(self) -> list[int]:
        """The partitions read so far."""
        return list(self._partitions)

    def _schedule(self, partition: int, store: bytes, now: float, first: bool = False) -> None:
        # A store seen for the first time (or after a restart, when its segments' age in
        # the changelog is unknown) is refreshed within one period, spread by its id.
        spread = (zlib.crc32(store) % 10_000) / 10_000 if first else 1.0
        heapq.heappush(self._refresh, (now + spread * self.refresh_every_s, partition, store))

    def wrote(self, partition: int, store: bytes, segments: int, now: float) -> None:
        """Record ``segments`` new segments of ``store`` (a write or a changelog record)."""
        state = self._partitions.get(partition)
        if state is None:
            return  # loaded from RocksDB, written or not, when first asked for
        info = state.stores.get(store)
        if info is None:
            info = state.stores[store] = StoreState()
            self._schedule(partition, store, now)
        info.version += 1
        state.generation += 1
        info.segments += segments
        self.dirty[(partition, store)] = None
        if info.segments > MAX_SEGMENTS:
            self.crowded[(partition, store)] = None

    def touch(self, partition: int) -> None:
        """Something of ``partition`` changed that is not a write (a store's profile)."""
        state = self._partitions.get(partition)
        if state is not None:
            state.generation += 1

    def forget_answers(self, partitions: set[int]) -> None:
        """Drop the remembered answers of ``partitions`` (newly active here: what changed
        while another worker owned them may not all be counted here)."""
        for partition in partitions:
            state = self._partitions.get(partition)
            if state is not None:
                state.answer = None

    def newer(self, partition: int, newest_us: int) -> bool:
        """Record a poll time of ``partition``; True if it is its newest so far."""
        state = self._partitions.get(partition)
        if state is None:
            return True
        if state.newest_us is None or newest_us > state.newest_us:
            state.newest_us = newest_us
            return True
        return False

    def counted(self, partition: int, store: bytes, segments: int) -> None:
        """The exact segment count of a store, as just read."""
        state = self._partitions.get(partition)
        info = state.stores.get(store) if state is not None else None
        if info is None:
            return
        info.segments = segments
        if segments > MAX_SEGMENTS:
            self.crowded[(partition, store)] = None
        else:
            self.crowded.pop((partition, store), None)

    def due(self, now: float) -> Iterator[tuple[int, bytes]]:
        """Stores whose refresh is due, each rescheduled one period later."""
        while self._refresh and self._refresh[0][0] <= now:
            _, partition, store = heapq.heappop(self._refresh)
            state = self._partitions.get(partition)
            if state is None or store not in state.stores:
                continue  # moved away or gone
            self._schedule(partition, store, now)
            yield partition, store

    def drop(self, partitions: set[int] | None = None) -> set[bytes]:
        """Forget ``partitions`` (all when None); returns their stores."""
        gone = set(self._partitions) if partitions is None else partitions & set(self._partitions)
        stores: set[bytes] = set()
        for p in gone:
            stores.update(self._partitions.pop(p).stores)
        for work in (self.dirty, self.crowded):
            for key in [k for k in work if k[0] in gone]:
                del work[key]
        self._refresh = [e for e in self._refresh if e[1] not in gone]
        heapq.heapify(self._refresh)
        return stores
