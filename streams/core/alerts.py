"""Alerts (docs/semantics.md §7): a store's newest observation opening an incident (down) or closing
one (up), and a store silent for too long inside its business hours (pure).

A store's alert state is its newest observation and the start of the incident it is in,
if any; new polls move it forward, in time order, and each move that opens or closes an
incident is an :class:`Alert`. The state after some polls depends only on the polls, so
the same polls read again (a redelivery) give the same alerts with the same ids.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from streams.core.pollkeys import Keys
from streams.core.schedule import Profile, business_intervals
from streams.core.timestamps import US_PER_DAY, format_timestamp
from streams.core.zones import resolve_zone

DOWN, UP, SILENT = "storemon.store.down", "storemon.store.up", "storemon.store.silent"
KINDS = (DOWN, UP, SILENT)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AlertState(NamedTuple):
    """What alerts need to know of a store."""

    newest_poll_us: int
    """Its newest poll at all (silence is counted from it)."""
    observed_us: int | None
    """Its newest observation (a poll inside business hours); None: none yet."""
    active: bool
    """That observation's status."""
    incident_start: int | None
    """While inactive: the incident's first inactive business instant (ticks), None when
    it reaches back past the first observation."""


class Alert(NamedTuple):
    """A store went down or up, or fell silent."""

    kind: str
    """One of :data:`KINDS`."""
    at_us: int
    """When: the observation's time, or for silence the moment it began to count as one."""
    incident_start: int | None
    """The incident's start (ticks); None when it reaches back past the first observation,
    or for silence."""
    incident_end: int | None = None
    """For ``up``: the incident's end (ticks)."""
    since_us: int | None = None
    """For ``silent``: the newest poll the store had."""

    def event_id(self, store_id: str) -> str:
        """The same alert always has the same id (a repeat is recognisable)."""
        if self.kind == SILENT:
            return f"{self.kind}:{store_id}:{self.since_us}"
        start = "first" if self.incident_start is None else str(self.incident_start)
        return f"{self.kind}:{store_id}:{start}"


@lru_cache(maxsize=8_192)
def _day(profile: Profile, day: int) -> tuple[list[int], list[int]]:
    """A profile's business intervals around UTC day ``day``, as lists (cached: most polls
    of a day share them, and one poll asks with ``bisect``, cheaper than numpy for one)."""
    starts, ends = business_intervals(profile, (day - 1) * US_PER_DAY, (day + 2) * US_PER_DAY)
    return starts.tolist(), ends.tolist()


