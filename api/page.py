"""The operator page: lag per partition over time (inline SVG), polls/s, dead letters,
recent reports. Rendered on the server; it needs nothing from the network."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from typing import Any

from api.monitor import Monitor

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
WIDTH, HEIGHT, PAD = 720, 220, 40


def lag_chart(monitor: Monitor, minutes: float = 10.0) -> str:
    """An SVG line chart of polls-topic lag per partition over the last ``minutes``."""
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

    lines = []
    for i, partition in enumerate(partitions):
        coords = " ".join(xy(p.at, p.lag_by_partition.get(partition, 0)) for p in points)
        lines.append(
            f'<polyline class="lag-line" data-partition="{partition}" fill="none" '
            f'stroke="{COLORS[i % len(COLORS)]}" stroke-width="2" points="{coords}"/>'
        )
    legend = "".join(
        f'<text x="{PAD + 70 * i}" y="{HEIGHT - 8}" fill="{COLORS[i % len(COLORS)]}" font-size="12">'
        f"p{partition}</text>"
        for i, partition in enumerate(partitions)
    )
    return (
        f'<svg class="lag-chart" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-label="consumer lag per partition">'
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" '
        'fill="#fafafa" stroke="#ccc"/>'
        f'<text x="4" y="{PAD + 4}" font-size="11">{top:,}</text>'
        f'<text x="4" y="{HEIGHT - PAD}" font-size="11">0</text>'
        f'<text x="{PAD}" y="{PAD - 8}" font-size="11">−{span / 60:.1f} min</text>'
        f'<text x="{WIDTH - PAD - 24}" y="{PAD - 8}" font-size="11">now</text>'
        + "".join(lines)
        + legend
        + "</svg>"
    )


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f} s"


def render(monitor: Monitor, reports: list[dict[str, Any]]) -> str:
    """The whole page."""
    e = html.escape
    rate = monitor.history[-1].polls_per_s if monitor.history else 0.0
    total_lag = sum(i.lag for i in monitor.lags)
    partition_rows = "".join(
        f"<tr><td>{e(i.topic)}</td><td>{i.partition}</td><td>{i.end:,}</td>"
        f"<td>{'' if i.committed is None else f'{i.committed:,}'}</td><td>{i.lag:,}</td>"
        f"<td>{e(monitor.statuses.get((i.topic, i.partition), 'OK'))}</td></tr>"
        for i in monitor.lags
    )
    letters = "".join(
        f"<tr><td>{e(str(d.get('source', '')))}</td><td>{e(str(d.get('location', '')))}</td>"
        f"<td>{e(str(d.get('reason', '')))}</td><td><code>{e(str(d.get('raw', ''))[:120])}</code></td></tr>"
        for d in reversed(list(monitor.dead_letters)[-50:])
    )
    report_rows = "".join(
        f'<tr><td><a href="/get_report?report_id={e(r["report_id"])}">{e(r["report_id"])}</a></td>'
        f"<td>{e(str(r.get('status')))}</td><td>{e(_when(r.get('requested_at')))}</td>"
        f"<td>{e(str(r.get('report_time') or ''))}</td><td>{r.get('rows') if r.get('rows') is not None else ''}</td>"
        f"<td>{_seconds(r.get('duration_s'))}</td></tr>"
        for r in reports
    )
    workers = (
        ", ".join(
            f"{e(w.worker)} ({'ready' if w.ready else 'recovering'}, partitions {w.partitions})"
            for w in monitor.fresh_workers()
        )
        or "none reporting"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>storemon — operator</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; font-size: 0.9rem; }}
td, th {{ border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; }}
.numbers span {{ display: inline-block; margin-right: 2rem; font-size: 1.2rem; }}
</style></head>
<body>
<h1>storemon</h1>
<form id="store-search"><label>Store <input id="store-id" name="store_id" placeholder="store id" required></label>
<button type="submit">Open its page</button></form>
<script>
document.getElementById("store-search").addEventListener("submit", (event) => {{
  event.preventDefault();
  location.href = "/stores/" + encodeURIComponent(document.getElementById("store-id").value.trim());
}});
</script>
<p class="numbers">
<span>status <b id="group-status">{e(monitor.group_status())}</b></span>
<span>total lag <b id="total-lag">{total_lag:,}</b></span>
<span>polls/s <b id="polls-per-s">{rate:,.0f}</b></span>
<span>dead letters <b id="dead-letters">{monitor.dead_letters_total:,}</b></span>
</p>
<p>workers: {workers}</p>
<h2>Lag per partition (polls topic), up to the last 10 minutes</h2>
{lag_chart(monitor)}
<h2>Partitions</h2>
<table id="partitions"><tr><th>topic</th><th>partition</th><th>log end</th><th>committed</th><th>lag</th><th>status</th></tr>{partition_rows}</table>
<h2>Dead letters (newest first)</h2>
<table id="dead-letter-list"><tr><th>source</th><th>where</th><th>reason</th><th>raw</th></tr>{letters}</table>
<h2>Recent reports</h2>
<table id="reports"><tr><th>report</th><th>status</th><th>requested</th><th>report time</th><th>rows</th><th>duration</th></tr>{report_rows}</table>
</body></html>
"""


LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>storemon — sign in</title>
<style>body { font-family: system-ui, sans-serif; margin: 3rem; color: #222; }
input { width: 28rem; padding: 0.4rem; } button { padding: 0.4rem 1rem; }</style></head>
<body><h1>storemon</h1>
<p>This page needs a token with the <code>metrics</code> scope (or <code>admin</code>).</p>
<form id="sign-in"><input id="token" type="password" autocomplete="off" placeholder="smt_…" required>
<button type="submit">Sign in</button></form>
<p id="problem" role="alert"></p>
<script>
document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value;
  const answer = await fetch("/session", {method: "POST", headers: {"content-type": "application/json"},
                                          body: JSON.stringify({token: token})});
  if (answer.ok) { location.reload(); return; }
  document.getElementById("problem").textContent = (await answer.json()).error;
});
</script></body></html>
"""
"""Asks for a token once; ``POST /session`` trades it for an HttpOnly session cookie."""
