"""The report of docs/semantics.md §4: three windows ending at the report time, as CSV rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from streams.core.exceptions import AsOfError
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY, US_PER_HOUR, TimeBounds, format_timestamp

COLUMNS = (
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)
"""The report's header (docs/semantics.md §4)."""
WINDOWS_US = (US_PER_HOUR, 24 * US_PER_HOUR, 168 * US_PER_HOUR)
"""The last hour, day and week."""

AS_OF_REACH_US = 7 * US_PER_DAY
"""How far before the default report time a pipeline report may be asked for (docs/semantics.md §4:
the pipeline keeps 14 days, and a week window needs a week before its report time)."""

# Ticks (½ µs) per hundredth of the unit each column is written in.
TICKS_PER_CENTI_MINUTE = 2 * 60 * 1_000_000 // 100
TICKS_PER_CENTI_HOUR = 2 * 3600 * 1_000_000 // 100


class ReportRow(NamedTuple):
    """One store's uptime and downtime per window, exact, in ticks (½ µs)."""

    store_id: str
    """The store."""
    uptime_hour: int
    """Active business time in the last hour."""
    uptime_day: int
    """Active business time in the last day."""
    uptime_week: int
    """Active business time in the last week."""
    downtime_hour: int
    """Inactive business time in the last hour."""
    downtime_day: int
    """Inactive business time in the last day."""
    downtime_week: int
    """Inactive business time in the last week."""

    def to_fields(self) -> list[str]:
        """The row's fields as docs/semantics.md §4 writes them: minutes for the hour, hours
        for day and week, each rounded half up to two decimals."""
        m, h = TICKS_PER_CENTI_MINUTE, TICKS_PER_CENTI_HOUR
        return [
            self.store_id,
            two_decimals(self.uptime_hour, m),
            two_decimals(self.uptime_day, h),
            two_decimals(self.uptime_week, h),
            two_decimals(self.downtime_hour, m),
            two_decimals(self.downtime_day, h),
            two_decimals(self.downtime_week, h),
        ]


def two_decimals(ticks: int, per_hundredth: int) -> str:
    """``ticks / (100 · per_hundredth)`` rounded half up to two decimals, exactly."""
    hundredths = (2 * ticks + per_hundredth) // (2 * per_hundredth)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def store_row(store_id: str, timeline: Timeline, n_us: int) -> ReportRow | None:
    """The store's row at report time ``n_us``, or None when it has no poll at or before it."""
    if timeline.first_poll_us is None or timeline.first_poll_us > n_us:
        return None
    ups: list[int] = []
    downs: list[int] = []
    for width in WINDOWS_US:
        measure = timeline.measure(n_us, width)
        if measure is None:  # polls, but none inside business hours: 0 everywhere
            return ReportRow(store_id, 0, 0, 0, 0, 0, 0)
        ups.append(measure.active)
        downs.append(measure.business - measure.active)
    return ReportRow(store_id, *ups, *downs)


class Writable(Protocol):
    """Where CSV text goes (a file or a buffer)."""

    def write(self, text: str, /) -> object:
        """Write ``text``."""


def write_csv(
    out: Writable, rows: Iterable[Sequence[str]], columns: Sequence[str] = COLUMNS
) -> int:
    """The report as RFC 4180 CSV, by the ``csv`` module: the header (``columns``; the
    monthly report has its own), then ``rows`` (fields as :meth:`ReportRow.to_fields`
    gives them, already sorted). Returns the rows written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for fields in rows:
        writer.writerow(fields)
        count += 1
    return count


def render_csv(rows: Iterable[ReportRow]) -> str:
    """The report as CSV text, rows sorted by store id."""
    buffer = io.StringIO()
    write_csv(buffer, (row.to_fields() for row in sorted(rows)))
    return buffer.getvalue()


def check_as_of(as_of_us: int, default_n_us: int | None, bounds: TimeBounds) -> int:
    """``as_of_us`` if the pipeline can answer it: within ``[default N − 7 days, now +
    skew]`` (docs/semantics.md §4); else :class:`AsOfError` naming that span."""
    lo = default_n_us - AS_OF_REACH_US if default_n_us is not None else bounds.lo_us
    hi = bounds.hi_us
    if lo <= as_of_us <= hi:
        return as_of_us
    raise AsOfError(
        f"as_of {format_timestamp(as_of_us)} is outside what the pipeline can answer: from "
        f"{format_timestamp(lo)} (7 days before the newest poll) to {format_timestamp(hi)} "
        "(now plus the allowed clock skew); the offline `storemon report` answers any as_of"
    )
