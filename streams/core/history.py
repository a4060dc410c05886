"""Daily rollups and monthly totals (docs/semantics.md §8): each local day's business time
and how much of it was up and down, measured on the report's own timeline, so that the
days of any span add up to what the report's status function gives over that span.

Pure: the offline command (``streams/offline.py``) feeds it whole exports.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from streams.core.pollkeys import Keys
from streams.core.report import TICKS_PER_CENTI_HOUR, two_decimals, write_csv
from streams.core.schedule import Profile
from streams.core.segments import RETENTION_US
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY
from streams.core.zones import day_start_us, local_ordinal, resolve_zone

HISTORY_DAYS = 400
"""How many local days of rollups are kept per store (``STOREMON_HISTORY_DAYS``)."""
HISTORY_COLUMNS = ("date", "uptime_s", "downtime_s", "business_s", "final")
"""The columns of a store's history (``/stores/{id}/history``, ``storemon history``)."""
MONTHLY_COLUMNS = ("store_id", "business_hours", "uptime_hours", "downtime_hours", "uptime_pct")
"""The monthly report's header (docs/semantics.md §8.3)."""
_TICKS_PER_US = 2


class Day(NamedTuple):
    """One local day of one store, exact, in ticks (½ µs)."""

    ordinal: int
    """The local date (``date.toordinal``)."""
    business: int
    """Business time of the day up to the report time."""
    active: int
    """The part of it whose status is active."""
    final: bool
    """Whether the day lies wholly before the 14 days of polls kept (it no longer changes)."""

    @property
    def inactive(self) -> int:
        """The part of the business time whose status is inactive."""
        return self.business - self.active

    @property
    def date(self) -> date:
        """The local date."""
        return date.fromordinal(self.ordinal)

    def to_fields(self) -> list[str]:
        """The day as a history row: seconds with six decimals (½ µs rounded half up)."""
        return [
            self.date.isoformat(),
            _seconds(self.active),
            _seconds(self.inactive),
            _seconds(self.business),
            "true" if self.final else "false",
        ]

    def to_json(self) -> dict[str, object]:
        """The day as a JSON object of the history route."""
        return {
            "date": self.date.isoformat(),
            "uptime_s": float(_seconds(self.active)),
            "downtime_s": float(_seconds(self.inactive)),
            "business_s": float(_seconds(self.business)),
            "final": self.final,
        }


def _seconds(ticks: int) -> str:
    """Ticks as seconds with six decimals, rounded half up (a tick is ½ µs)."""
    micro = (ticks + 1) // _TICKS_PER_US
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def zone_of(profile: Profile) -> ZoneInfo:
    """The zone a store's days are counted in (America/Chicago without a valid one)."""
    return resolve_zone(profile.zone)[0]


def polled_by(keys: Keys, n_us: int) -> bool:
    """Whether a store (its sorted poll keys) was polled at or before report time ``n_us``:
    only such a store has a report row, a history, or a monthly row."""
    return bool(len(keys)) and int(keys[0]) >> 1 <= n_us


def history_timeline(keys: Keys, profile: Profile, n_us: int) -> Timeline:
    """A timeline reaching from the day before the store's first poll to report time
    ``n_us``: the rollups of every day of its history are measured on it."""
    first = int(keys[0]) >> 1 if len(keys) else n_us
    lo = min(first, n_us) - 2 * US_PER_DAY
    return Timeline(keys, profile, lo, n_us + US_PER_DAY)


