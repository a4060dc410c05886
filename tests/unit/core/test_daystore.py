"""Final days kept after their polls (docs/semantics.md §8.2): stored once, at the
compaction that lets retention drop their polls, and equal to the days computed from every
poll (as ``storemon history`` does offline), across DST days and overnight hours."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streams.core.daystore import (
    Finalized,
    decode_days,
    encode_days,
    finalize,
    history_days,
    mark_key,
    month_key,
    month_of,
    prefix,
    stored_days,
)
from streams.core.history import Day, store_history, zone_of
from streams.core.pollkeys import normalize_keys
from streams.core.schedule import Profile
from streams.core.segments import kept_from, retain
from streams.core.timestamps import US_PER_HOUR
from streams.core.zones import local_ordinal
from tests.unit.core.helpers import keys_of, profile, us

STORE = b"s-1"
PROFILES = [
    Profile((), "America/New_York"),  # open all day, across the March DST change
    profile([(d, "18:00", "02:00") for d in range(7)], "Europe/Berlin"),  # overnight hours
    profile([(0, "09:00", "17:00"), (4, "10:00", "12:00")], "Asia/Kolkata"),
]


def _polls(start: str, days: int, seed: int) -> np.ndarray:
    rnd = random.Random(seed)
    t0 = us(start)
    polls = [
        (t0 + h * US_PER_HOUR + rnd.randrange(-20, 20) * 60_000_000, rnd.random() > 0.3)
        for h in range(24 * days)
        if rnd.random() > 0.15  # hours without a poll too
    ]
    return normalize_keys(keys_of(sorted(polls)))


def _apply(table: dict[bytes, bytes], done: Finalized) -> None:
    table.update(done.puts)
    for key in done.deletes:
        table.pop(key, None)


def test_a_month_of_days_round_trips_in_13_bytes_a_day() -> None:
    month = month_of(date_ordinal := 738_950)  # some day of 2024
    days = [Day(date_ordinal + i, 25 * 3_600 * 2_000_000, 7 + i, True) for i in range(3)]
    packed = encode_days(reversed(days))
    assert len(packed) == 13 * 3
    assert decode_days(month, packed) == days  # sorted, exact, final


@pytest.mark.parametrize("prof", PROFILES, ids=lambda p: str(p.zone))
@pytest.mark.parametrize("seed", [1, 2])
def test_days_stored_as_retention_moves_equal_those_of_every_poll(prof: Profile, seed: int) -> None:
    everything = _polls("2023-02-20T00:00:00Z", 60, seed)  # into April, past the DST change
    table: dict[bytes, bytes] = {}
    kept = everything[:0]
    stored_at = []
    # The pipeline: polls arrive a few days at a time; each compaction stores the days it
    # is about to let retention drop, then drops their polls.
    for upto in range(20, 61, 4):
        until = us("2023-02-20T00:00:00Z") + upto * 24 * US_PER_HOUR
        arrived = everything[(everything >> 1) < until]
        held = normalize_keys(np.concatenate([kept, arrived[(arrived >> 1) >= _newest(kept)]]))
        done = finalize(STORE, held, prof, table.get, history_days=400)
        _apply(table, done)
        stored_at.append(len([k for k in done.puts if k != mark_key(STORE)]))
        kept = retain(held, prof)
    newest = int(kept[-1]) >> 1
    zone = zone_of(prof)
    records = {k: v for k, v in table.items() if k.startswith(prefix(STORE))}
    days, mark = stored_days(STORE, records, local_ordinal(zone, newest), 400)
    assert mark is not None
    assert mark == local_ordinal(zone, kept_from(newest, prof)) - 1  # up to the cut
    offline = {d.ordinal: d for d in store_history(everything, prof, newest)}
    assert days, "nothing was stored"
    assert days == [offline[d.ordinal] for d in days]  # exact, and final
    assert [d.ordinal for d in days] == list(range(days[0].ordinal, mark + 1))  # no gap
    # From the mark on, the polls kept give the rest, exactly as every poll does.
    rest = store_history(kept, prof, newest, first=mark + 1)
    assert rest == [offline[d.ordinal] for d in rest]
    assert rest[0].ordinal == mark + 1
    # The route's one path: stored days, then the polls', the same as offline throughout.
    served = history_days(kept, prof, newest, days, mark)
    assert served == [offline[o] for o in range(days[0].ordinal, max(offline) + 1)]
    window = history_days(kept, prof, newest, days, mark, mark - 3, mark + 2)
    assert [d.ordinal for d in window] == list(range(mark - 3, mark + 3))
    assert window == [offline[d.ordinal] for d in window]
    assert history_days(kept, prof, newest, days, mark, mark - 5, mark - 4) == [
        offline[mark - 5],
        offline[mark - 4],
    ]


def _newest(keys: np.ndarray) -> int:
    return int(keys[-1]) >> 1 if len(keys) else -(2**62)


def test_a_day_is_stored_once_and_records_older_than_the_days_kept_go() -> None:
    prof = Profile((), "UTC")
    table: dict[bytes, bytes] = {}
    first = _polls("2023-01-01T00:00:00Z", 40, 3)
    _apply(table, finalize(STORE, first, prof, table.get, history_days=45))
    again = finalize(STORE, first, prof, table.get, history_days=45)
    assert again == Finalized({}, [])  # nothing new to store: the same compaction again
    assert (
        month_key(STORE, month_of(local_ordinal(zone_of(prof), us("2023-01-05T00:00:00Z"))))
        in table
    )
    later = _polls("2023-01-01T00:00:00Z", 120, 3)
    kept = retain(first, prof)
    held = normalize_keys(np.concatenate([kept, later[(later >> 1) > int(first[-1]) >> 1]]))
    done = finalize(STORE, held, prof, table.get, history_days=45)
    _apply(table, done)
    january = month_key(STORE, month_of(local_ordinal(zone_of(prof), us("2023-01-05T00:00:00Z"))))
    assert january in done.deletes  # wholly older than the 45 days kept before the mark
    assert january not in table
    days, _ = stored_days(STORE, table, local_ordinal(zone_of(prof), int(held[-1]) >> 1), 45)
    assert len(days) <= 45
