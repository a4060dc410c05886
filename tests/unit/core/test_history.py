"""Daily rollups and monthly totals (docs/semantics.md §8): the core against the
brute-force reference, and the days against the report's own windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.history import (
    Day,
    MonthRow,
    day_start_us,
    history_timeline,
    month_is_partial,
    month_row,
    month_span,
    parse_date,
    render_history_csv,
    render_monthly_csv,
    rollups,
    store_history,
    zone_of,
)
from streams.core.pollkeys import normalize_keys
from streams.core.report import store_row
from streams.core.schedule import Profile
from streams.core.segments import RETENTION_US, kept_from, retain
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY, US_PER_HOUR
from streams.core.zones import local_ordinal
from tests.unit.core import reference
from tests.unit.core.helpers import keys_of, profile, us
from tests.unit.core.test_properties import DST_DAYS, ZONES, _minute, _ticks, _us, shift

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ANCHORS = [  # near the DST changes of the zones of test_properties, and a plain January
    datetime(2023, 1, 18, tzinfo=UTC),
    datetime(2023, 3, 8, tzinfo=UTC),
    datetime(2023, 3, 24, tzinfo=UTC),
    datetime(2023, 9, 28, tzinfo=UTC),
    datetime(2023, 10, 27, tzinfo=UTC),
    datetime(2023, 10, 31, tzinfo=UTC),
]
SPAN_MIN = 5 * 24 * 60


def _moment(t_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=t_us)


@st.composite
def histories(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, bool]], Profile, list[tuple[int, time, time]], str | None, int]:
    """A few days of polls (overnight, whole-day and ordinary shifts) near a DST change."""
    if draw(st.booleans()):
        zone, day = draw(st.sampled_from(DST_DAYS))
        anchor = day - timedelta(days=2)
    else:
        zone, anchor = draw(st.sampled_from(ZONES)), draw(st.sampled_from(ANCHORS))
    shifts = draw(st.lists(shift, max_size=5))
    if draw(st.booleans()):  # an overnight shift on every day
        start, end = draw(_minute), draw(_minute)
        shifts += [(d, max(start, end), min(start, end)) for d in range(7)]
    base = _us(anchor)
    polls = [
        (base + m * 60_000_000, a)
        for m, a in draw(
            st.lists(st.tuples(st.integers(0, SPAN_MIN), st.booleans()), min_size=6, max_size=40)
        )
    ]
    now_us = base + draw(st.integers(2 * 24 * 60, SPAN_MIN + 24 * 60)) * 60_000_000
    as_time = [(d, time(s // 60, s % 60), time(e // 60, e % 60)) for d, s, e in shifts]
    prof = Profile(tuple(sorted({(d, s * 60_000_000, e * 60_000_000) for d, s, e in shifts})), zone)
    return polls, prof, as_time, zone, now_us


def _days(polls: list[tuple[int, bool]], prof: Profile, now_us: int) -> list[Day]:
    keys = normalize_keys(keys_of(polls))
    keys = keys[(keys >> 1) <= now_us]
    if not len(keys):
        return []
    return rollups(history_timeline(keys, prof, now_us), prof, now_us, int(keys[-1]) >> 1)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_every_day_matches_the_brute_force_reference(scenario) -> None:  # type: ignore[no-untyped-def]
    polls, prof, shifts, zone, now_us = scenario
    days = _days(polls, prof, now_us)
    as_moments = [(_moment(t), a) for t, a in polls]
    now = _moment(now_us)
    if not days:
        assert reference.span_totals(as_moments, shifts, zone, now, now, now) is None
        return
    first_obs = min(
        (t for t, _ in as_moments if t <= now and reference.business_time(
            shifts, zone, t, t + timedelta(microseconds=1)) > timedelta(0)),
    )  # fmt: skip
    begin, _ = reference.day_bounds(days[0].date, zone)
    assert begin <= first_obs < reference.day_bounds(days[0].date, zone)[1]
    for day in days:
        lo, hi = reference.day_bounds(day.date, zone)
        expected = reference.span_totals(as_moments, shifts, zone, lo, min(hi, now), now)
        assert expected is not None
        up, down = expected
        assert (day.active, day.inactive) == (_ticks(up), _ticks(down)), day


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_the_days_of_a_span_add_up_to_what_the_timeline_gives_over_it(scenario, data) -> None:  # type: ignore[no-untyped-def]
    polls, prof, _shifts, _zone, now_us = scenario
    days = _days(polls, prof, now_us)
    if not days:
        return
    i = data.draw(st.integers(0, len(days) - 1))
    j = data.draw(st.integers(i, len(days) - 1))
    zone = zone_of(prof)
    lo, hi = day_start_us(zone, days[i].ordinal), day_start_us(zone, days[j].ordinal + 1)
    keys = normalize_keys(keys_of(polls))
    timeline = Timeline(keys, prof, lo - 30 * US_PER_DAY, now_us + US_PER_DAY)
    measure = timeline.measure_span(lo, min(hi, now_us), now_us)
    assert measure is not None
    assert sum(d.business for d in days[i : j + 1]) == measure.business
    assert sum(d.active for d in days[i : j + 1]) == measure.active


def test_a_week_of_whole_days_adds_up_to_the_report_week() -> None:
    prof = profile([(d, "09:00", "02:00") for d in range(7)], "America/New_York")  # overnight
    polls = [(us("2023-01-10T14:00:00Z") + h * 3_600_000_000, h % 5 != 0) for h in range(24 * 9)]
    now_us = day_start_us(zone_of(prof), date(2023, 1, 19).toordinal())  # a local midnight
    days = _days(polls, prof, now_us)
    week = [d for d in days if d.ordinal >= date(2023, 1, 12).toordinal()]
    assert week[0].date == date(2023, 1, 12)
    assert len(week) == 7
    keys = normalize_keys(keys_of(polls))
    row = store_row("s", Timeline.for_report(keys, prof, now_us), now_us)
    assert row is not None
    assert sum(d.active for d in week) == row.uptime_week
    assert sum(d.inactive for d in week) == row.downtime_week
    assert sum(d.business for d in week) == _ticks(timedelta(hours=17 * 7))


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", date(2023, 3, 12), 23),
        ("America/New_York", date(2023, 11, 5), 25),
        ("Asia/Beirut", date(2023, 3, 26), 23),  # the clocks jump at midnight
        ("Australia/Lord_Howe", date(2023, 4, 2), 24.5),  # half an hour back
        ("Asia/Kolkata", date(2023, 3, 12), 24),
    ],
)
def test_a_day_open_all_day_has_the_length_of_its_local_date(
    zone: str, day: date, hours: float
) -> None:
    prof = Profile((), zone)
    start = day_start_us(zone_of(prof), day.toordinal())
    polls = [(start - 3 * US_PER_HOUR, True), (start + 30 * US_PER_HOUR, False)]
    days = _days(polls, prof, start + 40 * US_PER_HOUR)
    got = next(d for d in days if d.date == day)
    assert got.business == _ticks(timedelta(hours=hours))


def test_the_day_of_the_report_time_is_partial_and_history_starts_with_the_first_observation() -> (
    None
):
    prof = profile([(d, "10:00", "20:00") for d in range(7)])
    polls = [(us("2023-05-01T08:00:00Z"), False), (us("2023-05-01T12:00:00Z"), True)]
    days = _days(polls, prof, us("2023-05-03T15:00:00Z"))
    assert [d.date for d in days] == [date(2023, 5, 1), date(2023, 5, 2), date(2023, 5, 3)]
    assert days[0].business == _ticks(timedelta(hours=10))  # extrapolated from 10:00
    assert days[0].active == days[0].business  # the 08:00 poll is closed time: no observation
    assert days[-1].business == _ticks(timedelta(hours=5))  # up to the report time
    assert not any(d.final for d in days)


def test_days_wholly_before_the_kept_fourteen_days_are_final() -> None:
    prof = Profile((), "UTC")
    start = us("2023-05-01T00:00:00Z")
    polls = [(start + h * US_PER_HOUR, True) for h in range(24 * 20)]
    newest = polls[-1][0]
    days = _days(polls, prof, newest)
    horizon = newest - RETENTION_US
    for d in days:
        ends = day_start_us(zone_of(prof), d.ordinal + 1)
        assert d.final == (ends <= horizon), d
    assert days[0].final
    assert not days[-1].final
    straddling = next(d for d in days if day_start_us(zone_of(prof), d.ordinal) < horizon
                      < day_start_us(zone_of(prof), d.ordinal + 1))  # fmt: skip
    assert not straddling.final  # the day that crosses the retention horizon is still open


def test_a_store_without_observations_has_no_history_and_an_empty_month() -> None:
    prof = profile([(0, "10:00", "11:00")])
    days = _days([(us("2023-05-02T03:00:00Z"), True)], prof, us("2023-05-03T00:00:00Z"))
    assert days == []
    row = month_row("s", days, month_span("2023-05"))
    assert row.to_fields() == ["s", "0.00", "0.00", "0.00", ""]


def test_a_month_row_totals_its_days_and_rounds_half_up() -> None:
    hour = _ticks(timedelta(hours=1))
    days = [
        Day(date(2023, 4, 30).toordinal(), 10 * hour, 10 * hour, True),  # April: not counted
        Day(date(2023, 5, 1).toordinal(), 3 * hour, 2 * hour, True),
        Day(date(2023, 5, 31).toordinal(), 3 * hour, 0, False),
        Day(date(2023, 6, 1).toordinal(), 5 * hour, 5 * hour, False),  # June: not counted
    ]
    row = month_row("s", days, month_span("2023-05"))
    assert row == MonthRow("s", 6 * hour, 2 * hour)
    assert row.to_fields() == ["s", "6.00", "2.00", "4.00", "33.33"]
    assert MonthRow("s", 8, 1).to_fields()[-1] == "12.50"  # exactly half: up
    assert render_monthly_csv([MonthRow("b", 0, 0), row]).splitlines()[1].startswith("b,")


def test_months_and_dates_are_read_strictly() -> None:
    assert month_span("2024-02") == (date(2024, 2, 1).toordinal(), date(2024, 2, 29).toordinal())
    assert month_span("2023-12")[1] == date(2023, 12, 31).toordinal()
    for bad in ("2023-13", "2023-1", "May", "2023-05-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_span(bad)
    assert parse_date("2023-05-01") == date(2023, 5, 1).toordinal()
    for bad in ("2023-5-1", "yesterday", "2023-02-30"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            parse_date(bad)


def test_a_month_is_partial_until_it_is_over_in_every_zone() -> None:
    may = month_span("2023-05")
    chicago, tokyo = zone_of(Profile((), "America/Chicago")), zone_of(Profile((), "Asia/Tokyo"))
    june_first_chicago = day_start_us(chicago, date(2023, 6, 1).toordinal())
    assert month_is_partial(may, june_first_chicago - 1, [tokyo, chicago])
    assert not month_is_partial(may, june_first_chicago, [tokyo, chicago])
    assert month_is_partial(may, june_first_chicago, [chicago], kept_days=10)  # history cut


def test_a_history_row_is_in_seconds_to_the_microsecond() -> None:
    day = Day(date(2023, 5, 1).toordinal(), 7, 3, False)  # ticks: ½ µs
    assert day.to_fields() == ["2023-05-01", "0.000002", "0.000002", "0.000004", "false"]
    text = render_history_csv([day])
    assert text.startswith("date,uptime_s,downtime_s,business_s,final\r\n")
    assert day.to_json()["final"] is False


def test_the_pipelines_history_starts_where_its_polls_are_kept_whole() -> None:
    prof = Profile((), "Asia/Kolkata")
    start = us("2023-05-01T00:00:00Z")
    polls = [(start + h * US_PER_HOUR, h % 7 != 0) for h in range(24 * 20)]
    keys = normalize_keys(keys_of(polls))
    newest = polls[-1][0]
    cut = kept_from(newest, prof)
    zone = zone_of(prof)
    assert cut == day_start_us(zone, local_ordinal(zone, newest - RETENTION_US))
    everything = store_history(keys, prof, newest)
    kept = store_history(retain(keys, prof), prof, newest, kept_from_us=cut)
    assert kept[0].ordinal == local_ordinal(zone, cut)
    assert kept == [d for d in everything if d.ordinal >= kept[0].ordinal]  # exact from there
    assert len(everything) > len(kept)
