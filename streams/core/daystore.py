"""Final days kept after their polls (docs/semantics.md §8.2): what the pipeline stores of
a store's history once retention drops the polls that shaped it.

A store's final days are kept one record a local month, in the ``history`` table of the
store's partition: key ``store id, 0x00, month (2 bytes)``, value 13 bytes a day (the day
of the month, then business and active time in ticks, 6 bytes each). A mark
(``store id, 0x00, 0xffff``) holds the last day stored: the days after it are shaped by
polls the store still keeps whole.

Days are stored when the store is compacted (``agents/maintenance.py``), by the same call
that lets retention drop the polls: every day before the local day that holds the 14-day
horizon is final then, and is measured before its polls go. Records older than
``history_days`` are deleted as the mark moves past them.

Pure: the shell reads and writes the records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import NamedTuple

from streams.core.history import (
    Day,
    MonthRow,
    month_is_partial,
    month_row,
    polled_by,
    store_history,
    zone_of,
)
from streams.core.pollkeys import Keys
from streams.core.schedule import Profile
from streams.core.segments import kept_from
from streams.core.zones import local_ordinal

SEP = b"\x00"
"""Between the store id and the month (a store id holds no NUL: docs/semantics.md §1)."""
MARK = b"\xff\xff"
_DAY_BYTES = 13
_TICK_BYTES = 6


def month_of(ordinal: int) -> int:
    """A local date's month, counted from year 0 (``year * 12 + month - 1``)."""
    day = date.fromordinal(ordinal)
    return day.year * 12 + day.month - 1


def month_key(store: bytes, month: int) -> bytes:
    """The key of a store's record of one month."""
    return store + SEP + month.to_bytes(2, "big")


def mark_key(store: bytes) -> bytes:
    """The key of the store's mark: the last day stored."""
    return store + SEP + MARK


def prefix(store: bytes) -> bytes:
    """What every key of the store begins with."""
    return store + SEP


def encode_days(days: Iterable[Day]) -> bytes:
    """A month's days as stored, in date order."""
    out = bytearray()
    for day in sorted(days):
        out += date.fromordinal(day.ordinal).day.to_bytes(1, "big")
        out += day.business.to_bytes(_TICK_BYTES, "big")
        out += day.active.to_bytes(_TICK_BYTES, "big")
    return bytes(out)


def decode_days(month: int, value: bytes) -> list[Day]:
    """A month record's days (all final)."""
    year, number = divmod(month, 12)
    first = date(year, number + 1, 1).toordinal() - 1
    days = []
    for at in range(0, len(value) - _DAY_BYTES + 1, _DAY_BYTES):
        chunk = value[at : at + _DAY_BYTES]
        business = int.from_bytes(chunk[1 : 1 + _TICK_BYTES], "big")
        active = int.from_bytes(chunk[1 + _TICK_BYTES :], "big")
        days.append(Day(first + chunk[0], business, active, True))
    return days


def decode_mark(value: bytes | None) -> int | None:
    """The last day stored (an ordinal), None when nothing is."""
    return None if not value else int.from_bytes(value, "big")


class Finalized(NamedTuple):
    """What a compaction writes to and deletes from a store's history."""

    puts: dict[bytes, bytes]
    """Month records (merged with what they held) and the new mark."""
    deletes: list[bytes]
    """Month records older than the days kept."""


