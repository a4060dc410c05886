"""The ``polls`` table's RocksDB partitions, read and written a segment at a time.

Faust keeps one RocksDB per table partition (``table.data``); the agents write segments
straight into it with one ``WriteBatch`` per partition and send the same puts to the
changelog, which is what a restore or a standby replays. Deletes (retention, merging) are
local only: the changelog drops records by age instead (``streams/topics.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from rocksdict import Rdict, WriteBatch

from streams.core.segments import NEWEST, SEGMENT, prefix, store_of


class ChangelogTable(Protocol):
    """What this needs of a Faust table: its store and its changelog."""

    @property
    def data(self) -> Any:
        """The table's store (``faust.stores.rocksdb.Store``)."""

    def send_changelog(self, partition: int | None, key: Any, value: Any) -> Any:
        """Send one record to the changelog partition."""


class SegmentStore:
    """Segments of the stores of the partitions this worker holds (active or standby)."""

    def __init__(self, table: ChangelogTable) -> None:
        self.table = table

    def _db(self, partition: int) -> Rdict:
        db: Rdict = self.table.data._db_for_partition(partition)
        return db

    def read(self, partition: int, store: bytes) -> dict[bytes, bytes]:
        """Every segment of ``store``, by key (in key order)."""
        start = prefix(store)
        out: dict[bytes, bytes] = {}
        it = self._db(partition).iter()
        it.seek(start)
        while it.valid():
            key = it.key()
            if not key.startswith(start):
                break
            out[key] = it.value()
            it.next()
        return out

    def stores(self, partition: int) -> list[bytes]:
        """The stores with segments in ``partition``: one seek per store, not per key."""
        found: list[bytes] = []
        it = self._db(partition).iter()
        it.seek(SEGMENT)
        while it.valid():
            store = store_of(it.key())
            if store is None:
                break
            found.append(store)
            it.seek(SEGMENT + store + b"\x01")  # just past the store's last segment
        return found

    def newest(self, partition: int) -> int | None:
        """The partition's newest poll time, as last written."""
        value = self._db(partition).get(NEWEST)
        return int.from_bytes(value, "big") if value else None

    def write(
        self,
        partition: int,
        puts: Mapping[bytes, bytes],
        deletes: Iterable[bytes] = (),
        newest_us: int | None = None,
        changelog: bool = True,
    ) -> None:
        """One atomic RocksDB write; with ``changelog``, the puts (not the deletes) go to
        the changelog too."""
        batch = WriteBatch(raw_mode=True)
        for key, value in puts.items():
            batch.put(key, value)
        for key in deletes:
            batch.delete(key)
        if newest_us is not None:
            batch.put(NEWEST, newest_us.to_bytes(8, "big"))
        self._db(partition).write(batch)
        if changelog:
            send = self.table.send_changelog
            for key, value in puts.items():
                send(partition, key, value)
            if newest_us is not None:
                send(partition, NEWEST, newest_us.to_bytes(8, "big"))
