"""The report of SPEC §4: three windows ending at the report time, as CSV rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_HOUR

HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)
WINDOWS_US = (US_PER_HOUR, 24 * US_PER_HOUR, 168 * US_PER_HOUR)
"""The last hour, day and week."""

# Ticks (½ µs) per hundredth of the unit each column is written in.
_TICKS_PER_CENTI_MINUTE = 2 * 60 * 1_000_000 // 100
_TICKS_PER_CENTI_HOUR = 2 * 3600 * 1_000_000 // 100


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

    def to_csv(self) -> str:
        """The row as SPEC §4 writes it: minutes for the hour, hours for day and week."""
        m, h = _TICKS_PER_CENTI_MINUTE, _TICKS_PER_CENTI_HOUR
        return ",".join(
            (
                self.store_id,
                _decimal(self.uptime_hour, m),
                _decimal(self.uptime_day, h),
                _decimal(self.uptime_week, h),
                _decimal(self.downtime_hour, m),
                _decimal(self.downtime_day, h),
                _decimal(self.downtime_week, h),
            )
        )


def _decimal(ticks: int, per_hundredth: int) -> str:
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


def render_csv(rows: Iterable[ReportRow]) -> str:
    """The report as CSV text, rows sorted by store id."""
    lines = [HEADER]
    lines.extend(row.to_csv() for row in sorted(rows))
    return "\n".join(lines) + "\n"
