"""Benchmark of the streaming pipeline on a real local Kafka: ``python -m bench.pipeline``.

In one run, on this machine:

- the offline ``storemon report`` of the full-scale set (the batch baseline);
- the loop-2023 sample and the full-scale set replayed into one worker: replay polls/s,
  replay start → zero lag; then 20 reports (trigger → Complete), each checked row by row
  against the offline report; freshness of 50 polls sent one by one while idle; the
  worker's peak RSS, its RocksDB size, and the changelog bytes written per poll;
- the full-scale set into two workers: replay start → zero lag.

Writes the ``pipeline`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import OUT, arguments, full_scale, machine, run_measured, write_section
from replay.producer import replay
from replay.sample import LOOP_2023
from storemon.localkafka import LocalKafka
from storemon.processes import Supervisor, take_report, take_report_at
from streams.core.payloads import encode_poll
from streams.core.timestamps import format_timestamp, parse_timestamp
from streams.lag import wait_caught_up
from streams.offline import compute_offline
from streams.settings import ROOT, Settings
from streams.topics import topics_for

PORT = 29092
REPORTS = 20
FRESHNESS = 50
TARGETS = {
    "rate": 150_000,  # issue 19 (issue 9 asked 100,000, issue 5 50,000)
    "p50": 0.1,  # issue 19 (issue 9 asked 0.5 s)
    "speedup": 40,  # issue 19: report p50 against the offline report
    "p99": 1.0,
    "fresh_p99": 1.0,
    "rss": 1024**3,
    "changelog": 256,
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _size(path: Path, pattern: str = "*") -> int:
    return sum(f.stat().st_size for f in path.rglob(pattern) if f.is_file())


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def _send_one(settings: Settings, store_id: str, stamp: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        value = encode_poll(store_id, "active", stamp)
        await producer.send_and_wait(topics_for(settings).polls.name, value, key=store_id.encode())
    finally:
        await producer.stop()


def _freshness(url: str, settings: Settings, store_id: str, newest_us: int) -> list[float]:
    """Seconds from a poll's acknowledged send to a report whose report time is that poll."""
    out = []
    for i in range(FRESHNESS):
        stamp = format_timestamp(newest_us + (i + 1) * 60_000_000)
        asyncio.run(_send_one(settings, store_id, stamp))
        sent = time.perf_counter()
        while True:
            _id, _text, at = take_report_at(url, store_id=store_id)
            if at and parse_timestamp(at) >= parse_timestamp(stamp):
                break
        out.append(time.perf_counter() - sent)
    return out


