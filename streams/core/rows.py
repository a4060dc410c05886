"""Rows of the three sources, validated: a value object or a reason it was rejected."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from streams.core.exceptions import HeaderError, RowError, TimestampError, quote
from streams.core.timestamps import TimeBounds, parse_timestamp

POLLS = "polls"
HOURS = "hours"
ZONES = "timezones"

# Column names by source, compared after stripping spaces and a BOM, case-insensitively.
# Each entry is one logical column and the header names that may spell it.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    POLLS: {
        "store_id": ("store_id",),
        "status": ("status",),
        "timestamp_utc": ("timestamp_utc",),
    },
    HOURS: {
        "store_id": ("store_id",),
        "day": ("dayofweek", "day"),
        "start_time_local": ("start_time_local",),
        "end_time_local": ("end_time_local",),
    },
    ZONES: {
        "store_id": ("store_id",),
        "timezone_str": ("timezone_str",),
    },
}


class Poll(NamedTuple):
    """One poll of a store."""

    store_id: str
    """Opaque store id, stripped."""
    ts_us: int
    """When the poll was taken: microseconds since the epoch, UTC."""
    active: bool
    """True for ``active``, False for ``inactive``."""


class HoursRow(NamedTuple):
    """One business-hours row: a store is open on ``day`` from ``start_us`` to ``end_us``."""

    store_id: str
    """Opaque store id, stripped."""
    day: int
    """Day of week, 0 = Monday … 6 = Sunday."""
    start_us: int
    """Local opening time, microseconds after local midnight."""
    end_us: int
    """Local closing time; below ``start_us`` means overnight, equal means 24 hours."""


class ZoneRow(NamedTuple):
    """A store's time zone as written in the export (validated later, see ``zones``)."""

    store_id: str
    """Opaque store id, stripped."""
    timezone: str
    """IANA name as given, stripped; may be invalid."""


class Rejection(NamedTuple):
    """A row that could not be used, and why."""

    source: str
    """Where it came from: a file path or a topic name."""
    line: int
    """Line number in the file (1 = header), or the offset in the topic."""
    reason: str
    """What was wrong and what to do."""
    raw: str
    """The row as read."""

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


def normalize_name(name: str) -> str:
    """A header name as compared: no BOM, no surrounding spaces, lower case."""
    return name.replace("\ufeff", "").strip().lower()


def map_columns(kind: str, header: Sequence[str]) -> dict[str, int]:
    """Map each logical column of ``kind`` to its index in ``header``, in any order."""
    names = [normalize_name(h) for h in header]
    found: dict[str, int] = {}
    for column, spellings in COLUMNS[kind].items():
        for spelling in spellings:
            if spelling in names:
                found[column] = names.index(spelling)
                break
        else:
            wanted = " or ".join(repr(s) for s in spellings)
            raise HeaderError(
                f"{kind} header {list(header)!r} has no column {wanted}; "
                f"expected columns {', '.join(COLUMNS[kind])} in any order"
            )
    return found


_STATUSES = {"active": True, "inactive": False}
STATUS_PATTERN = r"^\s*(?:[Aa][Cc][Tt][Ii][Vv][Ee]|[Ii][Nn][Aa][Cc][Tt][Ii][Vv][Ee])\s*$"
"""A status as written anywhere: ``active`` or ``inactive`` in any case, spaces around."""
TIME_OF_DAY_PATTERN = (
    r"^\s*(?:(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    r"|24:00(?::00(?:\.0{1,6})?)?)\s*$"
)
"""A local time of day: ``HH:MM[:SS[.ffffff]]`` from 00:00 to 23:59:59.999999, or
``24:00`` (the day's end); what :func:`parse_time_of_day` accepts, exactly."""
_TIME_OF_DAY = re.compile(TIME_OF_DAY_PATTERN)
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?")


STORE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
"""A store id after stripping (docs/semantics.md §1): 1 to 128 of these characters."""
STORE_ID_TEXT_PATTERN = r"^\s*[A-Za-z0-9._:-]{1,128}\s*$"
"""A store id as it may be written (surrounding spaces are stripped)."""
_STORE_ID = re.compile(STORE_ID_PATTERN)