def rollups(
    timeline: Timeline,
    profile: Profile,
    n_us: int,
    newest_us: int,
    first: int | None = None,
    last: int | None = None,
) -> list[Day]:
    """The store's days at report time ``n_us``, oldest first, from the local day of its
    first observation to the day of ``n_us`` (partial, up to it), limited to local dates
    ``first..last`` when given. ``newest_us`` is the store's newest poll: days ending at or
    before 14 days before it are final. The timeline must cover the days asked for."""
    observed = timeline.first_observation
    if observed is None or observed > n_us * 2:
        return []
    zone = zone_of(profile)
    lo = local_ordinal(zone, observed // 2)
    hi = local_ordinal(zone, n_us - 1) if n_us > observed // 2 else lo
    if first is not None:
        lo = max(lo, first)
    if last is not None:
        hi = min(hi, last)
    horizon = newest_us - RETENTION_US
    days: list[Day] = []
    start = day_start_us(zone, lo)
    for ordinal in range(lo, hi + 1):
        end = day_start_us(zone, ordinal + 1)
        measure = timeline.measure_span(start, min(end, n_us), n_us)
        if measure is None or start >= n_us:
            business = active = 0
        else:
            business, active = measure
        days.append(Day(ordinal, business, active, end <= horizon and end <= n_us))
        start = end
    return days


def store_history(
    keys: Keys,
    profile: Profile,
    n_us: int,
    first: int | None = None,
    last: int | None = None,
    kept_from_us: int | None = None,
) -> list[Day]:
    """A store's days at report time ``n_us`` from its polls (sorted, one per instant),
    limited to local dates ``first..last``; with ``kept_from_us`` (the pipeline's, where
    its polls are kept whole from), only the days from there on, which those polls
    shape exactly. The one path of the offline command and the HTTP route."""
    keys = keys[: int(np.searchsorted(keys >> 1, n_us, side="right"))]
    if not len(keys):
        return []
    if kept_from_us is not None:
        ordinal = local_ordinal(zone_of(profile), kept_from_us)
        first = ordinal if first is None else max(first, ordinal)
    timeline = history_timeline(keys, profile, n_us)
    return rollups(timeline, profile, n_us, int(keys[-1]) >> 1, first, last)


def parse_date(text: str) -> int:
    """A ``YYYY-MM-DD`` date as its ordinal (ValueError, saying what to give, if it is not)."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).toordinal()
    except ValueError:
        raise ValueError(f"{text!r} is not a date as YYYY-MM-DD") from None


def month_span(month: str) -> tuple[int, int]:
    """The first and last local date (ordinals) of a ``YYYY-MM`` month (ValueError if it is
    not one)."""
    try:
        year, number = (int(part) for part in month.split("-"))
        begin = date(year, number, 1)
    except ValueError:
        raise ValueError(f"{month!r} is not a month as YYYY-MM") from None
    if len(month) != 7:
        raise ValueError(f"{month!r} is not a month as YYYY-MM")
    after = date(year + number // 12, number % 12 + 1, 1)
    return begin.toordinal(), after.toordinal() - 1


class MonthRow(NamedTuple):
    """One store's totals over the local days of one month, in ticks."""

    store_id: str
    """The store."""
    business: int
    """Business time of the month's days in its history, up to the report time."""
    active: int
    """The part of it whose status is active."""

    def to_fields(self) -> list[str]:
        """The row as the monthly report writes it (docs/semantics.md §8.3)."""
        h = TICKS_PER_CENTI_HOUR
        inactive = self.business - self.active
        return [
            self.store_id,
            two_decimals(self.business, h),
            two_decimals(self.active, h),
            two_decimals(inactive, h),
            percent(self.active, self.business),
        ]


def hundredths(part: int, whole: int) -> int:
    """``100 · part / whole`` in hundredths of a percent, rounded half up, exactly
    (``whole`` > 0)."""
    return (2 * 10_000 * part + whole) // (2 * whole)


def percent(part: int, whole: int) -> str:
    """``100 · part / whole`` rounded half up to two decimals, exactly; empty if ``whole`` is 0."""
    if whole == 0:
        return ""
    value = hundredths(part, whole)
    return f"{value // 100}.{value % 100:02d}"


def month_row(store_id: str, days: Iterable[Day], month: tuple[int, int]) -> MonthRow:
    """The store's totals over the days of ``month`` (:func:`month_span`)."""
    first, last = month
    inside = [d for d in days if first <= d.ordinal <= last]
    return MonthRow(store_id, sum(d.business for d in inside), sum(d.active for d in inside))


def month_is_partial(
    month: tuple[int, int], n_us: int, zones: Iterable[ZoneInfo], kept_days: int | None = None
) -> bool:
    """Whether the month is not over at report time ``n_us`` in one of the stores' zones,
    or begins before the ``kept_days`` local days of history kept before the day of
    ``n_us`` (None: all of it is kept, as offline)."""
    first, last = month
    for zone in set(zones):
        if n_us < day_start_us(zone, last + 1):
            return True
        if kept_days is not None and first <= local_ordinal(zone, n_us) - kept_days:
            return True
    return False


def render_history_csv(days: Sequence[Day]) -> str:
    """A store's history as RFC 4180 CSV (the report's writer, CRLF line ends)."""
    out = io.StringIO()
    write_csv(out, (day.to_fields() for day in days), HISTORY_COLUMNS)
    return out.getvalue()


def render_monthly_csv(rows: Iterable[MonthRow]) -> str:
    """The monthly report as RFC 4180 CSV, rows sorted by store id (the report's writer,
    as the pipeline's monthly report is written)."""
    out = io.StringIO()
    write_csv(out, (row.to_fields() for row in sorted(rows)), MONTHLY_COLUMNS)
    return out.getvalue()
