"""The store index and timeline cache that serve reports from a worker's tables."""

from __future__ import annotations

import numpy as np

from streams.core.payloads import encode_profile
from streams.core.polllog import PollLog
from streams.core.schedule import Profile
from streams.core.snapshot import StoreIndex, TimelineCache, newest_of


def _log(*polls: tuple[int, bool]) -> bytes:
    log = PollLog()
    log.add_many(polls)
    return log.to_bytes()


def test_index_scans_once_then_follows_writes() -> None:
    table = {b"a": _log((10, True)), b"b": _log((20, False)), b"c": _log((5, True))}
    partition = {b"a": 0, b"b": 1, b"c": 0, b"d": 0}
    scans = []

    def items() -> list[tuple[bytes, bytes]]:
        scans.append(1)
        return list(table.items())

    index = StoreIndex()
    index.put(0, b"a", _log((99, True)))  # not indexed yet: ignored
    index.ensure([0, 1], items, partition.__getitem__)
    index.ensure([0, 1], items, partition.__getitem__)
    assert len(scans) == 1
    assert set(index.stores(0)) == {b"a", b"c"}
    assert index.newest(0) == 10
    assert index.newest(1) == 20
    index.put(0, b"d", _log((30, True)))
    assert set(index.stores(0)) == {b"a", b"c", b"d"}
    assert index.newest(0) == 30
    index.clear()
    assert index.stores(0) == {}
    index.ensure([0], items, partition.__getitem__)
    assert len(scans) == 2


def test_newest_of_reads_the_last_key() -> None:
    assert newest_of(_log((7, True), (3, False))) == 7
    assert newest_of(PollLog().to_bytes()) is None


def test_cache_reuses_unchanged_timelines_and_rebuilds_changed_ones() -> None:
    cache = TimelineCache()
    hour = 3_600_000_000
    log_bytes = _log((10 * hour, True))
    profile = encode_profile(Profile((), None))
    first = cache.timeline(b"s", log_bytes, profile, 11 * hour)
    assert cache.timeline(b"s", log_bytes, profile, 11 * hour) is first
    assert cache.timeline(b"s", _log((10 * hour, False)), profile, 11 * hour) is not first
    changed_hours = encode_profile(Profile(((0, 0, hour),), "UTC"))
    assert cache.timeline(b"s", log_bytes, changed_hours, 11 * hour) is not first
    rows = cache.rows([(b"s", log_bytes, profile)], 11 * hour)
    assert [r.store_id for r in rows] == ["s"]
    assert np.isclose(rows[0].uptime_hour, 2 * hour)