def _run(
    name: str, files: dict[str, Path], kafka: LocalKafka, workers: int, full: bool
) -> dict[str, Any]:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    folder = OUT / "pipeline" / f"{name}-{workers}w"
    shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(
        bootstrap_servers=kafka.settings.bootstrap_servers, app_id=tag, topic_prefix=tag,
        reports_dir=folder / "reports", data_dir=folder / "worker",
    )  # fmt: skip
    procs = Supervisor(settings, folder)
    result: dict[str, Any] = {"name": name, "workers": workers}
    try:
        names = [f"worker-{i + 1}" for i in range(workers)]
        for w in names:
            procs.worker(w)
        url = procs.api()
        for w in names:
            procs.wait_worker_ready(w)
        started = time.perf_counter()
        summary = asyncio.run(replay(settings, files["status"], files["hours"], files["timezones"]))
        assert wait_caught_up(settings, timeout_s=1800), f"{name}: the workers did not catch up"
        result["to_zero_lag"] = time.perf_counter() - started
        result["polls"] = summary.polls
        result["replay_rate"] = summary.polls_per_s
        result["end_to_end_rate"] = summary.polls / result["to_zero_lag"]
        print(
            f"{name}, {workers} worker(s): {summary}; zero lag after {result['to_zero_lag']:.1f} s",
            flush=True,
        )
        if not full:
            return result
        offline = compute_offline(
            files["status"], files["hours"], files["timezones"], settings.time_bounds()
        )
        expected = {",".join(row.to_fields()) for row in offline.rows}
        latencies = []
        for _ in range(REPORTS):
            t0 = time.perf_counter()
            _id, text = take_report(url)
            latencies.append(time.perf_counter() - t0)
            lines = text.splitlines()[1:]
            assert len(lines) == len(expected), (
                f"{name}: {len(lines)} rows, offline {len(expected)}"
            )
            assert set(lines) == expected, f"{name}: the report differs from the offline one"
        result["rows"] = len(expected)
        result["duplicates"] = _duplicated_instants(files["status"])
        result["report_p50"] = statistics.median(latencies)
        result["report_p99"] = _percentile(latencies, 0.99)
        result["first_report"] = latencies[0]
        assert offline.report_time_us is not None
        fresh = _freshness(url, settings, offline.rows[0].store_id, offline.report_time_us)
        result["fresh_p50"] = statistics.median(fresh)
        result["fresh_p99"] = _percentile(fresh, 0.99)
        result["rss"] = max(_peak_rss(procs.processes[w].pid) for w in names)
        result["rocksdb"] = sum(_size(folder / w) for w in names)
        # Segment files only: Kafka preallocates index files (10 MiB each, sparse).
        changelog = sum(_size(d, "*.log") for d in kafka.data.glob(f"{tag}-polls-changelog-*"))
        result["changelog_per_poll"] = changelog / summary.polls
        print(
            f"  reports p50 {result['report_p50']:.3f} s p99 {result['report_p99']:.3f} s; freshness p50 "
            f"{result['fresh_p50']:.3f} s p99 {result['fresh_p99']:.3f} s; RSS {result['rss'] / 2**20:.0f} MiB; "
            f"RocksDB {result['rocksdb'] / 2**20:.0f} MiB; changelog {result['changelog_per_poll']:.1f} B/poll",
            flush=True,
        )
        return result
    finally:
        procs.stop_all()


def _duplicated_instants(status: Path) -> int:
    """Polls in the file that share their store and instant with another poll."""
    seen: set[tuple[str, str]] = set()
    twice = 0
    with status.open() as handle:
        next(handle)
        for line in handle:
            store, _status, stamp = line.rstrip("\n").split(",")
            twice += (store, stamp) in seen
            seen.add((store, stamp))
    return twice


def _offline_baseline(files: dict[str, Path]) -> float:
    cmd = [sys.executable, "-m", "storemon.cli", "report", "--status", str(files["status"]),
           "--hours", str(files["hours"]), "--timezones", str(files["timezones"]),
           "--out", str(OUT / "offline-report.csv")]  # fmt: skip
    return statistics.median(run_measured(cmd)[0] for _ in range(3))


def main() -> None:
    arguments("bench.pipeline", __doc__)
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1, local_dir=ROOT / ".local"
    )
    kafka = LocalKafka(settings, home=OUT / "kafka")
    sample = {
        "status": LOOP_2023 / "store_status_sample.csv",
        "hours": LOOP_2023 / "menu_hours.csv",
        "timezones": LOOP_2023 / "timezones.csv",
    }
    data = full_scale()
    fullset = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
    offline_s = _offline_baseline(fullset)
    print(f"offline storemon report (full scale): {offline_s:.2f} s", flush=True)
    kafka.up(fresh=True)
    try:
        small = _run("loop-2023 sample", sample, kafka, 1, full=True)
        one = _run("full scale", fullset, kafka, 1, full=True)
        two = _run("full scale", fullset, kafka, 2, full=False)
    finally:
        kafka.down()
    _write(offline_s, small, one, two)


def _verdict(ok: bool, gap: str = "") -> str:
    return "met" if ok else f"**missed**{(' (' + gap + ')') if gap else ''}"


