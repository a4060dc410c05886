"""The in-memory index beside the RocksDB partitions."""

from __future__ import annotations

from streams.core.segments import MAX_SEGMENTS
from streams.state.index import StoreIndex


def _index(loads: list[int]) -> StoreIndex:
    disk = {0: ([b"a", b"b"], 100), 1: ([b"c"], None)}

    def load(partition: int) -> tuple[list[bytes], int | None]:
        loads.append(partition)
        return disk[partition]

    return StoreIndex(refresh_every_s=1000.0, load=load)


def test_a_partition_is_read_once_and_then_follows_the_writes() -> None:
    loads: list[int] = []
    index = _index(loads)
    state = index.partition(0, now=0.0)
    assert set(state.stores) == {b"a", b"b"}
    assert state.newest_us == 100
    index.partition(0, now=1.0)
    assert loads == [0]
    assert set(index.dirty) == {(0, b"a"), (0, b"b")}  # to warm after a load
    index.dirty.clear()
    index.wrote(0, b"a", 1, now=2.0)
    index.wrote(0, b"new", 1, now=2.0)
    assert state.stores[b"a"].version == 1
    assert state.stores[b"new"].version == 1
    assert list(index.dirty) == [(0, b"a"), (0, b"new")]
    assert index.newer(0, 99) is False
    assert index.newer(0, 101) is True
    assert state.newest_us == 101


def test_stores_with_many_segments_are_crowded_until_counted() -> None:
    index = _index([])
    index.partition(0, now=0.0)
    for _ in range(MAX_SEGMENTS + 1):
        index.wrote(0, b"a", 1, now=0.0)
    assert (0, b"a") in index.crowded
    index.counted(0, b"a", 3)
    assert (0, b"a") not in index.crowded


def test_refreshes_come_due_once_a_period_and_only_for_held_partitions() -> None:
    index = _index([])
    index.partition(0, now=0.0)
    index.partition(1, now=0.0)
    first = sorted(index.due(now=1000.0))  # loaded stores are spread over one period
    assert first == [(0, b"a"), (0, b"b"), (1, b"c")]
    assert list(index.due(now=1500.0)) == []
    assert sorted(index.due(now=2000.0)) == first
    assert index.drop({1}) == {b"c"}
    assert sorted(index.due(now=3000.0)) == [(0, b"a"), (0, b"b")]
    assert index.loaded() == [0]


def test_a_partition_answer_lasts_until_anything_in_it_changes() -> None:
    index = StoreIndex(3600.0, lambda p: ([b"a"], 10))
    state = index.partition(0, now=0.0)
    before = state.generation
    state.answer = (state.generation, 99, [["a", "1", "2", "3", "4", "5", "6"]])
    index.wrote(0, b"a", 1, now=1.0)  # a write: the answer no longer matches
    assert state.generation == before + 1
    index.touch(0)  # a profile change likewise
    assert state.generation == before + 2
    assert state.answer[0] != state.generation
    kept = index.partition(1, now=0.0)
    kept.answer = (kept.generation, 99, [["a", "1", "2", "3", "4", "5", "6"]])
    index.forget_answers({0, 7})  # newly active here: what another owner wrote is not known
    assert state.answer is None
    assert kept.answer is not None  # active here all along: every write came through here
