"""The alert state machine (docs/semantics.md §7): down and up where incidents open and close, the
same alerts for the same polls however they arrive, silence counted in business time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.alerts import (
    DOWN,
    SILENT,
    UP,
    Alert,
    advance,
    cloud_event,
    silent_from,
    state_of,
)
from streams.core.incidents import incidents, timeline_for
from streams.core.pollkeys import normalize_keys
from streams.core.schedule import Profile
from streams.core.timestamps import US_PER_DAY, US_PER_HOUR
from tests.unit.core.helpers import keys_of
from tests.unit.core.test_properties import scenarios

NINE_TO_FIVE = Profile(tuple((d, 9 * US_PER_HOUR, 17 * US_PER_HOUR) for d in range(7)), "UTC")
DAY0 = int(datetime(2023, 1, 16, tzinfo=UTC).timestamp()) * 1_000_000
MIN = 60_000_000


def _at(hours: float, day: int = 0) -> int:
    return DAY0 + day * US_PER_DAY + int(hours * US_PER_HOUR)


def test_down_then_up_with_the_incident_they_open_and_close() -> None:
    keys = normalize_keys(keys_of([(_at(10), True), (_at(11), False), (_at(12), True)]))
    state, alerts = advance(None, keys, NINE_TO_FIVE)
    assert [a.kind for a in alerts] == [DOWN, UP]
    down, up = alerts
    assert down.incident_start == 2 * _at(10.5)  # the midpoint: its first inactive instant
    assert up.incident_start == down.incident_start
    assert up.incident_end == 2 * _at(11.5)
    assert down.event_id("s") == f"{DOWN}:s:{down.incident_start}"
    assert state is not None
    assert state.active


def test_polls_outside_hours_and_late_polls_raise_nothing() -> None:
    state, alerts = advance(None, normalize_keys(keys_of([(_at(10), True)])), NINE_TO_FIVE)
    assert alerts == []
    # Inactive, but at 20:00 (closed): not an observation. Then a late poll from 09:30.
    later = normalize_keys(keys_of([(_at(20), False)]))
    state, alerts = advance(state, later, NINE_TO_FIVE)
    assert alerts == []
    assert state is not None
    assert state.newest_poll_us == _at(20)
    state, alerts = advance(state, normalize_keys(keys_of([(_at(9.5), False)])), NINE_TO_FIVE)
    assert alerts == []


def test_an_incident_across_the_night_starts_at_the_next_opening() -> None:
    # Active at 16:00, inactive at 10:00 next day: the midpoint (01:00) is closed, so the
    # incident begins at 09:00 when the store opens.
    keys = normalize_keys(keys_of([(_at(16), True), (_at(10, day=1), False)]))
    _state, [down] = advance(None, keys, NINE_TO_FIVE)
    assert down.incident_start == 2 * _at(9, day=1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms())
def test_alerts_mark_the_incidents_whatever_the_batches(scenario, rnd) -> None:  # type: ignore[no-untyped-def]
    polls, prof, _shifts, _zone, _now = scenario
    keys = normalize_keys(keys_of(polls))
    state, alerts = None, []
    cut = sorted(rnd.sample(range(len(keys) + 1), k=min(3, len(keys) + 1)))
    for lo, hi in zip([0, *cut], [*cut, len(keys)], strict=True):
        state, more = advance(state, keys[lo:hi], prof)
        alerts += more
    again = advance(None, keys, prof)[1]
    assert alerts == again  # batches or all at once: the same alerts, the same ids
    newest = int(keys[-1]) >> 1
    timeline = timeline_for(keys, prof, newest - 40 * US_PER_DAY, newest)
    found = incidents(timeline)
    downs = [a.incident_start for a in alerts if a.kind == DOWN]
    ups = [(a.incident_start, a.incident_end) for a in alerts if a.kind == UP]
    assert downs == [i.start for i in found]
    assert ups == [(i.start, i.end) for i in found if i.end is not None]


def test_silence_is_counted_in_business_hours() -> None:
    gap = 2 * US_PER_HOUR
    assert silent_from(NINE_TO_FIVE, _at(10), gap) == _at(12)
    # Last poll at 16:30: half an hour today, then 90 minutes after opening tomorrow.
    assert silent_from(NINE_TO_FIVE, _at(16.5), gap) == _at(10.5, day=1)
    assert silent_from(NINE_TO_FIVE, _at(20), gap) == _at(11, day=1)
    assert silent_from(Profile((), "UTC"), _at(20), gap) == _at(22)
    never_open = Profile(((0, 9 * US_PER_HOUR, 9 * US_PER_HOUR + MIN),), "UTC")
    assert silent_from(never_open, _at(10), gap, within_days=3) is None


def test_a_cloud_event_names_the_store_the_kind_and_the_start_in_both_times() -> None:
    alert = Alert(DOWN, _at(11), 2 * _at(10.5))
    event = json.loads(cloud_event(alert, "s-1", "America/New_York", "storemon/test"))
    assert event["specversion"] == "1.0"
    assert event["type"] == DOWN
    assert event["subject"] == "s-1"
    assert event["id"] == alert.event_id("s-1")
    assert event["data"]["incident_start"] == "2023-01-16T10:30:00Z"
    assert event["data"]["incident_start_local"] == "2023-01-16T05:30:00-05:00"
    silent = Alert(SILENT, _at(12), None, since_us=_at(10))
    body = json.loads(cloud_event(silent, "s-1", None, "storemon/test"))
    assert body["id"] == f"{SILENT}:s-1:{_at(10)}"
    assert body["data"]["last_poll"] == "2023-01-16T10:00:00Z"
    assert body["data"]["timezone"] == "America/Chicago"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_state_read_back_from_the_polls_is_the_one_advancing_gives(scenario) -> None:  # type: ignore[no-untyped-def]
    polls, prof, _shifts, _zone, _now = scenario
    keys = normalize_keys(keys_of(polls))
    assert state_of(keys, prof) == advance(None, keys, prof)[0]
