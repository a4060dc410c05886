"""The core's errors, one family: each says what was wrong and what to do.

Messages quote input through :func:`quote`, so that a hostile 70 kB value is never
echoed whole into a log line, a dead letter or an HTTP answer.
"""

from __future__ import annotations

QUOTE_LIMIT = 64
"""Characters of a value kept when an error quotes it."""


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)``, cut to about ``limit`` characters with the full length said."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    shown = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    return f"{shown}… ({len(text):,} characters)"


class CoreError(ValueError):
    """Base of every error the core raises about its input."""


class TimestampError(CoreError):
    """A timestamp that cannot be read or lies out of bounds; the message says why."""


class RowError(CoreError):
    """A field that cannot be read; the message is the rejection reason."""


class HeaderError(CoreError):
    """A file whose header lacks a required column."""


class SourceError(CoreError):
    """A file that cannot be read at all (missing, no header, a required column absent)."""


class PayloadError(CoreError):
    """A message that cannot be used; the text says what was wrong."""


class AsOfError(CoreError):
    """A report time the pipeline cannot answer; the message names the span it can."""
