"""Property tests: the fast core against the slow reference, and the state's invariants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.polllog import PollLog
from streams.core.report import WINDOWS_US, ReportRow, store_row
from streams.core.schedule import Profile
from streams.core.timeline import Timeline
from tests.unit.core import reference

ZONES = [
    None,
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Not/AZone",
]
# Anchors near DST changes of the zones above, and an ordinary January week.
ANCHORS = [
    datetime(2023, 1, 18, tzinfo=UTC),
    datetime(2023, 3, 9, tzinfo=UTC),
    datetime(2023, 3, 23, tzinfo=UTC),
    datetime(2023, 10, 26, tzinfo=UTC),
    datetime(2023, 4, 1, tzinfo=UTC),
]
SPAN_MIN = 10 * 24 * 60

shift = st.tuples(st.integers(0, 6), st.integers(0, 24 * 60 - 1), st.integers(0, 24 * 60 - 1))
poll = st.tuples(st.integers(0, SPAN_MIN), st.booleans())


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _ticks(delta: timedelta) -> int:
    return 2 * (delta // timedelta(microseconds=1))


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, bool]], Profile, list[tuple[int, time, time]], str | None, int]:
    anchor = draw(st.sampled_from(ANCHORS))
    zone = draw(st.sampled_from(ZONES))
    shifts = draw(st.lists(shift, max_size=6))
    polls = draw(st.lists(poll, min_size=1, max_size=40))
    now_min = draw(st.integers(0, SPAN_MIN + 600))
    base = _us(anchor)
    polls_us = [(base + m * 60_000_000, a) for m, a in polls]
    as_time = [(d, time(s // 60, s % 60), time(e // 60, e % 60)) for d, s, e in shifts]
    prof = Profile(tuple(sorted({(d, s * 60_000_000, e * 60_000_000) for d, s, e in shifts})), zone)
    return polls_us, prof, as_time, zone, base + now_min * 60_000_000


def _core_row(polls: list[tuple[int, bool]], prof: Profile, now_us: int) -> ReportRow | None:
    log = PollLog()
    log.add_many(polls)
    return store_row("s", Timeline.for_report(log.keys, prof, now_us), now_us)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_core_matches_the_brute_force_reference(scenario) -> None:  # type: ignore[no-untyped-def]
    polls, prof, shifts, zone, now_us = scenario
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = reference.report(
        [(epoch + timedelta(microseconds=t), a) for t, a in polls],
        shifts,
        zone,
        epoch + timedelta(microseconds=now_us),
    )
    got = _core_row(polls, prof, now_us)
    if expected is None:
        assert got is None
    else:
        assert got == ReportRow("s", *(_ticks(d) for d in expected))


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.randoms())
def test_uptime_plus_downtime_is_business_time_and_order_does_not_matter(
    scenario,
    rnd: random.Random,  # type: ignore[no-untyped-def]
) -> None:
    polls, prof, _shifts, _zone, now_us = scenario
    in_order = PollLog()
    in_order.add_many(sorted(polls))
    shuffled = list(polls) + rnd.sample(polls, k=len(polls) // 2)  # with replays
    rnd.shuffle(shuffled)
    any_order = PollLog()
    for i in range(0, len(shuffled), 3):  # read between batches: normalizes each time
        any_order.add_many(shuffled[i : i + 3])
        assert len(any_order) >= 1
    assert any_order == in_order
    timeline = Timeline.for_report(in_order.keys, prof, now_us)
    row = store_row("s", timeline, now_us)
    if row is None or timeline.measure(now_us, WINDOWS_US[0]) is None:
        return
    for width, up, down in zip(WINDOWS_US, row[1:4], row[4:7], strict=True):
        measure = timeline.measure(now_us, width)
        assert measure is not None
        assert (
            up + down
            == measure.business
            == timeline.business(2 * now_us) - timeline.business(2 * (now_us - width))
        )
        assert up >= 0
        assert down >= 0
        assert up + down <= 2 * width


@given(st.lists(st.tuples(st.integers(0, 10**16), st.booleans()), max_size=200))
def test_poll_log_round_trips_through_bytes(polls: list[tuple[int, bool]]) -> None:
    log = PollLog()
    log.add_many(polls)
    data = log.to_bytes()
    assert len(data) == 1 + 8 * len(log)
    again = PollLog.from_bytes(data)
    assert again == log
    assert np.array_equal(again.keys, log.keys)
