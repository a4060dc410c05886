"""A slow, obviously-correct reading of docs/semantics.md §2–§4, to check the fast core against.

It shares no code with the core: intervals come from ``datetime`` with a ``ZoneInfo``,
business time and status are found by sampling the middle of every ``step`` of the
window. With polls, shift times, zone offsets and report times on whole minutes, every
boundary falls on a multiple of 30 s, so a 30 s step makes the sampling exact.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STEP = timedelta(seconds=30)


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("America/Chicago")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("America/Chicago")


def intervals(
    shifts: list[tuple[int, time, time]], zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    if not shifts:
        return [(lo - timedelta(days=30), hi + timedelta(days=30))]
    out = []
    day = (lo - timedelta(days=3)).date()
    while day <= (hi + timedelta(days=3)).date():
        for weekday, start, end in shifts:
            if weekday != day.weekday():
                continue
            s = datetime.combine(day, start, tzinfo=zone)
            if end > start:
                e = datetime.combine(day, end, tzinfo=zone)
            elif end < start:
                e = datetime.combine(day + timedelta(days=1), end, tzinfo=zone)
            else:  # a whole day: to the same local time the next day (23 or 25 h across DST)
                e = datetime.combine(day + timedelta(days=1), start, tzinfo=zone)
            out.append((s.astimezone(UTC), e.astimezone(UTC)))
        day += timedelta(days=1)
    return out


def business_time(
    shifts: list[tuple[int, time, time]], zone_name: str | None, lo: datetime, hi: datetime
) -> timedelta:
    """The business time in ``[lo, hi)`` exactly: the union of the intervals, clipped."""
    spans = sorted(
        (max(s, lo), min(e, hi))
        for s, e in intervals(shifts, zone_of(zone_name), lo, hi)
        if s < hi and e > lo
    )
    total = timedelta(0)
    reach = lo
    for s, e in spans:
        if e > max(s, reach):
            total += e - max(s, reach)
        reach = max(reach, e)
    return total


def _status_function(
    polls: list[tuple[datetime, bool]], open_at: Callable[[datetime], bool], now: datetime
) -> Callable[[datetime], bool] | None:
    """docs/semantics.md §3: the status of the nearest observation (in-hours polls up to ``now``, one
    per instant, inactive winning; a tie to the earlier); None without any observation."""
    by_time: dict[datetime, bool] = {}
    for t, active in polls:
        if t <= now and open_at(t):
            by_time[t] = by_time.get(t, True) and active  # inactive wins
    if not by_time:
        return None
    times = sorted(by_time)

    def status_at(x: datetime) -> bool:
        i = bisect_right(times, x)
        if i == 0:
            return by_time[times[0]]
        if i == len(times):
            return by_time[times[-1]]
        before, after = times[i - 1], times[i]
        return by_time[before] if x - before <= after - x else by_time[after]

    return status_at


def report(
    polls: list[tuple[datetime, bool]],
    shifts: list[tuple[int, time, time]],
    zone_name: str | None,
    now: datetime,
) -> tuple[timedelta, ...] | None:
    """(up hour, up day, up week, down hour, down day, down week), or None for no row."""
    if not any(t <= now for t, _ in polls):
        return None
    spans = intervals(shifts, zone_of(zone_name), now - timedelta(days=8), now)

    def open_at(x: datetime) -> bool:
        return any(s <= x < e for s, e in spans)

    zero = timedelta(0)
    status_at = _status_function(polls, open_at, now)
    if status_at is None:
        return (zero,) * 6

    totals = [
        _sample(open_at, status_at, now - width, now)
        for width in (timedelta(hours=1), timedelta(days=1), timedelta(days=7))
    ]
    return tuple(u for u, _ in totals) + tuple(d for _, d in totals)


def incidents(
    polls: list[tuple[datetime, bool]],
    shifts: list[tuple[int, time, time]],
    zone_name: str | None,
    lo: datetime,
    hi: datetime,
) -> list[tuple[datetime, datetime | None]]:
    """docs/semantics.md §7 by sampling: maximal runs of inactive business steps in ``[lo, hi)``, closed
    steps between them not ending a run; each as (first inactive step, first active step
    after it or None). Observations are the in-hours polls up to ``hi`` (its report time)."""
    spans = intervals(shifts, zone_of(zone_name), lo - timedelta(days=40), hi)

    def open_at(x: datetime) -> bool:
        return any(s <= x < e for s, e in spans)

    status_at = _status_function(polls, open_at, hi)
    if status_at is None:
        return []

    found: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    x = lo
    while x < hi:
        mid = x + STEP / 2
        if open_at(mid):
            if not status_at(mid) and start is None:
                start = x
            elif status_at(mid) and start is not None:
                found.append((start, x))
                start = None
        x += STEP
    if start is not None:
        found.append((start, None))
    return found


def day_bounds(day: date, zone_name: str | None) -> tuple[datetime, datetime]:
    """docs/semantics.md §8.1 by ``datetime``: a local date's first instant and the next date's,
    in UTC (a midnight in a DST gap resolves with the offset before the change)."""
    zone = zone_of(zone_name)
    begin = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return begin, end


def span_totals(
    polls: list[tuple[datetime, bool]],
    shifts: list[tuple[int, time, time]],
    zone_name: str | None,
    lo: datetime,
    hi: datetime,
    now: datetime,
) -> tuple[timedelta, timedelta] | None:
    """(up, down) business time in ``[lo, hi)`` by sampling, with the status as it is at
    report time ``now``; None when there is no observation at or before ``now``."""
    spans = intervals(shifts, zone_of(zone_name), lo - timedelta(days=40), max(hi, now))

    def open_at(x: datetime) -> bool:
        return any(s <= x < e for s, e in spans)

    status_at = _status_function(polls, open_at, now)
    if status_at is None:
        return None
    return _sample(open_at, status_at, lo, hi)


def _sample(
    open_at: Callable[[datetime], bool],
    status_at: Callable[[datetime], bool],
    lo: datetime,
    hi: datetime,
) -> tuple[timedelta, timedelta]:
    """(up, down) in ``[lo, hi)``: the middle of every ``STEP``, open or not, up or down."""
    up = down = timedelta(0)
    x = lo
    while x < hi:
        mid = x + STEP / 2
        if open_at(mid):
            if status_at(mid):
                up += STEP
            else:
                down += STEP
        x += STEP
    return up, down
