"""A partition's rows at one report time, from stored bytes, reusing unchanged timelines."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from streams.core.payloads import decode_profile
from streams.core.polllog import PollLog
from streams.core.report import ReportRow, store_row
from streams.core.timeline import Timeline


def newest_of(log_bytes: bytes) -> int | None:
    """The newest poll time of a stored poll log, read from its last 8 bytes."""
    if len(log_bytes) < 9:
        return None
    return int.from_bytes(log_bytes[-8:], "little", signed=True) >> 1


class TimelineCache:
    """Timelines by store, rebuilt only when the store's polls or profile bytes change."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[bytes, bytes | None, Timeline]] = {}

    def timeline(
        self, store: bytes, log_bytes: bytes, profile_bytes: bytes | None, n_us: int
    ) -> Timeline:
        """The store's timeline good for ``n_us``."""
        entry = self._entries.get(store)
        if entry is not None:
            old_log, old_profile, timeline = entry
            if old_log == log_bytes and old_profile == profile_bytes and timeline.covers(n_us):
                return timeline
        keys = PollLog.from_bytes(log_bytes).keys
        timeline = Timeline.for_report(keys, decode_profile(profile_bytes), n_us)
        self._entries[store] = (log_bytes, profile_bytes, timeline)
        return timeline

    def forget(self, keep: Iterable[bytes]) -> None:
        """Drop the entries of stores not in ``keep`` (e.g. after losing partitions)."""
        wanted = set(keep)
        for store in [s for s in self._entries if s not in wanted]:
            del self._entries[store]

    def rows(
        self, stores: Iterable[tuple[bytes, bytes, bytes | None]], n_us: int
    ) -> list[ReportRow]:
        """Rows at ``n_us`` of ``(store, poll log bytes, profile bytes)``, sorted by store."""
        rows = []
        for store, log_bytes, profile_bytes in stores:
            row = store_row(
                store.decode(), self.timeline(store, log_bytes, profile_bytes, n_us), n_us
            )
            if row is not None:
                rows.append(row)
        rows.sort()
        return rows


class StoreIndex:
    """Which stores live in which partition, with their latest poll-log bytes.

    Filled lazily from the table (one scan) for the partitions a report asks about, then
    kept current by every table write, so a report reads its partition's stores directly
    instead of scanning every key of the worker. Cleared whenever partitions move.
    """

    def __init__(self) -> None:
        self._logs: dict[int, dict[bytes, bytes]] = {}
        self._newest: dict[int, int] = {}

    def put(self, partition: int, store: bytes, log_bytes: bytes) -> None:
        """Record a write (ignored for partitions not indexed yet)."""
        logs = self._logs.get(partition)
        if logs is None:
            return
        logs[store] = log_bytes
        newest = newest_of(log_bytes)
        if newest is not None and newest > self._newest.get(partition, newest - 1):
            self._newest[partition] = newest

    def ensure(
        self,
        partitions: Iterable[int],
        items: Callable[[], Iterable[tuple[bytes, bytes]]],
        partition_of: Callable[[bytes], int],
    ) -> None:
        """Index ``partitions`` (all at once, from one scan of ``items()``) if not yet."""
        wanted = [p for p in partitions if p not in self._logs]
        if not wanted:
            return
        for p in wanted:
            self._logs[p] = {}
        for store, log_bytes in items():
            partition = partition_of(store)
            if partition in self._logs and (partition in wanted):
                self.put(partition, store, log_bytes)

    def stores(self, partition: int) -> dict[bytes, bytes]:
        """The indexed stores of ``partition`` and their poll-log bytes."""
        return self._logs.get(partition, {})

    def newest(self, partition: int) -> int | None:
        """The newest poll time in ``partition``, or None."""
        return self._newest.get(partition)

    def clear(self) -> None:
        """Forget everything (partitions moved)."""
        self._logs.clear()
        self._newest.clear()
