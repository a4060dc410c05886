"""A store's page: its last 7 local days as strips (business hours shaded, up and down in
colour from the status function the report uses) and its incidents. Rendered on the
server as inline SVG; it needs nothing from the network.

The markup lives in ``api/templates/`` (``store.html``, which includes
``store_timeline.svg.html``, also served alone as the store's picture), autoescaped; this
module computes what they show. The store id and the incidents reach the markup only
through autoescaping: nothing is marked safe."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from api.page import TEMPLATES
from streams.core.history import Day as Rollup
from streams.core.history import hundredths, percent
from streams.core.incidents import IncidentView, status_spans
from streams.core.timeline import Timeline
from streams.core.timestamps import US_PER_DAY
from streams.core.zones import resolve_zone

DAYS = 7
WIDTH, STRIP, GAP, LEFT = 760, 22, 8, 96
UP, DOWN, OPEN, CLOSED, LATER = "#2ca02c", "#d62728", "#d9d9d9", "#f7f7f7", "#ffffff"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local_days(n_us: int, zone: str | None) -> list[tuple[date, int, int]]:
    """The last ``DAYS`` local dates up to the report time, each with its start and end
    (epoch µs; 23 or 25 hours across a DST change)."""
    tz = resolve_zone(zone)[0]
    today = (_EPOCH + timedelta(microseconds=n_us)).astimezone(tz).date()
    out = []
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        after = day + timedelta(days=1)
        end = datetime(after.year, after.month, after.day, tzinfo=tz)
        out.append((day, _us(start), _us(end)))
    return out


def _us(moment: datetime) -> int:
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def first_day_us(n_us: int, zone: str | None) -> int:
    """Where the picture begins (the first strip's local midnight)."""
    return local_days(n_us, zone)[0][1]


class Colors(NamedTuple):
    up: str
    down: str
    open: str
    closed: str
    later: str


COLORS = Colors(UP, DOWN, OPEN, CLOSED, LATER)


class Day(NamedTuple):
    """One strip of the picture: x positions and widths in SVG units."""

    iso: str
    label: str
    """``Mon 23 Jan``."""
    y: int
    open: list[tuple[float, float]]
    """Business hours."""
    later: tuple[float, float] | None
    """After the report time (nothing known yet), if the day reaches past it."""
    status: list[tuple[float, float, bool]]
    """Up (True) and down spans in business hours, up to the report time."""


class Strips(NamedTuple):
    """What ``store_timeline.svg.html`` draws."""

    width: int
    height: int
    left: int
    strip: int
    span_w: int
    days: list[Day]
    hours: list[tuple[float, int]]
    """The x axis: each tick's x and hour."""


def strips(timeline: Timeline, n_us: int, zone: str | None) -> Strips:
    """The picture's geometry: one strip per local day."""
    height = DAYS * (STRIP + GAP) + 30
    span_w = WIDTH - LEFT - 10
    days = []
    for row, (day, start, end) in enumerate(local_days(n_us, zone)):
        scale = span_w / (end - start)

        def x(us: int, start: int = start, scale: float = scale) -> float:
            return LEFT + (us - start) * scale

        hi = min(end, n_us)
        opens = [
            (x(a // 2), (b - a) / 2 * scale) for a, b in timeline.business_spans(2 * start, 2 * end)
        ]
        later = None
        if hi < end:
            later = (x(max(hi, start)), (end - max(hi, start)) * scale)
        status = []
        if hi > start:
            status = [
                (x(a // 2), max((b - a) / 2 * scale, 0.5), up)
                for a, b, up in status_spans(timeline, 2 * start, 2 * hi)
            ]
        y = 10 + row * (STRIP + GAP)
        days.append(Day(day.isoformat(), day.strftime("%a %d %b"), y, opens, later, status))
    hours = [(LEFT + span_w * hour / 24 - 8, hour) for hour in (0, 6, 12, 18, 24)]
    return Strips(WIDTH, height, LEFT, STRIP, span_w, days, hours)


def svg(store_id: str, timeline: Timeline, n_us: int, zone: str | None) -> str:
    """The picture: one strip per local day (``/stores/{id}.svg``; the page includes the
    same template)."""
    return TEMPLATES.get_template("store_timeline.svg.html").render(
        store_id=store_id, strips=strips(timeline, n_us, zone), colors=COLORS
    )


STRIP_DAYS = 90
"""Local days in the page's history strip (one cell each, the report time's day last)."""
SPANS = (7, 30, 90)
"""The spans, in local days up to the report time's, whose uptime the page gives."""
NO_DATA, NO_BUSINESS = "#f0f0f0", "#bdbdbd"
SCALE = ((9_990, "#2ca02c"), (9_900, "#98d27c"), (9_500, "#f2c744"), (9_000, "#f28e2b"))
"""Uptime of a day (hundredths of a percent, at least, rounded as its tooltip shows it) and
its cell's colour; below the last, red (:data:`DOWN`)."""
CELL, CELL_GAP = 7, 1


def cell_colour(day: Rollup | None) -> str:
    """A history cell's colour: by the day's uptime percentage; grey without business
    time, pale without a rollup (before the store's history)."""
    if day is None:
        return NO_DATA
    if day.business == 0:
        return NO_BUSINESS
    shown = hundredths(day.active, day.business)  # as its tooltip rounds it
    return next((colour for least, colour in SCALE if shown >= least), DOWN)


class Cell(NamedTuple):
    """One local day of the history strip."""

    x: int
    colour: str
    title: str
    """``2023-01-20: 95.20 % up of 10 h 30 min`` (its tooltip)."""


class Span(NamedTuple):
    """Uptime over the last ``days`` local days."""

    days: int
    pct: str
    """Two decimals, or ``–`` without business time."""
    since: str | None
    """The first day with a rollup, when the store's history begins inside the span."""


class Strip(NamedTuple):
    """What the page's history strip draws."""

    width: int
    height: int
    cells: list[Cell]
    first: str
    last: str
    spans: list[Span]


def history_strip(days: list[Rollup], today: int) -> Strip:
    """The last :data:`STRIP_DAYS` local days up to ``today`` (an ordinal: the report
    time's day) from the store's rollups, and its uptime over each of :data:`SPANS`."""
    by_date = {d.ordinal: d for d in days}
    first_held = min(by_date, default=None)
    cells = []
    for i, ordinal in enumerate(range(today - STRIP_DAYS + 1, today + 1)):
        day = by_date.get(ordinal)
        iso = date.fromordinal(ordinal).isoformat()
        if day is None:
            title = f"{iso}: no history"
        elif day.business == 0:
            title = f"{iso}: no business time"
        else:
            up = percent(day.active, day.business)
            title = f"{iso}: {up} % up of {_duration(day.business / 2_000_000)}"
        cells.append(Cell(i * (CELL + CELL_GAP), cell_colour(day), title))
    spans = []
    for length in SPANS:
        inside = [d for d in days if today - length < d.ordinal <= today]
        business = sum(d.business for d in inside)
        pct = percent(sum(d.active for d in inside), business) or "–"
        since = None
        if first_held is not None and first_held > today - length + 1:
            since = date.fromordinal(first_held).isoformat()
        spans.append(Span(length, pct, since))
    return Strip(
        STRIP_DAYS * (CELL + CELL_GAP),
        24,
        cells,
        date.fromordinal(today - STRIP_DAYS + 1).isoformat(),
        date.fromordinal(today).isoformat(),
        spans,
    )


def _local(iso: str | None, fallback: str) -> str:
    """``2023-01-23T10:37:07.511224-05:00`` as ``Mon 23 Jan 10:37``."""
    if iso is None:
        return fallback
    return datetime.fromisoformat(iso).strftime("%a %d %b %H:%M")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


class IncidentRow(NamedTuple):
    start: str
    """UTC, or empty."""
    start_local: str
    end: str
    end_local: str
    downtime: str


def page(
    store_id: str,
    timeline: Timeline,
    n_us: int,
    zone: str | None,
    incidents: list[IncidentView],
    history: Strip,
) -> str:
    """The whole page."""
    rows = [
        IncidentRow(
            i.start or "",
            _local(i.start_local, "before the first poll"),
            i.end or "",
            _local(i.end_local, "still down"),
            _duration(i.downtime_s),
        )
        for i in reversed(incidents)
    ]
    return TEMPLATES.get_template("store.html").render(
        store_id=store_id,
        zone_name=zone or "America/Chicago (none given)",
        when=(_EPOCH + timedelta(microseconds=n_us)).isoformat().replace("+00:00", "Z"),
        colors=COLORS,
        strips=strips(timeline, n_us, zone),
        days=DAYS,
        downtime=_duration(sum(i.downtime_s for i in incidents)),
        incidents=rows,
        history=history,
        scale=[(f"{least / 100:g} %", colour) for least, colour in SCALE],
        no_business=NO_BUSINESS,
        no_data=NO_DATA,
    )


WINDOW_US = DAYS * US_PER_DAY
"""How far back the page looks by default."""
