"""Property tests: the fast core against the slow reference, and the state's invariants."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.pollkeys import normalize_keys
from streams.core.report import WINDOWS_US, ReportRow, store_row
from streams.core.schedule import Profile
from streams.core.segments import decode, encode, merge
from streams.core.timeline import Timeline
from streams.core.timestamps import format_timestamp
from streams.offline import compute_offline
from tests.unit.core import reference
from tests.unit.core.helpers import BOUNDS, keys_of, segments_of

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

_minute = st.integers(0, 24 * 60 - 1)
# One shift in four is a whole day (end == start), which crosses DST nights as 23 or 25 hours.
shift = st.one_of(
    st.tuples(st.integers(0, 6), _minute, _minute),
    st.integers(0, 6).flatmap(lambda d: _minute.map(lambda m: (d, m, m))),
)
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
    keys = normalize_keys(keys_of(polls))
    return store_row("s", Timeline.for_report(keys, prof, now_us), now_us)


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


# Local dates with a DST change: spring-forward and fall-back in three kinds of zone.
DST_DAYS = [
    ("America/New_York", datetime(2023, 3, 12, tzinfo=UTC)),
    ("America/New_York", datetime(2023, 11, 5, tzinfo=UTC)),
    ("Asia/Beirut", datetime(2023, 3, 26, tzinfo=UTC)),
    ("Asia/Beirut", datetime(2023, 10, 29, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2023, 4, 2, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2023, 10, 1, tzinfo=UTC)),
]


@st.composite
def whole_days_across_dst(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, bool]], Profile, list[tuple[int, time, time]], str | None, int]:
    zone, day = draw(st.sampled_from(DST_DAYS))
    weekday = day.weekday()
    starts = draw(st.lists(_minute, min_size=1, max_size=2))
    shifts = [(draw(st.sampled_from([weekday, (weekday - 1) % 7])), m, m) for m in starts]
    shifts += draw(st.lists(shift, max_size=2))
    base = _us(day - timedelta(days=4))
    polls = [(base + m * 60_000_000, a) for m, a in draw(st.lists(poll, min_size=1, max_size=30))]
    now_us = base + draw(st.integers(3 * 24 * 60, 8 * 24 * 60)) * 60_000_000
    as_time = [(d, time(s // 60, s % 60), time(e // 60, e % 60)) for d, s, e in shifts]
    prof = Profile(tuple(sorted({(d, s * 60_000_000, e * 60_000_000) for d, s, e in shifts})), zone)
    return polls, prof, as_time, zone, now_us


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whole_days_across_dst())
def test_whole_day_shifts_across_dst_match_the_reference(scenario) -> None:  # type: ignore[no-untyped-def]
    test_core_matches_the_brute_force_reference.hypothesis.inner_test(scenario)  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms())
def test_uptime_plus_downtime_is_the_reference_business_time_in_any_arrival_order(
    scenario,  # type: ignore[no-untyped-def]
    rnd: random.Random,
) -> None:
    polls, prof, shifts, zone, now_us = scenario
    in_order = normalize_keys(keys_of(sorted(polls)))
    replays = list(polls) + rnd.sample(polls, k=len(polls) // 2)
    stored = merge(segments_of(b"s", replays, rnd).items())  # any order, any batches
    assert np.array_equal(stored, in_order)
    row = store_row("s", Timeline.for_report(stored, prof, now_us), now_us)
    if row is None or row[1:] == (0,) * 6:  # no poll yet, or no observation: nothing to add up
        return
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    now = epoch + timedelta(microseconds=now_us)
    for width, up, down in zip(WINDOWS_US, row[1:4], row[4:7], strict=True):
        business = reference.business_time(shifts, zone, now - timedelta(microseconds=width), now)
        assert up + down == _ticks(business)
        assert up >= 0
        assert down >= 0


@given(st.lists(st.tuples(st.integers(0, 10**16), st.booleans()), min_size=1, max_size=200))
def test_a_segment_round_trips_through_its_key_and_value(polls: list[tuple[int, bool]]) -> None:
    keys = normalize_keys(keys_of(polls))
    key, value = encode(b"store-1", keys)
    assert len(value) == 8 * (len(keys) - 1)
    assert np.array_equal(decode(key, value), keys)


@st.composite
def exports(draw: st.DrawFn) -> tuple[dict[str, list[tuple[int, bool]]], dict[str, Profile], int]:
    """Several stores' polls (with conflicting duplicates), profiles and a report time."""
    base = _us(draw(st.sampled_from(ANCHORS)))
    stores: dict[str, list[tuple[int, bool]]] = {}
    profiles: dict[str, Profile] = {}
    for i in range(draw(st.integers(1, 4))):
        sid = f"s{i}"
        polls = [
            (base + m * 60_000_000, a) for m, a in draw(st.lists(poll, min_size=1, max_size=25))
        ]
        twins = draw(st.lists(st.sampled_from(polls), max_size=6))
        polls += [(t, not a) for t, a in twins] + twins  # same instant, both statuses, replayed
        stores[sid] = polls
        shifts = draw(st.lists(shift, max_size=4))
        minutes = {(d, s * 60_000_000, e * 60_000_000) for d, s, e in shifts}
        profiles[sid] = Profile(tuple(sorted(minutes)), draw(st.sampled_from(ZONES)))
    newest = max(t for polls in stores.values() for t, _ in polls)
    as_of = draw(st.one_of(st.none(), st.integers(base, base + SPAN_MIN * 60_000_000)))
    return stores, profiles, newest if as_of is None else as_of


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports(), st.randoms())
def test_offline_report_equals_the_report_built_from_the_streams_segments(
    data, rnd: random.Random
) -> None:  # type: ignore[no-untyped-def]
    stores, profiles, n_us = data
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = [
            f"{sid},{'active' if a else 'inactive'},{format_timestamp(t)}"
            for sid, polls in stores.items()
            for t, a in polls
        ]
        rnd.shuffle(lines)  # any file order
        (folder / "status.csv").write_text("store_id,status,timestamp_utc\n" + "\n".join(lines))
        hours = [
            f"{sid},{d},{_hhmm(s)},{_hhmm(e)}"
            for sid, prof in profiles.items()
            for d, s, e in prof.shifts
        ]
        (folder / "hours.csv").write_text(
            "store_id,dayOfWeek,start_time_local,end_time_local\n" + "\n".join(hours)
        )
        zones = [f"{sid},{p.zone}" for sid, p in profiles.items() if p.zone is not None]
        (folder / "zones.csv").write_text("store_id,timezone_str\n" + "\n".join(zones))
        offline = compute_offline(
            folder / "status.csv", folder / "hours.csv", folder / "zones.csv", BOUNDS, n_us
        )
    streamed = []
    for sid in sorted(stores):
        stored = merge(segments_of(sid.encode(), stores[sid], rnd).items())
        got = store_row(sid, Timeline.for_report(stored, profiles[sid], n_us), n_us)
        if got is not None:
            streamed.append(got)
    assert offline.rows == streamed


def _hhmm(us: int) -> str:
    minutes = us // 60_000_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
