"""A store's retained polls: one per instant, and retention at the 14-day horizon."""

from __future__ import annotations

import numpy as np

from streams.core.polllog import RETENTION_US, PollLog, normalize_keys
from streams.core.report import store_row
from streams.core.schedule import Profile
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY, US_PER_HOUR
from tests.unit.core.helpers import keys_of, us

START = us("2023-01-01T00:30:00Z")


def _hourly(days: int) -> list[tuple[int, bool]]:
    # Down for the first four hours of every day, up otherwise.
    return [(START + h * US_PER_HOUR, h % 24 >= 4) for h in range(days * 24)]


def test_retention_keeps_14_days_and_one_carry_in_poll() -> None:
    polls = _hourly(20)
    log = PollLog()
    log.add_many(polls)
    newest = polls[-1][0]
    horizon = newest - RETENTION_US
    kept = log.keys >> 1
    assert kept[-1] == newest
    assert int(kept[0]) < horizon <= int(kept[1])  # exactly one poll before the horizon
    assert int(kept[0]) == max(t for t, _ in polls if t < horizon)
    assert len(kept) == 1 + sum(1 for t, _ in polls if t >= horizon)


def test_a_late_poll_older_than_the_horizon_is_dropped_unless_it_is_the_new_carry_in() -> None:
    polls = _hourly(20)
    log = PollLog()
    log.add_many(polls)
    before = log.keys.copy()
    log.add(START - 30 * US_PER_DAY, False)  # far older than the carry-in: dropped
    assert np.array_equal(log.keys, before)
    carry = int(before[0]) >> 1
    log.add(carry + 60_000_000, False)  # between the carry-in and the horizon: the new one
    assert int(log.keys[0]) >> 1 == carry + 60_000_000
    assert len(log) == len(before)


def test_reports_from_the_retained_log_equal_reports_from_every_poll() -> None:
    # Open 00:00–12:00 UTC every day: an in-hours poll in every 7-day stretch.
    prof = Profile(tuple((d, 0, 12 * US_PER_HOUR) for d in range(7)), "UTC")
    polls = _hourly(30)
    log = PollLog()
    log.add_many(polls)
    everything = normalize_keys(keys_of(polls), None)
    newest = polls[-1][0]
    assert len(log) < len(everything)
    for n_us in (newest, newest - 7 * US_PER_DAY, newest - 3 * US_PER_DAY + 17):
        full = store_row("s", Timeline.for_report(everything, prof, n_us), n_us)
        retained = store_row("s", Timeline.for_report(log.keys, prof, n_us), n_us)
        assert retained == full
