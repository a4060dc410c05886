"""Built timelines kept between reports: an LRU bounded by bytes (pure).

A store's timeline is rebuilt only when its polls changed (its **version** moved: every
write to the store bumps it) or its profile did, or when a report asks for a time the
timeline does not cover; its row is reused when nothing changed and the report time is
the same. Entries past the byte budget are evicted, least recently used first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from streams.core.report import ReportRow, store_row
from streams.core.timeline import Timeline

_ENTRY_OVERHEAD = 200
"""Bytes an entry costs beyond its timeline's arrays (the entry, dict slot, key)."""


class _Entry:
    """A store's timeline, what it was built from, and its last row."""

    __slots__ = ("nbytes", "profile_bytes", "row", "row_n_us", "timeline", "version")

    def __init__(self, version: int, profile_bytes: bytes | None, timeline: Timeline) -> None:
        self.version = version
        self.profile_bytes = profile_bytes
        self.timeline = timeline
        self.row: ReportRow | None = None
        self.row_n_us: int | None = None
        self.nbytes = timeline.nbytes + _ENTRY_OVERHEAD + len(profile_bytes or b"")


Build = Callable[[int], Timeline]
"""Builds a store's timeline for a report time (reads its polls and profile)."""


class TimelineCache:
    """Timelines by store, least recently used evicted past ``budget_bytes``."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.nbytes = 0
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.builds = 0
        """Timelines built so far (for the worker's stats)."""
        self.evictions = 0
        """Entries evicted so far."""

    def __len__(self) -> int:
        return len(self._entries)

    def fresh(self, store: bytes, version: int, profile_bytes: bytes | None) -> bool:
        """Whether the store's cached timeline was built from this version and profile."""
        entry = self._entries.get(store)
        return (
            entry is not None and entry.version == version and entry.profile_bytes == profile_bytes
        )

    def _entry(
        self, store: bytes, version: int, profile_bytes: bytes | None, n_us: int, build: Build
    ) -> _Entry:
        entry = self._entries.get(store)
        if (
            entry is not None
            and entry.version == version
            and entry.profile_bytes == profile_bytes
            and entry.timeline.covers(n_us)
        ):
            self._entries.move_to_end(store)
            return entry
        if entry is not None:
            self.nbytes -= entry.nbytes
        entry = _Entry(version, profile_bytes, build(n_us))
        self.builds += 1
        self._entries[store] = entry
        self._entries.move_to_end(store)
        self.nbytes += entry.nbytes
        self._evict(keep=store)
        return entry

    def _evict(self, keep: bytes) -> None:
        while self.nbytes > self.budget_bytes and len(self._entries) > 1:
            store, entry = next(iter(self._entries.items()))
            if store == keep:
                break
            del self._entries[store]
            self.nbytes -= entry.nbytes
            self.evictions += 1

    def timeline(
        self, store: bytes, version: int, profile_bytes: bytes | None, n_us: int, build: Build
    ) -> Timeline:
        """The store's timeline good for ``n_us`` (built now if it is stale or missing)."""
        return self._entry(store, version, profile_bytes, n_us, build).timeline

    def row(
        self, store: bytes, version: int, profile_bytes: bytes | None, n_us: int, build: Build
    ) -> ReportRow | None:
        """The store's row at ``n_us`` (None when it has no poll at or before ``n_us``)."""
        entry = self._entry(store, version, profile_bytes, n_us, build)
        if entry.row_n_us != n_us:
            entry.row = store_row(store.decode(), entry.timeline, n_us)
            entry.row_n_us = n_us
        return entry.row

    def forget(self, stores: set[bytes] | None = None) -> None:
        """Drop the entries of ``stores`` (all when None), e.g. of revoked partitions."""
        if stores is None:
            self._entries.clear()
            self.nbytes = 0
            return
        for store in stores:
            entry = self._entries.pop(store, None)
            if entry is not None:
                self.nbytes -= entry.nbytes
