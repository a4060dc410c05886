"""One store's status over its business time, as prefix sums (docs/semantics.md §2–§3).

Times here are in half-microseconds ("ticks"), so that the midpoint between two polls is
an exact integer. Every instant of business time takes the status of the nearest
observation; the boundary between two observations is their midpoint. With ``B(x)`` the
business time from the origin to ``x`` and ``A(x)`` the active business time, both are
piecewise linear and answer in O(log n) from arrays built once in O(n).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from streams.core.pollkeys import Keys
from streams.core.schedule import Profile, business_intervals
from streams.core.timestamps import US_PER_DAY

COVER_BEFORE_US = 15 * US_PER_DAY
"""How far before the report time a timeline reaches: a week window for any as_of in the
last week of the one it was built for."""
COVER_AFTER_US = US_PER_DAY
CARRY_STEP_US = 28 * US_PER_DAY
"""How much time one step of the search for a carry-in observation looks at."""


def _inside(starts: np.ndarray, ends: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Which of the instants ``ts`` lie in the intervals ``[starts[i], ends[i])``."""
    if len(starts) == 0:
        return np.zeros(len(ts), dtype=bool)
    where = np.searchsorted(starts, ts, side="right") - 1
    inside: np.ndarray = (where >= 0) & (ts < ends[np.maximum(where, 0)])
    return inside


def last_observation_before(keys: Keys, profile: Profile, t_us: int) -> int | None:
    """The key of the newest poll before ``t_us`` that lies in business hours, or None.

    Its status reaches forward into any window after it (docs/semantics.md §3: observations before a
    window shape it), however long ago it was. Looks back ``CARRY_STEP_US`` of polls at a
    time, so the work is bounded by the polls, not by the time between them.
    """
    ts = keys >> 1
    end = int(np.searchsorted(ts, t_us, side="left"))
    while end > 0:
        hi = int(ts[end - 1]) + 1
        start = int(np.searchsorted(ts, hi - CARRY_STEP_US, side="left"))
        starts, ends = business_intervals(profile, int(ts[start]), hi)
        inside = np.flatnonzero(_inside(starts, ends, ts[start:end]))
        if len(inside):
            return int(keys[start + int(inside[-1])])
        end = start
    return None


class _Clock(NamedTuple):
    """A profile's business time over a range, in ticks: what every timeline of a store
    with that profile, built for that range, shares."""

    starts: np.ndarray
    """Where each business interval begins (ticks)."""
    ends: np.ndarray
    """Where each ends (ticks, excluded)."""
    cum: np.ndarray
    """Business time before each interval begins (ticks)."""
    starts_a: array[int]
    ends_a: array[int]
    cum_a: array[int]


CLOCKS_CACHED = 4_096
"""Clocks kept for reuse. Stores share schedules (2,092 profiles among the 13,584 stores
of the 2023 export) and one report builds every timeline over the same range, so most
timelines find their clock made."""


@lru_cache(maxsize=CLOCKS_CACHED)
def _clock(profile: Profile, lo_us: int, hi_us: int) -> _Clock:
    starts, ends = business_intervals(profile, lo_us, hi_us)
    starts2, ends2 = starts * 2, ends * 2
    cum = np.zeros(len(starts2), dtype=np.int64)
    np.cumsum((ends2 - starts2)[:-1], out=cum[1:])
    for shared in (starts2, ends2, cum):
        shared.flags.writeable = False
    return _Clock(
        starts2, ends2, cum,
        array("q", starts2.tobytes()), array("q", ends2.tobytes()), array("q", cum.tobytes()),
    )  # fmt: skip


class Measure(NamedTuple):
    """Business time and active business time in one window, in ticks (½ µs)."""

    business: int
    """Business time in the window."""
    active: int
    """Business time whose nearest observation is active."""


