"""Timestamps as integer microseconds since the Unix epoch, UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class TimestampError(ValueError):
    """A timestamp that cannot be read; the message says what is accepted."""


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
            f"unparseable timestamp {raw!r}: expected like '2023-01-22 12:09:39.388884 UTC' "
            "or ISO 8601 with Z or an offset"
        ) from None
    if len(value) < 16:  # a bare date such as '2023-01-22' is not an instant
        raise TimestampError(f"timestamp {raw!r} has no time of day")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(microseconds=1)


def format_timestamp(us: int) -> str:
    """Format epoch microseconds as ISO 8601 UTC with a ``Z``."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")
