"""The operator page: lag per partition over time (inline SVG), polls/s, dead letters,
recent reports. Rendered on the server; it needs nothing from the network.

The markup lives in ``api/templates/`` (Jinja2, autoescaped); this module only gathers
and computes what the templates show. The SVG charts are templates too
(``*.svg.html``: SVG markup, named to match the package data's ``templates/*.html``):
the code computes their coordinates, the templates write the elements. Every value
reaches the markup through autoescaping and nothing is marked safe, so store ids,
topics, dead letters, report ids and errors are always escaped.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import jinja2

from api.monitor import Monitor


def _thousands(value: float, decimals: int | None = None) -> str:
    """``1234567`` as ``1,234,567``; with ``decimals``, a float rounded to that many."""
    return f"{value:,}" if decimals is None else f"{value:,.{decimals}f}"


def _fixed(value: float, decimals: int) -> str:
    """A coordinate with a fixed number of decimals."""
    return f"{value:.{decimals}f}"


TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,  # a misspelt name fails loudly, never renders empty
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
"""The pages' templates (the store page's too)."""
TEMPLATES.filters["thousands"] = _thousands
TEMPLATES.filters["fixed"] = _fixed

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
WIDTH, HEIGHT, PAD = 720, 220, 40


class Line(NamedTuple):
    """One partition's line on the chart."""

    partition: int
    color: str
    points: str
    """``x,y x,y …``, computed numbers."""


class Chart(NamedTuple):
    """What ``lag_chart.svg.html`` draws."""

    width: int
    height: int
    pad: int
    top: int
    """The largest lag shown (the top of the y axis)."""
    span_min: float
    """How far back the x axis reaches, in minutes."""
    lines: list[Line]


def chart(monitor: Monitor, minutes: float = 10.0) -> Chart:
    """The chart of polls-topic lag per partition over the last ``minutes``."""
    now = time.time()
    points = [p for p in monitor.history if now - p.at <= minutes * 60]
    partitions = sorted({q for p in points for q in p.lag_by_partition})
    top = max((v for p in points for v in p.lag_by_partition.values()), default=0) or 1
    # Show what there is: at least a minute, at most ``minutes``.
    span = min(minutes * 60, max(60.0, now - points[0].at if points else 0.0))

    def xy(at: float, value: int) -> str:
        x = PAD + (WIDTH - 2 * PAD) * (1 - (now - at) / span)
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top
        return f"{x:.1f},{y:.1f}"

    lines = [
        Line(
            partition,
            COLORS[i % len(COLORS)],
            " ".join(xy(p.at, p.lag_by_partition.get(partition, 0)) for p in points),
        )
        for i, partition in enumerate(partitions)
    ]
    return Chart(WIDTH, HEIGHT, PAD, top, span / 60, lines)


def lag_chart(monitor: Monitor, minutes: float = 10.0) -> str:
    """An SVG line chart of polls-topic lag per partition over the last ``minutes``."""
    return TEMPLATES.get_template("lag_chart.svg.html").render(chart=chart(monitor, minutes))


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f} s"


class PartitionRow(NamedTuple):
    topic: str
    partition: int
    end: int
    committed: int | None
    lag: int
    status: str


class LetterRow(NamedTuple):
    source: str
    location: str
    reason: str
    raw: str
    """The first 120 characters."""


class ReportRow(NamedTuple):
    report_id: str
    status: str
    requested: str
    report_time: str
    rows: str
    duration: str


def _report(record: dict[str, Any]) -> ReportRow:
    rows = record.get("rows")
    return ReportRow(
        report_id=str(record["report_id"]),
        status=str(record.get("status")),
        requested=_when(record.get("requested_at")),
        report_time=str(record.get("report_time") or ""),
        rows="" if rows is None else str(rows),
        duration=_seconds(record.get("duration_s")),
    )


def render(monitor: Monitor, reports: list[dict[str, Any]]) -> str:
    """The whole page."""
    partitions = [
        PartitionRow(
            i.topic,
            i.partition,
            i.end,
            i.committed,
            i.lag,
            monitor.statuses.get((i.topic, i.partition), "OK"),
        )
        for i in monitor.lags
    ]
    letters = [
        LetterRow(
            str(d.get("source", "")),
            str(d.get("location", "")),
            str(d.get("reason", "")),
            str(d.get("raw", ""))[:120],
        )
        for d in reversed(list(monitor.dead_letters)[-50:])
    ]
    return TEMPLATES.get_template("operator.html").render(
        group_status=monitor.group_status(),
        total_lag=sum(i.lag for i in monitor.lags),
        polls_per_s=monitor.history[-1].polls_per_s if monitor.history else 0.0,
        dead_letters_total=monitor.dead_letters_total,
        workers=monitor.fresh_workers(),
        chart=chart(monitor),
        partitions=partitions,
        stalls=monitor.stalled(),
        dead_letters=letters,
        reports=[_report(r) for r in reports],
    )


LOGIN = TEMPLATES.get_template("login.html").render()
"""Asks for a token once; ``POST /session`` trades it for an HttpOnly session cookie."""
