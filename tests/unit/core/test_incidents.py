"""Incidents (docs/semantics.md §7) against the report and against the brute-force reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings

from streams.core.incidents import incidents, overlapping, status_spans, timeline_for
from streams.core.pollkeys import normalize_keys
from streams.core.report import WINDOWS_US, store_row
from streams.core.schedule import Profile
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY, US_PER_HOUR
from tests.unit.core import reference
from tests.unit.core.helpers import keys_of
from tests.unit.core.test_properties import scenarios

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_incidents_add_up_to_the_reports_downtime_in_every_window(scenario) -> None:  # type: ignore[no-untyped-def]
    polls, prof, shifts, zone, now_us = scenario
    keys = normalize_keys(keys_of(polls))
    row = store_row("s", Timeline.for_report(keys, prof, now_us), now_us)
    if row is None:
        return
    timeline = timeline_for(keys, prof, now_us - 8 * US_PER_DAY, now_us)
    downs = (row.downtime_hour, row.downtime_day, row.downtime_week)
    for width, down in zip(WINDOWS_US, downs, strict=True):
        lo, hi = 2 * (now_us - width), 2 * now_us
        assert sum(d for _, d in overlapping(timeline, lo, hi)) == down
    expected = reference.report([(_at(t), a) for t, a in polls], shifts, zone, _at(now_us))
    assert expected is not None
    week_down = expected[5] // timedelta(microseconds=1) * 2
    lo = 2 * (now_us - WINDOWS_US[2])
    assert sum(d for _, d in overlapping(timeline, lo, 2 * now_us)) == week_down


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_incidents_start_and_end_where_the_reference_says(scenario) -> None:  # type: ignore[no-untyped-def]
    polls, prof, shifts, zone, now_us = scenario
    lo_us, hi_us = now_us - 3 * US_PER_DAY, now_us
    keys = normalize_keys(keys_of(polls))
    timeline = timeline_for(keys, prof, lo_us - US_PER_DAY, hi_us)
    got: list[tuple[datetime, datetime | None]] = []
    for incident, _ in overlapping(timeline, 2 * lo_us, 2 * hi_us):
        start = lo_us if incident.start is None else max(lo_us, incident.start // 2)
        first = timeline.next_business(2 * start)
        assert first is not None
        end = incident.end
        got.append((_at(first // 2), None if end is None or end >= 2 * hi_us else _at(end // 2)))
    expected = reference.incidents(
        [(_at(t), a) for t, a in polls if t <= hi_us], shifts, zone, _at(lo_us), _at(hi_us)
    )
    assert got == expected


def test_closed_time_does_not_end_an_incident_and_an_open_one_has_no_end() -> None:
    # Open 09:00–17:00 every day in UTC. Down at 16:00 on day 0, still down at 10:00 on
    # day 1 (one incident across the night), up at 12:00, down again at 16:30 for good.
    nine_to_five = Profile(tuple((d, 9 * US_PER_HOUR, 17 * US_PER_HOUR) for d in range(7)), "UTC")
    day0 = int(datetime(2023, 1, 16, tzinfo=UTC).timestamp()) * 1_000_000
    polls = [
        (day0 + 10 * US_PER_HOUR, True),
        (day0 + 16 * US_PER_HOUR, False),
        (day0 + US_PER_DAY + 10 * US_PER_HOUR, False),
        (day0 + US_PER_DAY + 12 * US_PER_HOUR, True),
        (day0 + US_PER_DAY + 16 * US_PER_HOUR + 30 * 60_000_000, False),
    ]
    keys = normalize_keys(keys_of(polls))
    timeline = timeline_for(keys, nine_to_five, day0, day0 + 3 * US_PER_DAY)
    first, second = incidents(timeline)
    assert first.start == 2 * (day0 + 13 * US_PER_HOUR)  # midpoint of 10:00 and 16:00
    assert first.end == 2 * (day0 + US_PER_DAY + 11 * US_PER_HOUR)  # midpoint of 10 and 12
    # Its downtime is business time only: 13:00–17:00, then 09:00–11:00 the next day.
    assert first.downtime(timeline, 0, 2**62) == 2 * 6 * US_PER_HOUR
    assert second.end is None  # open: no active instant after it
    assert second.start == 2 * (day0 + US_PER_DAY + 14 * US_PER_HOUR + 15 * 60_000_000)


def test_a_store_inactive_from_its_first_poll_has_an_incident_with_no_start() -> None:
    always = Profile((), "UTC")
    t = int(datetime(2023, 1, 16, tzinfo=UTC).timestamp()) * 1_000_000
    keys = normalize_keys(keys_of([(t, False), (t + US_PER_HOUR, True)]))
    timeline = timeline_for(keys, always, t - US_PER_DAY, t + US_PER_DAY)
    [only] = incidents(timeline)
    assert only.start is None
    assert only.end == 2 * (t + US_PER_HOUR // 2)
    # The status reaches back to the window's start: a day of it before the first poll.
    assert only.downtime(timeline, 2 * (t - US_PER_DAY), 2 * t) == 2 * US_PER_DAY


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_picture_is_the_report_split_into_spans(scenario) -> None:  # type: ignore[no-untyped-def]
    polls, prof, _shifts, _zone, now_us = scenario
    keys = normalize_keys(keys_of(polls))
    row = store_row("s", Timeline.for_report(keys, prof, now_us), now_us)
    if row is None or not any(int(k) >> 1 <= now_us for k in keys):
        return
    timeline = timeline_for(keys, prof, now_us - 8 * US_PER_DAY, now_us)
    lo, hi = 2 * (now_us - WINDOWS_US[2]), 2 * now_us
    spans = status_spans(timeline, lo, hi)
    assert all(a < b for a, b, _ in spans)
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
    assert sum(b - a for a, b, up in spans if up) == row.uptime_week
    assert sum(b - a for a, b, up in spans if not up) == row.downtime_week
