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


class _Entry:
    """A store's timeline, what it was built from, and its last row."""

    __slots__ = ("line", "line_n_us", "log_bytes", "profile_bytes", "timeline")

    def __init__(self, log_bytes: bytes, profile_bytes: bytes | None, timeline: Timeline) -> None:
        self.log_bytes = log_bytes
        self.profile_bytes = profile_bytes
        self.timeline = timeline
        self.line: ReportRow | None = None
        self.line_n_us: int | None = None


class TimelineCache:
    """Timelines by store, rebuilt only when the store's polls or profile bytes change;
    a row is reused when nothing changed and the report time is the same."""

    def __init__(self) -> None:
        self._entries: dict[bytes, _Entry] = {}

    def _entry(
        self, store: bytes, log_bytes: bytes, profile_bytes: bytes | None, n_us: int
    ) -> _Entry:
        entry = self._entries.get(store)
        if (
            entry is not None
            and (entry.log_bytes is log_bytes or entry.log_bytes == log_bytes)
            and entry.profile_bytes == profile_bytes
            and entry.timeline.covers(n_us)
        ):
            return entry
        keys = PollLog.from_bytes(log_bytes).keys
        timeline = Timeline.for_report(keys, decode_profile(profile_bytes), n_us)
        entry = self._entries[store] = _Entry(log_bytes, profile_bytes, timeline)
        return entry

    def timeline(
        self, store: bytes, log_bytes: bytes, profile_bytes: bytes | None, n_us: int
    ) -> Timeline:
        """The store's timeline good for ``n_us`` (built now if it is stale)."""
        return self._entry(store, log_bytes, profile_bytes, n_us).timeline

    def fresh(self, store: bytes, log_bytes: bytes, profile_bytes: bytes | None) -> bool:
        """Whether the store's timeline was built from exactly these bytes."""
        entry = self._entries.get(store)
        return (
            entry is not None
            and (entry.log_bytes is log_bytes or entry.log_bytes == log_bytes)
            and entry.profile_bytes == profile_bytes
        )

    def rows(
        self, stores: Iterable[tuple[bytes, bytes, bytes | None]], n_us: int
    ) -> list[ReportRow]:
        """Rows at ``n_us`` of ``(store, poll log bytes, profile bytes)``, sorted by store."""
        rows = []
        for store, log_bytes, profile_bytes in stores:
            entry = self._entry(store, log_bytes, profile_bytes, n_us)
            if entry.line_n_us != n_us:
                entry.line = store_row(store.decode(), entry.timeline, n_us)
                entry.line_n_us = n_us
            if entry.line is not None:
                rows.append(entry.line)
        rows.sort()
        return rows


class ProfileIndex:
    """Each store's profile bytes in memory: read from the table once, then kept current
    by every profile write. Cleared whenever partitions move."""

    def __init__(self) -> None:
        self._profiles: dict[bytes, bytes | None] = {}

    def get(self, store: bytes, read: Callable[[bytes], bytes | None]) -> bytes | None:
        """The store's profile bytes (``read`` from the table on a miss)."""
        try:
            return self._profiles[store]
        except KeyError:
            value = self._profiles[store] = read(store)
            return value

    def put(self, store: bytes, profile_bytes: bytes) -> None:
        """Record a write."""
        self._profiles[store] = profile_bytes

    def clear(self) -> None:
        """Forget everything."""
        self._profiles.clear()


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
            if partition in wanted:
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
