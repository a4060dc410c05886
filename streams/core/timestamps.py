"""Timestamps as integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

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
"""No poll is older than 2000-01-01 (SPEC §1)."""
DEFAULT_SKEW_US = 300 * US_PER_SECOND
"""How far past the moment it is read a poll may lie (a producer's clock running fast)."""


def parse_timestamp(text: str) -> int:
    """Parse a poll timestamp into epoch microseconds (UTC).

    Accepted: the export's ``2023-01-22 12:09:39.388884 UTC`` and ISO 8601 with ``Z`` or
    an offset (``T`` or a space between date and time). A timestamp without any zone is
    read as UTC, since the column is ``timestamp_utc``.
    """
    raw = text.strip()
    value = raw
    if value.endswith(" UTC") or value.endswith(" utc"):
        value = value[:-4].rstrip()
    elif value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimestampError(
            f"unparseable timestamp {quote(raw)}: expected like '2023-01-22 12:09:39.388884 UTC' "
            "or ISO 8601 with Z or an offset"
        ) from None
    if len(value) < 16:  # a bare date such as '2023-01-22' is not an instant
        raise TimestampError(f"timestamp {quote(raw)} has no time of day")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return (parsed - _EPOCH) // timedelta(microseconds=1)
    except OverflowError:  # e.g. 0001-01-01 with a positive offset
        raise TimestampError(f"timestamp {quote(raw)} is out of range") from None


class TimeBounds(NamedTuple):
    """The instants a poll may have: from 2000-01-01 to the moment it is read plus the
    allowed clock skew (SPEC §1). Shells make one from the wall clock; the core never
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
