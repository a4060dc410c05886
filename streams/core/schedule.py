"""A store's weekly business hours, and the UTC intervals they cover (SPEC §2)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from streams.core.rows import HoursRow
from streams.core.timestamps import EPOCH_ORDINAL, US_PER_DAY
from streams.core.zones import local_to_utc_us, resolve_zone

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


def shifts_of(rows: Iterable[HoursRow]) -> tuple[Shift, ...]:
    """The weekly schedule made of a store's rows (duplicates kept once, sorted)."""
    return tuple(sorted({(r.day, r.start_us, r.end_us) for r in rows}))


def business_intervals(profile: Profile, lo_us: int, hi_us: int) -> list[tuple[int, int]]:
    """The store's business hours overlapping ``[lo_us, hi_us)``, as merged UTC intervals.

    Every interval is half-open ``[start, end)`` in epoch microseconds; the list is sorted
    and no two intervals overlap or touch. Intervals are whole (not clipped to the range).
    """
    if profile.always_open:
        return [(lo_us, hi_us)]
    zone, _valid = resolve_zone(profile.zone)
    by_day: dict[int, list[tuple[int, int]]] = {}
    for day, start, end in profile.shifts:
        by_day.setdefault(day, []).append((start, end))
    # Local dates whose shifts can reach the range: zone offsets stay within ±1 day, and
    # an overnight or 24-hour shift reaches one day further.
    first = lo_us // US_PER_DAY + EPOCH_ORDINAL - 2
    last = hi_us // US_PER_DAY + EPOCH_ORDINAL + 2
    raw: list[tuple[int, int]] = []
    for ordinal in range(first, last + 1):
        for start, end in by_day.get((ordinal - 1) % 7, ()):  # date.weekday() of ordinal
            utc_start = local_to_utc_us(zone, ordinal, start)
            if end > start:
                utc_end = local_to_utc_us(zone, ordinal, end)
            elif end < start:
                utc_end = local_to_utc_us(zone, ordinal + 1, end)
            else:
                utc_end = utc_start + US_PER_DAY
            # A shift lying in a DST gap can come out empty or reversed; it has no time.
            if utc_end > utc_start and utc_end > lo_us and utc_start < hi_us:
                raw.append((utc_start, utc_end))
    return merge_intervals(raw)


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of half-open intervals, sorted, with overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