def parse_store_id(value: object) -> str:
    """A store id (docs/semantics.md §1): a string, stripped, 1–128 of ``A–Z a–z 0–9 . _ : -``.

    Anything else is refused: a JSON number or ``true``, a comma, a quote, a line break,
    a leading ``=`` (a spreadsheet formula).
    """
    if value is None:
        raise RowError("store_id is missing: every poll and row names its store")
    if not isinstance(value, str):
        raise RowError(
            f"store_id {quote(value)} is a {type(value).__name__}, not a string: "
            'send it as text, e.g. "42"'
        )
    store_id = value.strip()
    if not store_id:
        raise RowError("empty store_id: every row needs the store it is about")
    if _STORE_ID.match(store_id) is None:
        if len(store_id) > 128:
            why = f"is {len(store_id):,} characters long; at most 128 are allowed"
        else:
            why = "has characters other than A–Z a–z 0–9 . _ : -"
        raise RowError(f"store_id {quote(store_id)} {why}")
    return store_id


def parse_status(text: object) -> bool:
    """``active`` → True, ``inactive`` → False, in any case."""
    if isinstance(text, str):
        found = _STATUSES.get(text.strip().lower())
        if found is not None:
            return found
    shown = quote(text.strip() if isinstance(text, str) else text)
    raise RowError(f"unknown status {shown}: expected 'active' or 'inactive'")


def parse_poll_fields(
    store_id: object, status: object, timestamp: object, bounds: TimeBounds
) -> Poll:
    """One poll from its three fields, wherever it comes from (a CSV row, a topic message,
    an HTTP body): the one place that says what a valid poll is (docs/semantics.md §1)."""
    sid = parse_store_id(store_id)
    active = parse_status(status)
    if not isinstance(timestamp, str):
        raise RowError(f"timestamp_utc {quote(timestamp)} is not a string")
    try:
        ts_us = bounds.check(parse_timestamp(timestamp))
    except TimestampError as exc:
        raise RowError(str(exc)) from None
    return Poll(sid, ts_us, active)


def parse_day(text: str) -> int:
    """A day of week 0 (Monday) … 6 (Sunday)."""
    value = text.strip()
    if not value.isdigit() or int(value) > 6:
        raise RowError(
            f"day {quote(value)} is not a day of week: expected 0 (Monday) to 6 (Sunday)"
        )
    return int(value)


@lru_cache(maxsize=4_096)  # an export repeats a few hundred times of day, 86,000 times over
def parse_time_of_day(text: str) -> int:
    """``HH:MM[:SS[.ffffff]]`` as microseconds after midnight; ``24:00`` is the day's end."""
    value = text.strip()
    if _TIME_OF_DAY.match(value) is None:
        if _CLOCK.fullmatch(value):
            raise RowError(
                f"time {quote(value)} is out of range: expected 00:00 to 23:59:59 (or 24:00)"
            )
        raise RowError(f"time {quote(value)} is not HH:MM or HH:MM:SS")
    match = _CLOCK.fullmatch(value)
    assert match is not None  # the pattern above is stricter
    hours, minutes = int(match[1]), int(match[2])
    seconds = int(match[3] or 0)
    fraction = int((match[4] or "0").ljust(6, "0"))
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + fraction


def _field(row: Sequence[str], columns: dict[str, int], name: str) -> str:
    index = columns[name]
    if index >= len(row):
        raise RowError(f"missing field {name!r}: the row has {len(row)} fields")
    return row[index]


def parse_poll(row: Sequence[str], columns: dict[str, int], bounds: TimeBounds) -> Poll:
    """A polls row as a :class:`Poll`; raises :class:`RowError` with the reason."""
    return parse_poll_fields(
        _field(row, columns, "store_id"),
        _field(row, columns, "status"),
        _field(row, columns, "timestamp_utc"),
        bounds,
    )


def parse_hours(row: Sequence[str], columns: dict[str, int]) -> HoursRow:
    """A business-hours row as an :class:`HoursRow`; raises :class:`RowError`."""
    return HoursRow(
        parse_store_id(_field(row, columns, "store_id")),
        parse_day(_field(row, columns, "day")),
        parse_time_of_day(_field(row, columns, "start_time_local")),
        parse_time_of_day(_field(row, columns, "end_time_local")),
    )


def parse_zone(row: Sequence[str], columns: dict[str, int]) -> ZoneRow:
    """A time-zone row as a :class:`ZoneRow`; an unknown zone is accepted here."""
    return ZoneRow(
        parse_store_id(_field(row, columns, "store_id")),
        _field(row, columns, "timezone_str").strip(),
    )
