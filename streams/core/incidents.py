"""Incidents (docs/semantics.md §7): maximal stretches of a store's business time whose status is
inactive, from the same timeline as the report, so that the incidents' downtime clipped
to any window adds up to that window's downtime exactly.

Closed time between two inactive stretches does not end an incident: runs of inactive
observations are merged across it, as the status function itself does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from streams.core.pollkeys import Keys
from streams.core.schedule import Profile
from streams.core.timeline import Timeline
from streams.core.timestamps import format_timestamp
from streams.core.zones import resolve_zone

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Incident(NamedTuple):
    """One incident, in ticks (½ µs)."""

    start: int | None
    """Its first inactive business instant; None when the store has been inactive since
    before its first observation (the status reaches back without bound, docs/semantics.md §3)."""
    end: int | None
    """The first active business instant after it; None while it is open."""

    def downtime(self, timeline: Timeline, lo: int, hi: int) -> int:
        """Its business time inside ``[lo, hi)`` (ticks)."""
        a = lo if self.start is None else max(lo, self.start)
        b = hi if self.end is None else min(hi, self.end)
        return max(0, timeline.business(b) - timeline.business(a)) if b > a else 0


def incidents(timeline: Timeline) -> list[Incident]:
    """Every incident of the timeline, oldest first (within the range it was built for)."""
    found = []
    for raw_start, raw_end in timeline.inactive_runs():
        start = None if raw_start is None else timeline.next_business(raw_start)
        end = None if raw_end is None else timeline.next_business(raw_end)
        if start is not None and end is not None and end <= start:
            continue  # no business time at all (cannot happen for real observations)
        found.append(Incident(start, end))
    return found


def overlapping(timeline: Timeline, lo: int, hi: int) -> list[tuple[Incident, int]]:
    """The incidents with business time inside ``[lo, hi)`` ticks, each with it."""
    out = []
    for incident in incidents(timeline):
        downtime = incident.downtime(timeline, lo, hi)
        if downtime > 0:
            out.append((incident, downtime))
    return out


def timeline_for(keys: Keys, profile: Profile, lo_us: int, n_us: int) -> Timeline:
    """A timeline for the incidents of report time ``n_us`` (docs/semantics.md §3: the
    observations at or before it) in ``[lo_us, n_us)``; it reaches back to the store's
    first poll, so an incident that began before ``lo_us`` has its true start."""
    first = int(keys[0]) >> 1 if len(keys) else lo_us
    return Timeline(keys, profile, min(lo_us, first), n_us + 1)


def instant_us(tick: int) -> int:
    """The first whole microsecond at or after a tick (boundaries may fall on half a µs)."""
    return (tick + 1) // 2


def local_time(us: int, zone: str | None) -> str:
    """An instant in the store's zone (docs/semantics.md §2: America/Chicago when it has
    none), ISO 8601 with its offset."""
    moment = _EPOCH + timedelta(microseconds=us)
    return moment.astimezone(resolve_zone(zone)[0]).isoformat()


class IncidentView(NamedTuple):
    """An incident as people read it (the HTTP answer and ``storemon incidents``)."""

    start: str | None
    """Its first inactive business instant, UTC; None: inactive since before the store's
    first observation (or, in the pipeline, before what it keeps)."""
    end: str | None
    """The first active business instant after it, UTC; None while it is open."""
    start_local: str | None
    """``start`` in the store's time zone."""
    end_local: str | None
    """``end`` in the store's time zone."""
    downtime_s: float
    """Its business time inside the window asked about, in seconds."""


def describe(incident: Incident, downtime: int, zone: str | None) -> IncidentView:
    """The incident with its downtime (ticks) in a window, for a store in ``zone``."""
    start = None if incident.start is None else instant_us(incident.start)
    end = None if incident.end is None else instant_us(incident.end)
    return IncidentView(
        None if start is None else format_timestamp(start),
        None if end is None else format_timestamp(end),
        None if start is None else local_time(start, zone),
        None if end is None else local_time(end, zone),
        downtime / 2_000_000,
    )


def store_incidents(
    keys: Keys, profile: Profile, n_us: int, lo_us: int, hi_us: int
) -> list[IncidentView]:
    """A store's incidents at report time ``n_us`` overlapping ``[lo_us, hi_us)`` (``hi_us``
    no later than ``n_us``: nothing is known after it), each with its downtime there."""
    hi_us = min(hi_us, n_us)
    if hi_us <= lo_us or not len(keys) or int(keys[0]) >> 1 > n_us:
        return []
    timeline = timeline_for(keys, profile, lo_us, n_us)
    return [describe(i, d, profile.zone) for i, d in overlapping(timeline, 2 * lo_us, 2 * hi_us)]


def status_spans(timeline: Timeline, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """Business time in ``[lo, hi)`` ticks as ``(start, end, active)`` spans: the status
    function drawn (a store's picture), split where its incidents begin and end; none for
    a store without an observation (it has no status, docs/semantics.md §3)."""
    if not timeline.observed:
        return []
    down = [
        (lo if i.start is None else max(lo, i.start), hi if i.end is None else min(hi, i.end))
        for i in incidents(timeline)
    ]
    down = [(a, b) for a, b in down if b > a]
    spans: list[tuple[int, int, bool]] = []
    for start, end in timeline.business_spans(lo, hi):
        at = start
        for a, b in down:
            if b <= at or a >= end:
                continue
            if a > at:
                spans.append((at, a, True))
            spans.append((max(a, at), min(b, end), False))
            at = min(b, end)
        if at < end:
            spans.append((at, end, True))
    return spans
