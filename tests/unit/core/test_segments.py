"""A store's polls as append-only segments: layout, retention, compaction."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.pollkeys import normalize_keys
from streams.core.report import store_row
from streams.core.schedule import Profile
from streams.core.segments import (
    MAX_SEGMENTS,
    RETENTION_US,
    TAIL_US,
    decode,
    encode,
    merge,
    plan_compaction,
    prefix,
    retain,
    store_of,
)
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY, US_PER_HOUR
from tests.unit.core.helpers import keys_of, segments_of, us

START = us("2023-01-02T00:30:00Z")  # a Monday
MORNINGS = Profile(tuple((d, 0, 12 * US_PER_HOUR) for d in range(7)), "UTC")


def _hourly(days: int, start: int = START) -> list[tuple[int, bool]]:
    # Down for the first four hours of every day, up otherwise.
    return [(start + h * US_PER_HOUR, h % 24 >= 4) for h in range(days * 24)]


def test_a_live_poll_is_one_small_record_and_replays_are_idempotent() -> None:
    keys = keys_of([(START, True)])
    key, value = encode(b"8419537941919820732", keys)
    assert value == b""
    assert key == b"\x018419537941919820732\x00" + int(keys[0]).to_bytes(8, "big")
    assert len(key) + len(value) == 29
    assert encode(b"8419537941919820732", keys) == (key, value)
    assert store_of(key) == b"8419537941919820732"
    assert store_of(b"__faust\x00offset__") is None  # Faust's own key is no store


def test_segments_that_start_alike_do_not_overwrite_each_other() -> None:
    one = encode(b"s", keys_of([(START, True), (START + 10, True)]))
    two = encode(b"s", keys_of([(START, True), (START + 20, False)]))
    assert one[0] != two[0]
    assert one[0].startswith(prefix(b"s"))
    both = merge([one, two])
    assert (
        both.tolist() == keys_of([(START, True), (START + 10, True), (START + 20, False)]).tolist()
    )


def test_merging_keeps_one_poll_per_instant_inactive_wins() -> None:
    a = encode(b"s", keys_of([(START, True)]))
    b = encode(b"s", keys_of([(START, False), (START + 5, True)]))
    assert merge([a, b]).tolist() == keys_of([(START, False), (START + 5, True)]).tolist()


def test_retention_keeps_14_days_and_the_newest_in_hours_poll_before_them() -> None:
    polls = _hourly(20)
    keys = normalize_keys(keys_of(polls))
    kept = retain(keys, MORNINGS)
    newest = polls[-1][0]
    # 14 days back, then back to the start of that local day (MORNINGS is in UTC): a day
    # of history that is not final keeps every poll (docs/semantics.md §8.2).
    horizon = (newest - RETENTION_US) // US_PER_DAY * US_PER_DAY
    assert horizon < newest - RETENTION_US
    assert int(kept[-1]) >> 1 == newest
    after = [t for t, _ in polls if t >= horizon]
    assert (kept[2:] >> 1).tolist() == after
    # Before the horizon: the newest poll in business hours (00:00–12:00 UTC), whose status
    # reaches into the oldest window, and the newest poll at all (the store's row).
    in_hours_before = [t for t, _ in polls if t < horizon and (t % US_PER_DAY) < 12 * US_PER_HOUR]
    newest_before = max(t for t, _ in polls if t < horizon)
    assert newest_before != max(in_hours_before)
    assert (kept[:2] >> 1).tolist() == [max(in_hours_before), newest_before]


def test_a_store_closed_for_weeks_keeps_its_last_observation() -> None:
    mondays = Profile(((0, 9 * US_PER_HOUR, 10 * US_PER_HOUR),), "UTC")
    polls = [(us("2023-01-02T09:30:00Z"), False)]  # the only poll in business hours
    polls += [(us("2023-01-03T12:00:00Z") + d * US_PER_DAY, True) for d in range(60)]
    kept = retain(normalize_keys(keys_of(polls)), mondays)
    assert int(kept[0]) >> 1 == us("2023-01-02T09:30:00Z")
    n_us = polls[-1][0]
    everything = normalize_keys(keys_of(polls))
    assert store_row("s", Timeline.for_report(kept, mondays, n_us), n_us) == store_row(
        "s", Timeline.for_report(everything, mondays, n_us), n_us
    )


def _apply(segs: dict[bytes, bytes], plan: object) -> dict[bytes, bytes]:
    puts, deletes = plan  # type: ignore[misc]
    out = {k: v for k, v in segs.items() if k not in deletes}
    out.update(puts)
    return out


profiles = st.sampled_from(
    [
        MORNINGS,
        Profile((), None),
        Profile(((0, 9 * US_PER_HOUR, 10 * US_PER_HOUR),), "America/New_York"),
        Profile(((4, 22 * US_PER_HOUR, 2 * US_PER_HOUR), (6, 0, 0)), "Asia/Kolkata"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 25 * 24 * 60), st.booleans()), min_size=1, max_size=300),
    profiles,
    st.randoms(),
    st.integers(0, 7 * 24 * 60),
)
def test_compaction_keeps_every_report_the_pipeline_answers(
    polls_min: list[tuple[int, bool]], profile: Profile, rnd: random.Random, back_min: int
) -> None:
    polls = [(START + m * 60_000_000, a) for m, a in polls_min]
    segs = segments_of(b"s", polls, rnd)
    plan = plan_compaction(b"s", segs, profile)
    after = _apply(segs, plan)
    everything = merge(segs.items())
    assert np.array_equal(merge(after.items()), retain(everything, profile))
    # Sealed days are one segment each; the last day keeps its segments.
    tail_from = (int(everything[-1]) >> 1) - TAIL_US
    sealed = [decode(k, v) for k, v in after.items() if int(decode(k, v)[0]) >> 1 < tail_from]
    days = [set(((s >> 1) // US_PER_DAY).tolist()) for s in sealed]
    assert all(len(d) == 1 for d in days)
    assert len(days) == len(set().union(*days)) if days else True
    # Exact for every report time from the newest poll back a week (docs/semantics.md §4).
    newest = int(everything[-1]) >> 1
    for n_us in (newest, newest - back_min * 60_000_000, newest - 7 * US_PER_DAY):
        full = store_row("s", Timeline.for_report(everything, profile, n_us), n_us)
        kept = store_row("s", Timeline.for_report(merge(after.items()), profile, n_us), n_us)
        assert kept == full, n_us
    # Nothing more to do; a refresh writes every kept segment again and deletes nothing.
    assert plan_compaction(b"s", after, profile) == ({}, [])
    again = plan_compaction(b"s", after, profile, refresh=True)
    assert again.puts == after
    assert again.deletes == []


def test_live_polls_of_two_weeks_compact_to_few_segments() -> None:
    rnd = random.Random(1)
    polls = _hourly(16)
    segs = {}
    for t, a in polls:  # one live poll per segment
        segs.update(segments_of(b"s", [(t, a)], rnd))
    assert len(segs) == len(polls) > MAX_SEGMENTS
    after = _apply(segs, plan_compaction(b"s", segs, MORNINGS))
    assert len(after) <= 15 + 24 + 1  # a segment per sealed day, the tail as it came
