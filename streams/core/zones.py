"""IANA time zones, the fallback zone, and fast local → UTC conversion."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from streams.core.timestamps import EPOCH_ORDINAL, US_PER_DAY

DEFAULT_ZONE = "America/Chicago"
_ONE_US = timedelta(microseconds=1)


@lru_cache(maxsize=1_024)  # bounded: names come from clients too
def resolve_zone(name: str | None) -> tuple[ZoneInfo, bool]:
    """The zone named ``name``, and whether the name was valid.

    A missing (``None``) or invalid name gives ``America/Chicago``; the flag is False only
    for a name that was given but is not an IANA zone (a data-quality warning).
    """
    if name is None:
        return ZoneInfo(DEFAULT_ZONE), True
    try:
        return ZoneInfo(name), True
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo(DEFAULT_ZONE), False


def _offset_us(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.replace(tzinfo=zone).utcoffset()
    assert offset is not None  # a ZoneInfo always answers for a naive time
    return offset // _ONE_US


@lru_cache(maxsize=200_000)
def _day_offsets(zone: ZoneInfo, ordinal: int) -> int | None:
    """The UTC offset in force all day on local date ``ordinal``, or None if it changes."""
    day = date.fromordinal(ordinal)
    first = _offset_us(zone, datetime.combine(day, time()))
    last = _offset_us(zone, datetime.combine(day, time.max))
    return first if first == last else None


@lru_cache(maxsize=4096)
def day_offsets(zone: ZoneInfo, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Per local date ``first ≤ d < last``: the UTC offset (µs) in force all day, and
    whether the day has a transition (its times must be converted one by one)."""
    offsets = np.zeros(last - first, dtype=np.int64)
    exact = np.zeros(last - first, dtype=bool)
    for i, ordinal in enumerate(range(first, last)):
        offset = _day_offsets(zone, ordinal)
        if offset is None:
            exact[i] = True
        else:
            offsets[i] = offset
    offsets.flags.writeable = False
    exact.flags.writeable = False
    return offsets, exact


def local_to_utc_us(zone: ZoneInfo, ordinal: int, us_of_day: int) -> int:
    """Local date ``ordinal`` at ``us_of_day`` after midnight, as epoch microseconds.

    Exactly what ``zoneinfo`` does for a naive local time with ``fold=0``: a time in a
    DST gap or repeat resolves with the offset in force before the transition. Days
    without a transition take a cached offset; the others ask ``zoneinfo`` each time.
    """
    ordinal += us_of_day // US_PER_DAY
    us_of_day %= US_PER_DAY
    local_us = (ordinal - EPOCH_ORDINAL) * US_PER_DAY + us_of_day
    offset = _day_offsets(zone, ordinal)
    if offset is None:
        moment = datetime.combine(date.fromordinal(ordinal), time()) + timedelta(
            microseconds=us_of_day
        )
        offset = _offset_us(zone, moment)
    return local_us - offset


def local_ordinal(zone: ZoneInfo, t_us: int) -> int:
    """The local date, in ``zone``, of the instant ``t_us`` (epoch µs)."""
    moment = datetime.fromtimestamp(t_us // 1_000_000, zone)
    return moment.date().toordinal()


def day_start_us(zone: ZoneInfo, ordinal: int) -> int:
    """When local date ``ordinal`` begins (its first instant: midnight, or the end of a
    gap that swallows midnight), in epoch µs."""
    return local_to_utc_us(zone, ordinal, 0)
