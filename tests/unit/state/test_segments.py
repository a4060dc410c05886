"""Segments in a real RocksDB (rocksdict), written and read as the agents do."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rocksdict import Options, Rdict

from streams.core.segments import NEWEST, encode, merge
from streams.state.segments import SegmentStore
from tests.unit.core.helpers import keys_of


class _Store:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dbs: dict[int, Rdict] = {}

    def _db_for_partition(self, partition: int) -> Rdict:
        if partition not in self.dbs:
            self.dbs[partition] = Rdict(str(self.folder / str(partition)), Options(raw_mode=True))
        return self.dbs[partition]


class _Table:
    def __init__(self, folder: Path) -> None:
        self.data = _Store(folder)


class _Changelog:
    """Records what a write sends to the changelog (no Kafka in unit tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, bytes]] = []

    async def send(self, partition: int, records: list[tuple[bytes, bytes]]) -> None:
        self.sent.extend((partition, k, v) for k, v in records)


def test_write_read_list_and_delete_locally(tmp_path: Path) -> None:
    table = _Changelog()
    store = SegmentStore(_Table(tmp_path), table)
    a1 = encode(b"a", keys_of([(10, True)]))
    a2 = encode(b"a", keys_of([(20, False), (30, True)]))
    ab = encode(b"ab", keys_of([(5, True)]))  # a store whose id starts like another's
    b1 = encode(b"b", keys_of([(7, True)]))
    asyncio.run(store.write(0, dict([a1, a2, ab, b1]), newest_us=30))
    store.table.data._db_for_partition(0).put(b"__faust\x00offset__", b"42")  # Faust's own key
    assert store.stores(0) == [b"a", b"ab", b"b"]
    assert store.newest(0) == 30
    assert (
        merge(store.read(0, b"a").items()).tolist()
        == keys_of([(10, True), (20, False), (30, True)]).tolist()
    )
    assert list(store.read(0, b"ab")) == [ab[0]]
    assert [(k, v) for _, k, v in table.sent] == [a1, a2, ab, b1, (NEWEST, (30).to_bytes(8, "big"))]
    table.sent.clear()
    asyncio.run(store.write(0, {}, deletes=[a1[0]]))
    assert list(store.read(0, b"a")) == [a2[0]]
    assert table.sent == []  # deletes stay local: the changelog drops records by age
    quiet = SegmentStore(_Table(tmp_path / "standby"))  # no changelog: a local-only write
    asyncio.run(quiet.write(1, dict([b1])))
    assert quiet.stores(1) == [b"b"]
