"""Built timelines kept between reports: reuse, rebuild on change, eviction by bytes."""

from __future__ import annotations

from streams.core.pollkeys import normalize_keys
from streams.core.schedule import Profile
from streams.core.snapshot import TimelineCache
from streams.core.timeline import Timeline
from tests.unit.core.helpers import keys_of

HOUR = 3_600_000_000


def _builder(polls: list[tuple[int, bool]], built: list[int]):  # type: ignore[no-untyped-def]
    def build(n_us: int) -> Timeline:
        built.append(n_us)
        return Timeline.for_report(normalize_keys(keys_of(polls)), Profile((), None), n_us)

    return build


def test_reuses_unchanged_timelines_and_rows_and_rebuilds_changed_ones() -> None:
    cache = TimelineCache(budget_bytes=10**9)
    built: list[int] = []
    build = _builder([(10 * HOUR, True)], built)
    first = cache.timeline(b"s", 1, b"p", 11 * HOUR, build)
    assert cache.timeline(b"s", 1, b"p", 11 * HOUR, build) is first
    row = cache.row(b"s", 1, b"p", 11 * HOUR, build)
    assert row is not None
    assert row.uptime_hour == 2 * HOUR
    assert cache.row(b"s", 1, b"p", 11 * HOUR, build) is row
    assert built == [11 * HOUR]
    cache.timeline(b"s", 2, b"p", 11 * HOUR, build)  # the store was written: version 2
    cache.timeline(b"s", 2, b"q", 11 * HOUR, build)  # its profile changed
    cache.timeline(b"s", 2, b"q", 40 * 24 * HOUR, build)  # a report time out of reach
    assert len(built) == 4
    assert cache.fresh(b"s", 2, b"q")
    assert not cache.fresh(b"s", 1, b"q")


def test_least_recently_used_entries_go_past_the_budget() -> None:
    probe = TimelineCache(budget_bytes=10**9)
    probe.timeline(b"x", 1, None, HOUR, _builder([(0, True)], []))
    one = probe.nbytes
    cache = TimelineCache(budget_bytes=3 * one)
    for name in (b"a", b"b", b"c"):
        cache.timeline(name, 1, None, HOUR, _builder([(0, True)], []))
    cache.timeline(b"a", 1, None, HOUR, _builder([(0, True)], []))  # a is used again
    cache.timeline(b"d", 1, None, HOUR, _builder([(0, True)], []))
    assert cache.nbytes <= 3 * one
    assert cache.evictions == 1
    assert not cache.fresh(b"b", 1, None)  # the least recently used went
    assert cache.fresh(b"a", 1, None)
    cache.forget({b"a"})
    assert not cache.fresh(b"a", 1, None)
    cache.forget()
    assert len(cache) == 0
    assert cache.nbytes == 0
