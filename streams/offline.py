"""``storemon report``: the report computed offline from the three CSV exports."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple, TextIO
from zoneinfo import ZoneInfo

from tqdm import tqdm

from streams.core.batch import build_timelines, profiles_of, quality_of, report_rows
from streams.core.exports import SourceError, read_hours, read_polls, read_zones
from streams.core.history import (
    HISTORY_COLUMNS,
    Day,
    MonthRow,
    month_is_partial,
    month_row,
    month_span,
    parse_date,
    polled_by,
    render_monthly_csv,
    store_history,
    zone_of,
)
from streams.core.incidents import IncidentView, store_incidents
from streams.core.report import ReportRow, render_csv
from streams.core.rows import Rejection
from streams.core.schedule import OPEN_24_7
from streams.core.timestamps import US_PER_DAY, TimeBounds, format_timestamp, parse_timestamp


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
    """Read the exports and compute the report (docs/semantics.md §4) at ``as_of_us`` or
    the newest poll.

    Polls outside ``bounds`` are bad rows (docs/semantics.md §1); any ``as_of`` is answered.
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


INCIDENT_COLUMNS = ("store_id", "start", "end", "start_local", "end_local", "downtime_s")


def run_incidents(
    status: Path,
    hours: Path,
    timezones: Path,
    store_id: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    bounds: TimeBounds,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The ``storemon incidents`` command: every store's incidents (docs/semantics.md §7)
    overlapping ``[from, to)`` (default: the 7 days before the newest poll), from the same core as
    the report; returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        hours_rows, bad_hours = read_hours(hours)
        zones, bad_zones = read_zones(timezones)
        polls, bad_polls = read_polls(status, bounds)
        n_us = polls.newest_us
        hi_us = parse_timestamp(end) if end is not None else n_us
        lo_us = parse_timestamp(start) if start is not None else None
    except (SourceError, ValueError) as exc:
        print(f"storemon incidents: {exc}", file=stderr)
        return 2
    for rejection in bad_hours + bad_zones + bad_polls:
        print(rejection, file=stderr)
    if n_us is None or hi_us is None:
        print("storemon incidents: no valid poll could be read", file=stderr)
        return 1
    lo_us = lo_us if lo_us is not None else hi_us - 7 * US_PER_DAY
    profiles = profiles_of(hours_rows, zones)
    if store_id is not None:
        polls = polls.only(store_id)
    found: list[tuple[str, list[IncidentView]]] = [
        (sid, store_incidents(keys, profiles.get(sid, OPEN_24_7), n_us, lo_us, hi_us))
        for sid, keys in polls.items()
    ]
    window = {"from": format_timestamp(lo_us), "to": format_timestamp(min(hi_us, n_us))}
    if as_json:
        body = [
            {"store_id": sid, **window, "incidents": [i._asdict() for i in views]}
            for sid, views in found
        ]
        json.dump(body if store_id is None else body[0] if body else [], stdout, indent=1)
        stdout.write("\n")
    else:
        writer = csv.writer(stdout, lineterminator="\r\n")
        writer.writerow(INCIDENT_COLUMNS)
        for sid, views in found:
            for v in views:
                writer.writerow([sid, v.start or "", v.end or "", v.start_local or "",
                                 v.end_local or "", f"{v.downtime_s:.6f}"])  # fmt: skip
    return 0


class OfflineHistory(NamedTuple):
    """Every store's days (docs/semantics.md §8), computed from whole exports."""

    days: dict[str, list[Day]]
    """Each store's days, oldest first, by store id (sorted)."""
    report_time_us: int | None
    """The report time N: the newest valid poll, or the ``as_of`` given."""
    zones: dict[str, ZoneInfo]
    """The zone each store's days are counted in."""
    rejected: list[Rejection]
    """Every row that could not be used."""


def compute_history(
    status: Path,
    hours: Path,
    timezones: Path,
    bounds: TimeBounds,
    store_id: str | None = None,
    first: int | None = None,
    last: int | None = None,
    as_of_us: int | None = None,
) -> OfflineHistory:
    """Each store's days between local dates ``first`` and ``last`` (ordinals; None: from
    the first observation, to the day of N), with the same core as the report."""
    hours_rows, bad_hours = read_hours(hours)
    zones, bad_zones = read_zones(timezones)
    polls, bad_polls = read_polls(status, bounds)
    rejected = bad_hours + bad_zones + bad_polls
    n_us = as_of_us if as_of_us is not None else polls.newest_us
    if n_us is None:
        return OfflineHistory({}, None, {}, rejected)
    if store_id is not None:
        polls = polls.only(store_id)
    profiles = profiles_of(hours_rows, zones)
    found: dict[str, list[Day]] = {}
    store_zones: dict[str, ZoneInfo] = {}
    for sid, keys in sorted(polls.items()):
        if not polled_by(keys, n_us):
            continue  # no poll at or before N: no history (as no report row)
        profile = profiles.get(sid, OPEN_24_7)
        found[sid] = store_history(keys, profile, n_us, first, last)
        store_zones[sid] = zone_of(profile)
    return OfflineHistory(found, n_us, store_zones, rejected)


HISTORY_CSV_COLUMNS = ("store_id", *HISTORY_COLUMNS)


def run_history(
    status: Path,
    hours: Path,
    timezones: Path,
    store_id: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    bounds: TimeBounds,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The ``storemon history`` command: every store's daily rows (docs/semantics.md §8)
    from ``--from`` to ``--to`` (local dates, both included); returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        first = parse_date(start) if start is not None else None
        last = parse_date(end) if end is not None else None
        result = compute_history(status, hours, timezones, bounds, store_id, first, last)
    except (SourceError, ValueError) as exc:
        print(f"storemon history: {exc}", file=stderr)
        return 2
    for rejection in result.rejected:
        print(rejection, file=stderr)
    if result.report_time_us is None:
        print("storemon history: no valid poll could be read", file=stderr)
        return 1
    if as_json:
        body = [
            {"store_id": sid, "days": [day.to_json() for day in days]}
            for sid, days in result.days.items()
        ]
        json.dump(body if store_id is None else body[0] if body else [], stdout, indent=1)
        stdout.write("\n")
    else:
        writer = csv.writer(stdout, lineterminator="\r\n")
        writer.writerow(HISTORY_CSV_COLUMNS)
        for sid, days in result.days.items():
            writer.writerows([sid, *day.to_fields()] for day in days)
    return 0


class OfflineMonth(NamedTuple):
    """A monthly report computed from whole exports."""

    rows: list[MonthRow]
    """One row per store with a poll at or before N, sorted by store id."""
    partial: bool
    """Whether the month is not over at N in some store's zone."""
    report_time_us: int | None
    """The report time N."""


def compute_monthly(
    status: Path, hours: Path, timezones: Path, bounds: TimeBounds, month: str
) -> OfflineMonth:
    """The monthly report of ``month`` (``YYYY-MM``, docs/semantics.md §8.3)."""
    span = month_span(month)
    result = compute_history(status, hours, timezones, bounds, first=span[0], last=span[1])
    if result.report_time_us is None:
        return OfflineMonth([], False, None)
    rows = [month_row(sid, days, span) for sid, days in result.days.items()]
    partial = month_is_partial(span, result.report_time_us, result.zones.values())
    return OfflineMonth(rows, partial, result.report_time_us)


def run_monthly(
    status: Path,
    hours: Path,
    timezones: Path,
    month: str,
    out: Path | None,
    bounds: TimeBounds,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``storemon report --month``: the monthly report (docs/semantics.md §8.3) offline;
    returns the exit code. A partial month is said on standard error."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        result = compute_monthly(status, hours, timezones, bounds, month)
    except (SourceError, ValueError) as exc:
        print(f"storemon report: {exc}", file=stderr)
        return 2
    if result.report_time_us is None:
        print("storemon report: no valid poll could be read", file=stderr)
        return 1
    text = render_monthly_csv(result.rows)
    if out is None:
        stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    when = format_timestamp(result.report_time_us)
    state = (
        "partial (not over at the report time, or before the data)"
        if result.partial
        else "complete"
    )
    print(f"storemon report: {month}, {len(result.rows)} stores at {when}; {state}", file=stderr)
    return 0
