"""The operator page and the store page, rendered from their templates without Kafka:
hostile text (dead letters, topics, workers, report ids, store ids) comes out escaped,
never as markup, and the pages keep the structure the browser tests read."""

from __future__ import annotations

import asyncio
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import numpy as np

from api import page, storepage
from api.monitor import Monitor, Point
from api.reportfiles import FolderFiles
from api.reportstore import ReportStore
from streams.core.history import Day as Rollup
from streams.core.history import store_history
from streams.core.incidents import IncidentView, store_incidents, timeline_for
from streams.core.protocol import WorkerStats
from streams.core.rows import parse_time_of_day
from streams.core.schedule import Profile
from streams.core.timestamps import US_PER_DAY, parse_timestamp
from streams.lag import PartitionLag
from streams.settings import Settings

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
"""Closes an attribute and opens an element, were it not escaped."""
TOPIC = 'polls<"&'
STORE = "st\"o<re>&'1"


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str, **attrs: str) -> list[Node]:
        """The descendants with that tag and those attributes (``class_`` for class)."""
        want = {k.rstrip("_"): v for k, v in attrs.items()}
        found = []
        for child in self.children:
            if child.tag == tag and all(child.attrs.get(k) == v for k, v in want.items()):
                found.append(child)
            found.extend(child.all(tag, **attrs))
        return found

    def one(self, tag: str, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def texts(self) -> str:
        return self.text + "".join(c.texts() for c in self.children)


class _Dom(HTMLParser):
    """Just enough of a DOM: what the browser would make of the page's tags and text."""

    VOID: ClassVar[set[str]] = {"meta", "input", "br", "img", "link", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, (self.stack[-1].tag, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text += data


def dom(text: str) -> Node:
    parser = _Dom()
    parser.feed(text)
    parser.close()
    assert parser.stack == [parser.root], "an element was left open"
    return parser.root


def _stats(name: str, partitions: list[int], ready: bool) -> WorkerStats:
    return WorkerStats(
        worker=name, sent_at=time.time(), ready=ready, partitions=partitions, polls_processed=0,
        messages_processed=0, messages_rejected=0, newest_processed_us={}, table_keys={},
    )  # fmt: skip


def _monitor() -> Monitor:
    monitor = Monitor(Settings(partitions=4))
    monitor.lags = [PartitionLag(TOPIC, p, 1000 * (p + 1), 500 if p else None) for p in range(4)]
    monitor.statuses = {(TOPIC, 0): "STALL"}
    now = time.time()
    for k in range(30):
        lags = {p: (k * (p + 1) * 17) % 900 for p in range(4)}
        monitor.history.append(Point(now - 290 + 10 * k, lags, 1234.4))
    monitor.workers = {"w": _stats("<b>w1</b>", [0, 1], True), "v": _stats("w2", [2, 3], False)}
    monitor.dead_letters.append(
        {"source": BREAKOUT, "location": "line <2>", "reason": SCRIPT, "raw": "a<" * 100}
    )
    monitor.dead_letters.append({"source": "polls.csv", "location": "line 3", "reason": "ok"})
    monitor.dead_letters_total = 12345
    return monitor


def _reports(tmp_path: Path) -> list[dict[str, object]]:
    store = ReportStore(FolderFiles(tmp_path))
    done, failed = store.new_id(), store.new_id()

    async def make() -> None:
        await store.create(done)
        await store.complete(done, [["s", "1.00", "2.00", "3.00", "0.00", "0.00", "0.00"]])
        await store.create(failed)
        await store.fail(failed, SCRIPT)

    asyncio.run(make())
    # Ids are checked on the way in; the page must not rely on it.
    hostile = {"report_id": 'x"<y>&', "status": SCRIPT, "report_time": BREAKOUT}
    return [*store.recent(), hostile]


def test_the_operator_page_escapes_every_text_it_shows(tmp_path: Path) -> None:
    reports = _reports(tmp_path)
    html = page.render(_monitor(), reports)
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own (the store search), nothing else
    for raw in ("<img", 'x"<y>', "<b>w1</b>", "a<a<"):
        assert raw not in html
    root = dom(html)
    assert root.all("img") == []
    letters = root.one("table", id="dead-letter-list").all("tr")[1:]
    assert [c.texts() for c in letters[1].all("td")] == [BREAKOUT, "line <2>", SCRIPT, "a<" * 60]
    assert [c.texts() for c in letters[0].all("td")] == ["polls.csv", "line 3", "ok", ""]
    workers = next(p.texts() for p in root.all("p") if p.texts().startswith("workers:"))
    assert (
        workers
        == "workers: <b>w1</b> (ready, partitions [0, 1]), w2 (recovering, partitions [2, 3])"
    )
    links = [a.attrs["href"] for a in root.one("table", id="reports").all("a")]
    assert links == [f"/get_report?report_id={quote(str(r['report_id']))}" for r in reports]
    last = root.one("table", id="reports").all("tr")[-1]
    assert [c.texts() for c in last.all("td")][:4] == ['x"<y>&', SCRIPT, "", BREAKOUT]


def test_the_operator_page_has_its_numbers_table_and_chart(tmp_path: Path) -> None:
    root = dom(page.render(_monitor(), _reports(tmp_path)))
    assert root.one("b", id="group-status").texts() == "STALL"
    assert root.one("b", id="total-lag").texts() == "8,500"  # 1000 + 1500 + 2500 + 3500
    assert root.one("b", id="polls-per-s").texts() == "1,234"
    assert root.one("b", id="dead-letters").texts() == "12,345"
    rows = root.one("table", id="partitions").all("tr")
    assert [c.texts() for c in rows[0].all("th")] == [
        "topic", "partition", "log end", "committed", "lag", "status",
    ]  # fmt: skip
    assert [[c.texts() for c in r.all("td")] for r in rows[1:3]] == [
        [TOPIC, "0", "1,000", "", "1,000", "STALL"],
        [TOPIC, "1", "2,000", "500", "1,500", "OK"],
    ]
    assert len(rows) == 5
    chart = root.one("svg", class_="lag-chart")
    lines = chart.all("polyline", class_="lag-line")
    assert [line.attrs["data-partition"] for line in lines] == ["0", "1", "2", "3"]
    for line in lines:
        points = line.attrs["points"].split()
        assert len(points) == 30
        assert all(re.fullmatch(r"\d+\.\d,\d+\.\d", p) for p in points)
    assert [t.texts() for t in chart.all("text")][-4:] == ["p0", "p1", "p2", "p3"]
    assert len(root.one("table", id="reports").all("tr")) == 4


def test_the_operator_page_with_nothing_yet() -> None:
    root = dom(page.render(Monitor(Settings(partitions=4)), []))
    assert root.one("b", id="total-lag").texts() == "0"
    assert root.one("svg", class_="lag-chart").all("polyline") == []
    assert len(root.one("table", id="partitions").all("tr")) == 1
    assert any(p.texts() == "workers: none reporting" for p in root.all("p"))


N_US = parse_timestamp("2023-01-24T13:37:07Z")


def _store(store_id: str) -> tuple[str, str]:
    t0 = parse_timestamp("2023-01-15T00:00:00Z")
    rng = np.random.default_rng(7)
    keys = np.sort(rng.integers(t0, t0 + 10 * US_PER_DAY, 300)) * 2 + (rng.random(300) < 0.7)
    keys = np.array(keys, dtype=np.int64)
    nine, half_five = parse_time_of_day("09:00"), parse_time_of_day("17:30")
    profile = Profile(tuple((d, nine, half_five) for d in range(5)), "America/New_York")
    n_us = N_US
    timeline = timeline_for(keys, profile, storepage.first_day_us(n_us, profile.zone), n_us)
    found = store_incidents(keys, profile, n_us, n_us - storepage.WINDOW_US, n_us)
    found.append(IncidentView(None, None, None, None, 3723.0))
    assert len(found) > 2
    strip = storepage.history_strip(store_history(keys, profile, n_us), TODAY)
    return (
        storepage.page(store_id, timeline, n_us, profile.zone, found, strip),
        storepage.svg(store_id, timeline, n_us, profile.zone),
    )


TODAY = date(2023, 1, 24).toordinal()
"""The local day of the report time of :func:`_store` (New York)."""


def test_the_store_page_has_a_90_day_strip_and_its_uptime() -> None:
    root = dom(_store("store-1")[0])
    cells = root.one("svg", id="history").all("rect", class_="cell")
    assert len(cells) == 90
    titles = [c.one("title").texts() for c in cells]
    assert titles[-1].startswith("2023-01-24: ")
    # The store's history begins on Monday 16 January (§3: its first observation); the
    # weekend has no business time.
    assert titles[-10] == "2023-01-15: no history"
    assert cells[-10].attrs["fill"] == storepage.NO_DATA
    assert titles[-4] == "2023-01-21: no business time"
    assert cells[-4].attrs["fill"] == storepage.NO_BUSINESS
    assert re.fullmatch(r"2023-01-23: \d+\.\d\d % up of 8 h 30 min", titles[-2])
    # Uptime over 7, 30 and 90 local days: the days' rollups summed, then rounded once.
    t0 = parse_timestamp("2023-01-15T00:00:00Z")
    rng = np.random.default_rng(7)
    keys = np.sort(rng.integers(t0, t0 + 10 * US_PER_DAY, 300)) * 2 + (rng.random(300) < 0.7)
    nine, half_five = parse_time_of_day("09:00"), parse_time_of_day("17:30")
    profile = Profile(tuple((d, nine, half_five) for d in range(5)), "America/New_York")
    days = store_history(np.array(keys, dtype=np.int64), profile, N_US)
    spans = {s.attrs["data-days"]: s for s in root.one("p", id="uptime").all("span")}
    week = [d for d in days if d.ordinal > TODAY - 7]
    up, business = sum(d.active for d in week), sum(d.business for d in week)
    assert spans["7"].one("b").texts() == f"{100 * up / business:.2f} %"
    assert "since" not in spans["7"].texts()
    everything = sum(d.active for d in days) / sum(d.business for d in days)
    for span in ("30", "90"):
        assert spans[span].one("b").texts() == f"{100 * everything:.2f} %"
        assert "(since 2023-01-16)" in spans[span].texts()


def test_history_cells_are_coloured_by_uptime() -> None:
    def colour(active: int, business: int) -> str:
        return storepage.cell_colour(Rollup(1, business, active, True))

    assert colour(1000, 1000) == colour(9990, 10_000) == "#2ca02c"
    assert colour(9989, 10_000) == colour(99, 100) == "#98d27c"
    assert colour(19_979, 20_000) == "#2ca02c"  # 99.895 %: shown as 99.90, coloured so
    assert colour(95, 100) == "#f2c744"
    assert colour(90, 100) == "#f28e2b"
    assert colour(89, 100) == storepage.DOWN
    assert colour(0, 0) == storepage.NO_BUSINESS
    assert storepage.cell_colour(None) == storepage.NO_DATA


def test_the_store_page_escapes_the_store_id() -> None:
    html, _ = _store(STORE)
    assert "<re>" not in html
    assert 'st"o' not in html
    assert "st&#34;o&lt;re&gt;&amp;&#39;1" in html
    root = dom(html)
    assert root.one("span", id="store-id").texts() == STORE
    assert root.one("head").one("title").texts() == f"storemon — store {STORE}"
    picture = root.one("svg", class_="store-timeline")
    assert picture.attrs["aria-label"] == f"{STORE}: up and down over the last 7 days"


def test_the_store_page_has_its_strips_and_incidents() -> None:
    root = dom(_store("store-1")[0])
    days = root.all("g", class_="day")
    assert [d.attrs["data-day"] for d in days] == [f"2023-01-{d}" for d in range(18, 25)]
    assert days[0].all("text")[0].texts() == "Wed 18 Jan"
    assert days[0].all("rect", class_="open")[0].attrs["x"] == "341.25"  # 09:00
    assert len(days[-1].all("rect", class_="later")) == 1  # the report time is mid-day
    assert root.all("rect", class_="up")
    assert root.all("rect", class_="down")
    incidents = root.one("table", id="incidents").all("tr", class_="incident")
    assert [c.texts() for c in incidents[0].all("td")] == [
        "before the first poll", "still down", "1 h 02 min",
    ]  # fmt: skip
    assert all(re.fullmatch(r"\d+ h \d\d min", r.all("td")[2].texts()) for r in incidents)
    assert re.fullmatch(r"\d+ h \d\d min", root.one("span", id="downtime").texts())


def test_the_store_picture_alone_is_well_formed_svg() -> None:
    _, picture = _store(STORE)
    svg = ET.fromstring(picture)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.attrib["aria-label"] == f"{STORE}: up and down over the last 7 days"
    assert len(svg.findall("{http://www.w3.org/2000/svg}g")) == 7


def test_the_sign_in_page() -> None:
    root = dom(page.LOGIN)
    assert root.one("form", id="sign-in").one("input", id="token").attrs["type"] == "password"


def test_nothing_is_marked_safe() -> None:
    folder = Path(page.__file__).with_name("templates")
    for path in sorted(folder.iterdir()):
        text = path.read_text()
        assert not re.search(r"\|\s*safe|autoescape\s+false|Markup", text), path.name
    for module in (page, storepage):
        assert "Markup" not in Path(str(module.__file__)).read_text(), module.__name__