class Timeline:
    """Business hours and nearest-observation status of one store, built for a time range."""

    __slots__ = (
        "_cum",
        "_ends",
        "_mids",
        "_obs",
        "_prefix",
        "_seg_b",
        "_starts",
        "_status",
        "first_poll_us",
        "hi_us",
        "lo_us",
    )

    def __init__(self, keys: Keys, profile: Profile, lo_us: int, hi_us: int) -> None:
        """Answers for report times in ``[lo_us + 7 days, hi_us]``, from ``keys`` (sorted,
        one per instant) and the store's ``profile``."""
        self.lo_us = lo_us
        self.hi_us = hi_us
        self.first_poll_us = int(keys[0]) >> 1 if len(keys) else None
        clock = _clock(profile, lo_us, hi_us)
        ts = keys >> 1
        first, last = np.searchsorted(ts, (lo_us, hi_us), side="left").tolist()
        window = keys[first:last]
        # A key without its status bit is its instant in ticks (2 · µs), the clock's unit.
        obs_keys = window[_inside(clock.starts, clock.ends, window & ~1)]
        carry = last_observation_before(keys[:first], profile, lo_us) if first else None
        if carry is not None:
            obs_keys = np.concatenate((np.array([carry], dtype=np.int64), obs_keys))
        obs_us = obs_keys >> 1
        status = (obs_keys & 1).astype(np.int8)
        starts2, ends2, cum = clock.starts, clock.ends, clock.cum
        mids = obs_us[:-1] + obs_us[1:]  # midpoint in ticks: (2a + 2b) / 2
        if len(starts2):
            j = np.maximum(np.searchsorted(starts2, mids, side="right") - 1, 0)
            b_mids = cum[j] + np.clip(mids, starts2[j], ends2[j]) - starts2[j]
        else:
            b_mids = np.zeros(len(mids), dtype=np.int64)
        seg_b = np.concatenate((np.zeros(1, dtype=np.int64), b_mids))
        prefix = np.zeros(len(seg_b), dtype=np.int64)
        np.cumsum(status[:-1] * np.diff(seg_b), out=prefix[1:])
        self._starts = clock.starts_a
        self._ends = clock.ends_a
        self._cum = clock.cum_a
        self._obs = array("q", (obs_us * 2).tobytes())
        self._mids = array("q", mids.tobytes())
        self._seg_b = array("q", seg_b.tobytes())
        self._prefix = array("q", prefix.tobytes())
        self._status = array("b", status.tobytes())

    @classmethod
    def for_report(cls, keys: Keys, profile: Profile, n_us: int) -> Timeline:
        """A timeline good for report time ``n_us`` and any ``as_of`` a week before it."""
        return cls(keys, profile, n_us - COVER_BEFORE_US, n_us + COVER_AFTER_US)

    @property
    def nbytes(self) -> int:
        """About how many bytes this timeline holds (its arrays and their headers)."""
        arrays = (self._starts, self._ends, self._cum, self._obs, self._mids, self._seg_b,
                  self._prefix, self._status)  # fmt: skip
        return sum(a.itemsize * len(a) + 80 for a in arrays) + 150

    def covers(self, n_us: int) -> bool:
        """Whether report time ``n_us`` can be answered from this timeline."""
        return self.lo_us <= n_us - 7 * US_PER_DAY and n_us <= self.hi_us

    def business(self, x: int) -> int:
        """``B(x)``: business time from the origin to tick ``x``."""
        i = bisect_right(self._starts, x) - 1
        if i < 0:
            return 0
        end = self._ends[i]
        return self._cum[i] + (x if x < end else end) - self._starts[i]

    def measure(self, n_us: int, width_us: int) -> Measure | None:
        """Business and active time in ``[n − width, n)``; None if no observation ≤ n."""
        return self.measure_span(n_us - width_us, n_us, n_us)

    def measure_span(self, lo_us: int, hi_us: int, n_us: int) -> Measure | None:
        """Business and active time in ``[lo, hi)`` as the status is at report time ``n``
        (observations at or before it); None if there is no such observation. A report
        window is ``[n − width, n)``; a day of history (``core/history.py``) is any span."""
        count = bisect_right(self._obs, n_us * 2)
        if count == 0:
            return None
        hi, lo = hi_us * 2, lo_us * 2
        b_hi, b_lo = self.business(hi), self.business(lo)
        return Measure(b_hi - b_lo, self._active(hi, b_hi, count) - self._active(lo, b_lo, count))

    @property
    def first_observation(self) -> int | None:
        """The first observation in the covered range (its carry-in included), in ticks."""
        return self._obs[0] if len(self._obs) else None

    def _active(self, x: int, b_x: int, count: int) -> int:
        q = bisect_right(self._mids, x)
        q = min(q, count - 1)
        if self._status[q]:
            return self._prefix[q] + b_x - self._seg_b[q]
        return self._prefix[q]

    def next_business(self, x: int) -> int | None:
        """The first business tick at or after tick ``x`` (None past the covered range)."""
        i = bisect_right(self._starts, x) - 1
        if i >= 0 and x < self._ends[i]:
            return x
        return self._starts[i + 1] if i + 1 < len(self._starts) else None

    def inactive_runs(self) -> list[tuple[int | None, int | None]]:
        """Where the status is inactive: ``(from, to)`` ticks per maximal run of inactive
        observations, the boundaries being midpoints between observations; None where a
        run reaches past the first or the last observation (docs/semantics.md §3 extrapolates)."""
        runs: list[tuple[int | None, int | None]] = []
        status, mids = self._status, self._mids
        i, count = 0, len(status)
        while i < count:
            if status[i]:
                i += 1
                continue
            j = i
            while j + 1 < count and not status[j + 1]:
                j += 1
            runs.append((mids[i - 1] if i else None, mids[j] if j + 1 < count else None))
            i = j + 1
        return runs

    def business_spans(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The business intervals clipped to ``[lo, hi)`` ticks."""
        i = max(bisect_right(self._starts, lo) - 1, 0)
        spans = []
        while i < len(self._starts) and self._starts[i] < hi:
            start, end = max(self._starts[i], lo), min(self._ends[i], hi)
            if end > start:
                spans.append((start, end))
            i += 1
        return spans

    @property
    def observed(self) -> bool:
        """Whether the timeline has an observation at all (else no status anywhere)."""
        return len(self._obs) > 0