def _write(
    offline_s: float, small: dict[str, Any], one: dict[str, Any], two: dict[str, Any]
) -> None:
    t = TARGETS
    table = "\n".join(
        f"| {r['name']} | {r['workers']} | {r['polls']:,} | {r['replay_rate']:,.0f} | {r['to_zero_lag']:.1f} s | {r['end_to_end_rate']:,.0f} |"
        for r in (small, one, two)
    )
    write_section(
        "pipeline",
        f"""
## Streaming pipeline (issues 3, 5, 8, 9 and 19)

`python -m bench.pipeline` on {machine()}: a fresh local Kafka 4.1.1, the workers, the API
and the replay all on this machine, sharing its 2 cores. The replay sends as fast as it can
(hours and zones first, one message per store; then polls grouped per store, up to 2,000 a
message). Zero lag is `storemon lag`'s measure (log end − committed, every source
partition) reaching 0, timed from the replay's start.

| data | workers | polls | replay polls/s | replay start → zero lag | end to end polls/s |
| --- | --- | --- | --- | --- | --- |
{table}

After zero lag, with one worker, {REPORTS} reports each (trigger → `Complete`, the client
polling every 20 ms), every one compared row by row with the offline report of the same
files: all {one["rows"]:,} rows of the full-scale set equal in every report (the set has
{one["duplicates"]:,} polls at the same instant as another of their store, half of them with
the other status; docs/semantics.md §3 makes each pair one observation, `inactive` winning, on both
paths); then {FRESHNESS} polls sent one at a time, each the newest poll of all,
timed from the broker's acknowledgement to the first report (of that store) whose report
time is that poll:

| measure | loop-2023 sample | full scale | target | |
| --- | --- | --- | --- | --- |
| report p50 | {small["report_p50"]:.3f} s | {one["report_p50"]:.3f} s | ≤ {t["p50"]} s | {_verdict(one["report_p50"] <= t["p50"])} |
| report p99 | {small["report_p99"]:.3f} s | {one["report_p99"]:.3f} s | ≤ {t["p99"]} s | {_verdict(one["report_p99"] <= t["p99"])} |
| first report after the replay | {small["first_report"]:.3f} s | {one["first_report"]:.3f} s | | |
| offline `storemon report`, same data, same run | | {offline_s:.2f} s | | |
| ... over the report p50 | | {offline_s / one["report_p50"]:.0f}× | ≥ {t["speedup"]}× | {_verdict(offline_s / one["report_p50"] >= t["speedup"])} |
| freshness p50 | {small["fresh_p50"]:.3f} s | {one["fresh_p50"]:.3f} s | | |
| freshness p99 | {small["fresh_p99"]:.3f} s | {one["fresh_p99"]:.3f} s | ≤ {t["fresh_p99"]} s | {_verdict(one["fresh_p99"] <= t["fresh_p99"])} |
| worker peak RSS | {small["rss"] / 2**20:.0f} MiB | {one["rss"] / 2**20:.0f} MiB | ≤ 1 GiB | {_verdict(one["rss"] <= t["rss"])} |
| RocksDB on disk | {small["rocksdb"] / 2**20:.1f} MiB | {one["rocksdb"] / 2**20:.1f} MiB | | |
| polls changelog written per poll | {small["changelog_per_poll"]:.0f} B | {one["changelog_per_poll"]:.1f} B | ≤ {t["changelog"]} B | {_verdict(one["changelog_per_poll"] <= t["changelog"])} |

End to end with one worker on the full-scale set: {one["end_to_end_rate"]:,.0f} polls/s
(target ≥ {t["rate"]:,}: {_verdict(one["end_to_end_rate"] >= t["rate"])}).

The first report after the replay is asked the moment the lag is zero. It builds the
timelines warming has not reached yet (reading a store's segments and merging them):
warming takes 5 % of each second while ingestion is busy (a replay sends each store's
polls together, so what it warms stays warm) and works without pause once ingestion is
idle. The reports after it reuse what is built. What a warm report spends is in its
record's `timings`: two rounds through Kafka (the newest poll of every partition, then the
rows at it), and the CSV and its record written.

Why the sample differs: its 10,000 polls come with the hours and zones of every store in the
export (about 24,700 messages, one table write each), which dominate its time to zero lag,
and each of its stores has a poll or two, so its changelog holds one segment per 1.6 polls.
A producer that sends one poll per message costs one small segment per poll (see the live
path below), whatever the store's history.
""",
    )


if __name__ == "__main__":
    main()