def in_hours(profile: Profile, t_us: int) -> bool:
    """Whether ``t_us`` lies inside the store's business hours."""
    starts, ends = _day(profile, t_us // US_PER_DAY)
    i = bisect_right(starts, t_us) - 1
    return i >= 0 and t_us < ends[i]


def next_business_us(profile: Profile, t_us: int, within_days: int = 8) -> int | None:
    """The first instant at or after ``t_us`` inside business hours (None: none within
    ``within_days``, e.g. a store with no hours left)."""
    for day in range(t_us // US_PER_DAY, t_us // US_PER_DAY + within_days):
        starts, ends = _day(profile, day)
        i = bisect_right(ends, t_us)
        if i < len(starts):
            return max(t_us, starts[i])
    return None


def _boundary(profile: Profile, a_us: int, b_us: int) -> int | None:
    """The first business tick at or after the midpoint of two observations (ticks are
    ½ µs; tick ``m`` is in business hours exactly when microsecond ``m // 2`` is)."""
    mid = a_us + b_us
    if in_hours(profile, mid // 2):
        return mid
    first = next_business_us(profile, mid // 2)
    return None if first is None else 2 * first


def advance(
    state: AlertState | None, keys: Keys, profile: Profile
) -> tuple[AlertState | None, list[Alert]]:
    """Move a store's state over new polls (sorted keys, one per instant); returns the new
    state and what opened or closed. Polls not newer than the state's newest are late:
    they change no alert."""
    alerts: list[Alert] = []
    for key in keys.tolist():
        ts, active = key >> 1, bool(key & 1)
        if state is not None and ts <= state.newest_poll_us:
            continue
        if not in_hours(profile, ts):
            if state is not None:
                state = state._replace(newest_poll_us=ts)
            else:
                state = AlertState(ts, None, True, None)
            continue
        seen = None if state is None else state.observed_us
        if state is None or seen is None:
            # The first observation: an inactive one opens an incident reaching back
            # without bound (docs/semantics.md §3), an active one closes nothing.
            if not active:
                alerts.append(Alert(DOWN, ts, None))
            state = AlertState(ts, ts, active, None)
            continue
        if state.active and not active:
            start = _boundary(profile, seen, ts)
            alerts.append(Alert(DOWN, ts, start))
            state = AlertState(ts, ts, False, start)
        elif not state.active and active:
            end = _boundary(profile, seen, ts)
            alerts.append(Alert(UP, ts, state.incident_start, end))
            state = AlertState(ts, ts, True, None)
        else:
            state = state._replace(newest_poll_us=ts, observed_us=ts)
    return state, alerts


def state_of(keys: Keys, profile: Profile) -> AlertState | None:
    """The state :func:`advance` leaves after these polls (sorted, one per instant), found
    in a few array operations: what a worker reads back for a store it does not hold."""
    if not len(keys):
        return None
    ts = keys >> 1
    starts, ends = business_intervals(profile, int(ts[0]), int(ts[-1]) + 1)
    where = np.searchsorted(starts, ts, side="right") - 1
    inside = (where >= 0) & (ts < ends[np.maximum(where, 0)]) if len(starts) else where < -1
    observed = keys[inside]
    newest = int(ts[-1])
    if not len(observed):
        return AlertState(newest, None, True, None)
    last = int(observed[-1])
    if last & 1:
        return AlertState(newest, last >> 1, True, None)
    actives = np.flatnonzero(observed & 1)
    if not len(actives):
        return AlertState(newest, last >> 1, False, None)  # inactive since the first
    a = int(actives[-1])
    start = _boundary(profile, int(observed[a]) >> 1, int(observed[a + 1]) >> 1)
    return AlertState(newest, last >> 1, False, start)


def silent_from(profile: Profile, since_us: int, gap_us: int, within_days: int = 8) -> int | None:
    """The instant the store counts as silent: once ``gap_us`` of business time has passed
    since its newest poll at ``since_us`` (None: not within ``within_days``)."""
    left = gap_us
    t = since_us
    end = since_us + within_days * US_PER_DAY
    while t < end:
        starts, ends = _day(profile, t // US_PER_DAY)
        i = bisect_right(ends, t)
        if i >= len(starts):
            t = (t // US_PER_DAY + 1) * US_PER_DAY
            continue
        a, b = max(t, starts[i]), ends[i]
        if b - a > left:
            return a + left
        left -= b - a
        t = b
    return None


EVENT_HEADERS: tuple[tuple[str, bytes], ...] = (("content-type", b"application/cloudevents+json"),)
"""Kafka headers of an alert record: the CloudEvents Kafka protocol binding's structured
content mode says what the value is with ``content-type``."""


def cloud_event(alert: Alert, store_id: str, zone: str | None, source: str) -> bytes:
    """The alert as a CloudEvent 1.0 in structured JSON, keyed by store."""
    tz = resolve_zone(zone)[0]

    def local(us: int) -> str:
        return (_EPOCH + timedelta(microseconds=us)).astimezone(tz).isoformat()

    start = None if alert.incident_start is None else (alert.incident_start + 1) // 2
    data: dict[str, object] = {
        "store_id": store_id,
        "incident_start": None if start is None else format_timestamp(start),
        "incident_start_local": None if start is None else local(start),
        "observed_at": format_timestamp(alert.at_us),
        "timezone": zone or "America/Chicago",
    }
    if alert.incident_end is not None:
        end = (alert.incident_end + 1) // 2
        data |= {"incident_end": format_timestamp(end), "incident_end_local": local(end)}
    if alert.since_us is not None:
        data |= {
            "last_poll": format_timestamp(alert.since_us),
            "last_poll_local": local(alert.since_us),
        }
    event = {
        "specversion": "1.0",
        "id": alert.event_id(store_id),
        "source": source,
        "type": alert.kind,
        "subject": store_id,
        "time": format_timestamp(alert.at_us),
        "datacontenttype": "application/json",
        "data": data,
    }
    return json.dumps(event, separators=(",", ":")).encode()
