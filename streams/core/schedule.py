"""A store's weekly business hours, and the UTC intervals they cover (docs/semantics.md §2)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from streams.core.rows import HoursRow
from streams.core.timestamps import EPOCH_ORDINAL, US_PER_DAY
from streams.core.zones import day_offsets, local_to_utc_us, resolve_zone


class Intervals(NamedTuple):
    """Sorted, disjoint half-open UTC intervals ``[starts[i], ends[i])``, epoch µs."""

    starts: npt.NDArray[np.int64]
    """Where each interval begins."""
    ends: npt.NDArray[np.int64]
    """Where each interval ends (excluded)."""


Shift = tuple[int, int, int]
"""``(day, start_us, end_us)`` of one business-hours row, local time."""


class Profile(NamedTuple):
    """What a store's business time depends on: its weekly shifts and its zone name."""

    shifts: tuple[Shift, ...]
    """All rows of the store's schedule, sorted; empty means open 24×7."""
    zone: str | None
    """The store's ``timezone_str`` as last read; None when it has none."""

    @property
    def always_open(self) -> bool:
        """True when the store has no business-hours rows at all."""
        return not self.shifts


OPEN_24_7 = Profile((), None)
_LAST_ORDINAL = date.max.toordinal() - 2  # a shift may end on the day after its own


def shifts_of(rows: Iterable[HoursRow]) -> tuple[Shift, ...]:
    """The weekly schedule made of a store's rows (duplicates kept once, sorted)."""
    return tuple(sorted({(r.day, r.start_us, r.end_us) for r in rows}))


def business_intervals(profile: Profile, lo_us: int, hi_us: int) -> Intervals:
    """The store's business hours overlapping ``[lo_us, hi_us)``, as merged UTC intervals.

    Every interval is half-open ``[start, end)`` in epoch microseconds; the arrays are
    sorted and no two intervals overlap or touch. Intervals are whole (not clipped).
    """
    if profile.always_open:
        return Intervals(np.array([lo_us], dtype=np.int64), np.array([hi_us], dtype=np.int64))
    zone, _valid = resolve_zone(profile.zone)
    # Local dates whose shifts can reach the range: zone offsets stay within ±1 day, and
    # an overnight or 24-hour shift reaches one day further.
    # Dates outside what ``datetime`` knows (before year 1, after 9999) have no hours.
    first = max(lo_us // US_PER_DAY + EPOCH_ORDINAL - 2, 1)
    last = min(hi_us // US_PER_DAY + EPOCH_ORDINAL + 2, _LAST_ORDINAL)
    if last < first:
        return Intervals(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    days = np.arange(first, last + 1, dtype=np.int64)
    shifts = np.array(profile.shifts, dtype=np.int64)
    day_index, shift_index = np.nonzero((days[:, None] - 1) % 7 == shifts[None, :, 0])
    ordinal = days[day_index]
    start_of_day, end_of_day = shifts[shift_index, 1], shifts[shift_index, 2]
    # end > start: the same day; end < start: overnight, into the next day; end == start:
    # a whole day, to the same local time the next day (23 or 25 hours across DST).
    next_day = end_of_day <= start_of_day
    starts = _to_utc(zone, first, last + 2, ordinal, start_of_day)
    ends = _to_utc(zone, first, last + 2, ordinal + next_day, end_of_day)
    # A shift lying in a DST gap can come out empty or reversed; it has no time.
    keep = (ends > starts) & (ends > lo_us) & (starts < hi_us)
    return merge_intervals(starts[keep], ends[keep])


def _to_utc(
    zone: ZoneInfo, first: int, last: int, ordinals: np.ndarray, us_of_day: np.ndarray
) -> np.ndarray:
    """Local times (date ordinal, microseconds after midnight) as epoch microseconds."""
    offsets, exact = day_offsets(zone, first, last)
    index = ordinals - first
    utc: np.ndarray = (ordinals - EPOCH_ORDINAL) * US_PER_DAY + us_of_day - offsets[index]
    for i in np.flatnonzero(exact[index]).tolist():
        utc[i] = local_to_utc_us(zone, int(ordinals[i]), int(us_of_day[i]))
    return utc


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> Intervals:
    """The union of half-open intervals, sorted, with overlapping and touching ones joined."""
    if len(starts) == 0:
        return Intervals(starts.astype(np.int64), ends.astype(np.int64))
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    opens = np.empty(len(starts), dtype=bool)
    opens[0] = True
    np.greater(starts[1:], reach[:-1], out=opens[1:])
    first = np.flatnonzero(opens)
    last = np.append(first[1:] - 1, len(starts) - 1)
    return Intervals(starts[first], reach[last])
