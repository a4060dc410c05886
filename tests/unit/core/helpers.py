"""Small builders shared by the core's tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np

from streams.core.pollkeys import normalize_keys
from streams.core.report import ReportRow, store_row
from streams.core.rows import parse_time_of_day
from streams.core.schedule import Profile
from streams.core.segments import encode
from streams.core.timeline import Timeline
from streams.core.timestamps import TimeBounds, parse_timestamp

BOUNDS = TimeBounds(parse_timestamp("2026-11-23T00:00:00Z"))
"""A fixed 'now' for reading polls in tests (the default 5 minutes of skew)."""


def us(text: str) -> int:
    """Epoch microseconds of an ISO timestamp (UTC unless it says otherwise)."""
    return parse_timestamp(text)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def profile(shifts: list[tuple[int, str, str]], zone: str | None = "UTC") -> Profile:
    """A profile from ``(day, 'HH:MM', 'HH:MM')`` shifts."""
    return Profile(
        tuple(sorted((d, parse_time_of_day(s), parse_time_of_day(e)) for d, s, e in shifts)),
        zone,
    )


def row(
    polls: list[tuple[str, bool]], prof: Profile, now: str, store_id: str = "s1"
) -> list[str] | None:
    """The store's CSV row (split) at ``now``, computed by the core from every poll."""
    keys = normalize_keys(keys_of([(us(text), active) for text, active in polls]))
    n_us = us(now)
    got: ReportRow | None = store_row(store_id, Timeline.for_report(keys, prof, n_us), n_us)
    return None if got is None else got.to_fields()[1:]


def keys_of(polls: list[tuple[int, bool]]) -> np.ndarray:
    return np.array([t * 2 + int(a) for t, a in polls], dtype=np.int64)


def segments_of(
    store: bytes, polls: list[tuple[int, bool]], rnd: random.Random
) -> dict[bytes, bytes]:
    """The segments the polls agent writes when ``polls`` arrive in any order, in batches
    of any size (each batch normalised, then one segment)."""
    shuffled = list(polls)
    rnd.shuffle(shuffled)
    out: dict[bytes, bytes] = {}
    while shuffled:
        cut = rnd.randint(1, len(shuffled))
        key, value = encode(store, normalize_keys(keys_of(shuffled[:cut])))
        out[key] = value
        shuffled = shuffled[cut:]
    return out