def finalize(
    store: bytes,
    keys: Keys,
    profile: Profile,
    read: Callable[[bytes], bytes | None],
    history_days: int,
) -> Finalized:
    """The days of ``store`` that retention is about to drop the polls of (``keys``: all it
    holds, sorted, before the cut), measured and merged into its month records (``read``
    gives a stored record). Those after the mark and before the local day that holds the
    14-day horizon are final; each is stored once, and never again."""
    if not len(keys):
        return Finalized({}, [])
    newest = int(keys[-1]) >> 1
    cut = local_ordinal(zone_of(profile), kept_from(newest, profile))
    mark = decode_mark(read(mark_key(store)))
    first = None if mark is None else mark + 1
    if first is not None and first >= cut:
        return Finalized({}, [])
    days = [d for d in store_history(keys, profile, newest, first, cut - 1) if d.final]
    if not days:
        return Finalized({}, [])
    by_month: dict[int, list[Day]] = {}
    for day in days:
        by_month.setdefault(month_of(day.ordinal), []).append(day)
    puts: dict[bytes, bytes] = {}
    for month, fresh in by_month.items():
        key = month_key(store, month)
        dates = {d.ordinal for d in fresh}
        held = [d for d in decode_days(month, read(key) or b"") if d.ordinal not in dates]
        puts[key] = encode_days(held + fresh)
    new_mark = days[-1].ordinal
    puts[mark_key(store)] = new_mark.to_bytes(4, "big")
    # Months wholly before the days kept go, as the mark passes them (a month at a time).
    gone_before = month_of(new_mark - history_days + 1)
    since = month_of(mark - history_days + 1) if mark is not None else gone_before - 1
    deletes = [month_key(store, m) for m in range(max(0, since - 1), gone_before)]
    return Finalized(puts, deletes)


def stored_days(
    store: bytes, records: Mapping[bytes, bytes], newest_ordinal: int, history_days: int
) -> tuple[list[Day], int | None]:
    """A store's stored days (``records``: its keys and values), oldest first, those of the
    last ``history_days`` local days up to ``newest_ordinal`` only; and its mark."""
    mark: int | None = None
    days: list[Day] = []
    start = len(prefix(store))
    for key, value in records.items():
        tail = key[start:]
        if tail == MARK:
            mark = decode_mark(value)
        elif len(tail) == 2:
            days += decode_days(int.from_bytes(tail, "big"), value)
    oldest = newest_ordinal - history_days + 1
    return sorted(d for d in days if d.ordinal >= oldest), mark


def history_days(
    keys: Keys,
    profile: Profile,
    n_us: int,
    stored: list[Day],
    mark: int | None,
    first: int | None = None,
    last: int | None = None,
) -> list[Day]:
    """A store's days at report time ``n_us`` as the pipeline holds them, limited to local
    dates ``first..last``: the stored ones up to the mark, then those its polls (``keys``)
    shape whole. Without a mark, nothing was stored: the polls are whole from the start of
    the local day that holds the 14-day horizon (``kept_from``). The one path of the
    history route."""
    if not len(keys):
        return []
    if mark is None:
        newest = int(keys[-1]) >> 1
        return store_history(keys, profile, n_us, first, last, kept_from(newest, profile))
    begin = mark + 1 if first is None else max(first, mark + 1)
    old = [
        d
        for d in stored
        if d.ordinal <= mark
        and (first is None or d.ordinal >= first)
        and (last is None or d.ordinal <= last)
    ]
    if last is not None and last < begin:
        return old
    return old + store_history(keys, profile, n_us, begin, last)


def store_month(
    store_id: str,
    keys: Keys,
    profile: Profile,
    n_us: int,
    stored: list[Day],
    mark: int | None,
    month: tuple[int, int],
    kept_days: int,
) -> tuple[MonthRow, bool] | None:
    """A store's row of the monthly report of ``month`` (:func:`month_span`) at ``n_us``,
    from its days as the pipeline holds them (:func:`history_days`), and whether the month
    is partial for it (not over in its zone, or reaching back past the ``kept_days`` days of
    history kept); None when it had no poll by ``n_us``. The pipeline's one path of a
    monthly row."""
    if not polled_by(keys, n_us):
        return None
    days = history_days(keys, profile, n_us, stored, mark, month[0], month[1])
    partial = month_is_partial(month, n_us, [zone_of(profile)], kept_days)
    return month_row(store_id, days, month), partial
