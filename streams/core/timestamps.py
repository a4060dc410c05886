"""Timestamps as integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from streams.core.exceptions import TimestampError, quote

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

EARLIEST_US = (datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
"""No poll is older than 2000-01-01 (docs/semantics.md §1)."""
DEFAULT_SKEW_US = 300 * US_PER_SECOND
"""How far past the moment it is read a poll may lie (a producer's clock running fast)."""


TIMESTAMP_PATTERN = (
    r"^\s*([0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))[Tt ]"
    r"((?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)"
    r"(?: ?(?:UTC|utc|Z|z)|([+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?))?\s*$"
)
"""Every timestamp accepted anywhere (CSV, topics, HTTP, ``as_of``): a date, ``T`` or a
space, ``HH:MM[:SS[.ffffff]]``, then ``UTC``, ``Z`` or an offset, or nothing (UTC). The
HTTP schema publishes this very pattern; a value that matches it and names a real
instant is accepted."""
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def parse_timestamp(text: str) -> int:
    """Parse a poll timestamp into epoch microseconds (UTC).

    Accepted (:data:`TIMESTAMP_PATTERN`): the export's ``2023-01-22 12:09:39.388884 UTC``
    and ISO 8601 with ``Z`` or an offset (``T`` or a space between date and time). A
    timestamp without any zone is read as UTC, since the column is ``timestamp_utc``.
    """
    match = _TIMESTAMP.match(text)
    if match is None:
        if re.match(r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$", text):  # a bare date
            raise TimestampError(f"timestamp {quote(text.strip())} has no time of day")
        raise TimestampError(
            f"unparseable timestamp {quote(text.strip())}: expected like "
            "'2023-01-22 12:09:39.388884 UTC' or ISO 8601 with Z or an offset"
        )
    day, clock, offset = match.groups()
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{offset or '+00:00'}")
        return (parsed - _EPOCH) // timedelta(microseconds=1)
    except ValueError:
        raise TimestampError(
            f"unparseable timestamp {quote(text.strip())}: no such date or time of day"
        ) from None
    except OverflowError:  # e.g. 0001-01-01 with a positive offset
        raise TimestampError(f"timestamp {quote(text.strip())} is out of range") from None


class TimeBounds(NamedTuple):
    """The instants a poll may have: from 2000-01-01 to the moment it is read plus the
    allowed clock skew (docs/semantics.md §1). Shells make one from the wall clock; the core never
    reads a clock itself."""

    now_us: int
    """The moment the poll is read, epoch microseconds."""
    skew_us: int = DEFAULT_SKEW_US
    """How far past ``now_us`` a poll may lie."""

    @property
    def lo_us(self) -> int:
        """The earliest allowed instant."""
        return EARLIEST_US

    @property
    def hi_us(self) -> int:
        """The latest allowed instant."""
        return self.now_us + self.skew_us

    def check(self, ts_us: int) -> int:
        """``ts_us`` if it lies within the bounds; else :class:`TimestampError` with why."""
        if ts_us > self.hi_us:
            raise TimestampError(
                f"timestamp {format_timestamp(ts_us)} is in the future: it lies after "
                f"{format_timestamp(self.hi_us)} (the time it was read plus "
                f"{self.skew_us // US_PER_SECOND} s of allowed clock skew); check the "
                "producer's clock"
            )
        if ts_us < EARLIEST_US:
            raise TimestampError(
                f"timestamp {format_timestamp(ts_us)} is before 2000-01-01: no poll is that old"
            )
        return ts_us


def format_timestamp(us: int) -> str:
    """Format epoch microseconds as ISO 8601 UTC with a ``Z`` (years 1 to 9999)."""
    try:
        return (_EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return f"{us} µs since 1970 (beyond year 9999)"


__all__ = ["TimeBounds", "TimestampError", "format_timestamp", "parse_timestamp"]
