"""A store's page: its last 7 local days as strips (business hours shaded, up and down in
colour from the status function the report uses) and its incidents. Rendered on the
server as inline SVG; it needs nothing from the network."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, timedelta

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


def svg(store_id: str, timeline: Timeline, n_us: int, zone: str | None) -> str:
    """The picture: one strip per local day."""
    height = DAYS * (STRIP + GAP) + 30
    span_w = WIDTH - LEFT - 10
    parts = [
        f'<svg class="store-timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{html.escape(store_id)}: up and down over the last {DAYS} days">'
    ]
    for row, (day, start, end) in enumerate(local_days(n_us, zone)):
        y = 10 + row * (STRIP + GAP)
        scale = span_w / (end - start)

        def x(us: int, start: int = start, scale: float = scale) -> float:
            return LEFT + (us - start) * scale

        parts.append(
            f'<g class="day" data-day="{day.isoformat()}">'
            f'<text x="4" y="{y + 15}" font-size="12">{day.strftime("%a %d %b")}</text>'
            f'<rect x="{LEFT}" y="{y}" width="{span_w}" height="{STRIP}" fill="{CLOSED}"/>'
        )
        hi = min(end, n_us)
        for a, b in timeline.business_spans(2 * start, 2 * end):
            parts.append(
                f'<rect class="open" x="{x(a // 2):.2f}" y="{y}" width="{(b - a) / 2 * scale:.2f}" '
                f'height="{STRIP}" fill="{OPEN}"/>'
            )
        if hi < end:  # after the report time: nothing is known yet
            parts.append(
                f'<rect class="later" x="{x(max(hi, start)):.2f}" y="{y}" '
                f'width="{(end - max(hi, start)) * scale:.2f}" height="{STRIP}" fill="{LATER}" '
                'stroke="#bbb" stroke-dasharray="3,3"/>'
            )
        if hi > start:
            for a, b, up in status_spans(timeline, 2 * start, 2 * hi):
                kind = "up" if up else "down"
                parts.append(
                    f'<rect class="{kind}" x="{x(a // 2):.2f}" y="{y + 3}" '
                    f'width="{max((b - a) / 2 * scale, 0.5):.2f}" height="{STRIP - 6}" '
                    f'fill="{UP if up else DOWN}"/>'
                )
        parts.append("</g>")
    axis = height - 12
    for hour in (0, 6, 12, 18, 24):
        parts.append(
            f'<text x="{LEFT + span_w * hour / 24 - 8:.1f}" y="{axis}" font-size="11">'
            f"{hour:02d}h</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _local(iso: str | None, fallback: str) -> str:
    """``2023-01-23T10:37:07.511224-05:00`` as ``Mon 23 Jan 10:37``."""
    if iso is None:
        return fallback
    return datetime.fromisoformat(iso).strftime("%a %d %b %H:%M")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def page(
    store_id: str,
    timeline: Timeline,
    n_us: int,
    zone: str | None,
    incidents: list[IncidentView],
) -> str:
    """The whole page."""
    e = html.escape
    rows = "".join(
        f'<tr class="incident"><td title="{e(i.start or "")}">{e(_local(i.start_local, "before the first poll"))}</td>'
        f'<td title="{e(i.end or "")}">{e(_local(i.end_local, "still down"))}</td><td>{_duration(i.downtime_s)}</td></tr>'
        for i in reversed(incidents)
    )
    total = sum(i.downtime_s for i in incidents)
    zone_name = e(zone or "America/Chicago (none given)")
    when = (_EPOCH + timedelta(microseconds=n_us)).isoformat().replace("+00:00", "Z")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>storemon — store {e(store_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
td, th {{ border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; }}
.key span {{ display: inline-block; width: 0.9rem; height: 0.9rem; vertical-align: middle; }}
</style></head>
<body>
<p><a href="/">← operator page</a></p>
<h1>Store <span id="store-id">{e(store_id)}</span></h1>
<p>Time zone {zone_name}; report time {e(when)}.
<span class="key"><span style="background:{UP}"></span> up
<span style="background:{DOWN}"></span> down <span style="background:{OPEN}"></span> open,
no status yet <span style="background:{CLOSED};border:1px solid #ccc"></span> closed
<span style="background:{LATER};border:1px dashed #bbb"></span> after the report time</span></p>
{svg(store_id, timeline, n_us, zone)}
<h2>Incidents, last {DAYS} days: <span id="downtime">{_duration(total)}</span> of downtime</h2>
<table id="incidents"><tr><th>down from (local)</th><th>up again (local)</th><th>downtime in business hours</th></tr>{rows}</table>
</body></html>
"""


WINDOW_US = DAYS * US_PER_DAY
"""How far back the page looks by default."""
