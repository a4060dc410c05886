"""``storemon report``: the report computed offline from the three CSV exports."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NamedTuple, TextIO

from tqdm import tqdm

from streams.core.batch import build_timelines, profiles_of, quality_of, report_rows
from streams.core.exports import SourceError, read_hours, read_polls, read_zones
from streams.core.report import ReportRow, render_csv
from streams.core.rows import Rejection
from streams.core.timestamps import TimeBounds, format_timestamp, parse_timestamp


class OfflineReport(NamedTuple):
    """What one offline run produced."""

    rows: list[ReportRow]
    """The report rows, sorted by store id."""
    report_time_us: int | None
    """The report time N, or None when there was no valid poll and no ``as_of``."""
    rejected: list[Rejection]
    """Every row that could not be used, in file order per source."""
    invalid_zones: list[str]
    """Stores whose time zone name is not an IANA zone."""


def compute_offline(
    status: Path,
    hours: Path,
    timezones: Path,
    bounds: TimeBounds,
    as_of_us: int | None = None,
    store_id: str | None = None,
    progress: bool = False,
) -> OfflineReport:
    """Read the exports and compute the report (SPEC §4) at ``as_of_us`` or the newest poll.

    Polls outside ``bounds`` are bad rows (SPEC §1); any ``as_of`` is answered.
    """
    steps = ["read hours", "read time zones", "read polls", "build timelines", "report"]
    bar = tqdm(
        steps, desc="report", unit="step", disable=not progress, file=sys.stderr, leave=False
    )
    with bar:
        hours_rows, rejected_hours = read_hours(hours)
        bar.update()
        zones, rejected_zones = read_zones(timezones)
        bar.update()
        polls, rejected_polls = read_polls(status, bounds)
        bar.update()
        profiles = profiles_of(hours_rows, zones)
        n_us = as_of_us if as_of_us is not None else polls.newest_us
        rows: list[ReportRow] = []
        if n_us is not None:
            if store_id is not None:
                polls = polls.only(store_id)
            timelines = build_timelines(polls, profiles, n_us)
            bar.update()
            rows = report_rows(timelines, n_us)
        bar.update()
    return OfflineReport(
        rows,
        n_us,
        rejected_hours + rejected_zones + rejected_polls,
        quality_of(profiles).invalid_zones,
    )


def run(
    status: Path,
    hours: Path,
    timezones: Path,
    as_of: str | None,
    store_id: str | None,
    out: Path | None,
    bounds: TimeBounds,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The ``storemon report`` command; returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    started = time.perf_counter()
    try:
        as_of_us = parse_timestamp(as_of) if as_of is not None else None
        result = compute_offline(
            status, hours, timezones, bounds, as_of_us, store_id, progress=stderr.isatty()
        )
    except (SourceError, ValueError) as exc:
        print(f"storemon report: {exc}", file=stderr)
        return 2
    for rejection in result.rejected:
        print(rejection, file=stderr)
    text = render_csv(result.rows)
    if out is None:
        stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    if result.report_time_us is None and result.rejected:
        print("storemon report: no valid poll could be read; see the reasons above", file=stderr)
        return 1
    when = format_timestamp(result.report_time_us) if result.report_time_us is not None else "none"
    print(
        f"storemon report: {len(result.rows)} stores at {when}; "
        f"{len(result.rejected)} rows rejected; "
        f"{len(result.invalid_zones)} invalid time zones (America/Chicago used); "
        f"{time.perf_counter() - started:.2f} s",
        file=stderr,
    )
    return 0
