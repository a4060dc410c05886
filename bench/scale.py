"""Ten times the stores: ``python -m bench.scale``.

135,000 stores (the 13,500 real ones and copies of them, with their hours and zones),
9 days of hourly polls (seeded; about 26 M polls), on one local Kafka:

- replayed into two workers, to zero lag;
- reports (trigger → Complete): the first, then ``REPORTS`` more for p50 and p99; the
  first is compared row by row with the offline report of the same files;
- each worker's peak RSS and RocksDB folder, once both have warmed every timeline they
  hold (their own partitions and their standby copies);
- **failover**: ``kill -9`` of one worker, a report triggered at once; the time until it is
  complete (the other worker's standby copies take over);
- **restore**: every worker stopped, one RocksDB folder deleted, that worker started alone;
  the time until a report is complete (its state rebuilt from the changelogs).

Writes the ``scale`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import OUT, machine, write_section
from replay.producer import replay
from replay.sample import LOOP_2023
from replay.synthetic import Generated, generate
from storemon.localkafka import LocalKafka
from storemon.processes import Supervisor, take_report
from streams.lag import wait_caught_up
from streams.settings import ROOT, Settings

PORT = 29392
STORES = 135_000
DAYS = 9.0
REPORTS = 10
WARM_TIMEOUT_S = 1800.0
TARGETS = {"p50": 1.0, "rss": 2 * 1024**3, "failover": 10.0}


def data_set() -> Generated:
    """The seeded 135,000-store set, cached."""
    target = OUT / "scale-135k"
    status = target / "store_status.csv"
    if status.exists():
        lines = sum(1 for _ in status.open("rb")) - 1
        return Generated(status, target / "menu_hours.csv", target / "timezones.csv", lines, STORES)
    return generate(LOOP_2023, target, stores=STORES, days=DAYS, seed=135)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _metric(url: str, name: str, label: str) -> dict[str, float]:
    """Values of a gauge by worker, where the other label equals ``label``."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + "{") and label in line:
            worker = line.split('worker="', 1)[1].split('"', 1)[0]
            out[worker] = float(line.rsplit(" ", 1)[1])
    return out


def _wait_warm(url: str, stores: int, workers: int) -> float:
    """Seconds until every worker's timelines cover what it holds (all stores with a
    standby each, when there are two workers)."""
    started = time.perf_counter()
    deadline = started + WARM_TIMEOUT_S
    want = stores * min(workers, 2) // workers
    while time.perf_counter() < deadline:
        counts = _metric(url, "storemon_table_keys", 'table="timelines"')
        if len(counts) == workers and all(c >= 0.98 * want for c in counts.values()):
            return time.perf_counter() - started
        time.sleep(2.0)
    raise TimeoutError(f"timelines not warm after {WARM_TIMEOUT_S:.0f} s: {counts}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _offline(data: Generated, out: Path) -> tuple[set[str], float, int]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "storemon.cli", "report", "--status", str(data.status),
         "--hours", str(data.hours), "--timezones", str(data.timezones), "--out", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    del proc
    rows = set(out.read_text().splitlines()[1:])
    return rows, time.perf_counter() - started, len(rows)


_LOG_TIME = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] .*"


def _failover_phases(log: str, killed_at: datetime) -> dict[str, float]:
    """Seconds from the kill until the survivor heard of the rebalance and until it was
    ready again, from its log (local times, as the kill's)."""
    phases: dict[str, float] = {}
    for name, text in (("noticed", "because it is rebalancing"), ("ready", "Worker ready")):
        for stamp in re.findall(_LOG_TIME + re.escape(text), log, re.M):
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
            if at >= killed_at and name not in phases:
                phases[name] = (at - killed_at).total_seconds()
    return phases


def run() -> dict[str, Any]:
    """The whole benchmark; its figures."""
    data = data_set()
    print(f"data: {data.polls:,} polls of {data.stores:,} stores", flush=True)
    settings0 = Settings(
        bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1, local_dir=ROOT / ".local"
    )
    kafka = LocalKafka(settings0, home=OUT / "kafka-scale")
    tag = f"scale{uuid.uuid4().hex[:6]}"
    folder = OUT / "scale"
    shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(
        bootstrap_servers=settings0.bootstrap_servers, app_id=tag, topic_prefix=tag,
        reports_dir=folder / "reports", data_dir=folder / "worker", report_timeout_s=600,
    )  # fmt: skip
    result: dict[str, Any] = {"polls": data.polls, "stores": data.stores}
    kafka.up(fresh=True)
    procs = Supervisor(settings, folder)
    try:
        workers = {name: procs.worker(name) for name in ("worker-1", "worker-2")}
        url = procs.api()
        for name in workers:
            procs.wait_worker_ready(name)
        started = time.perf_counter()
        summary = asyncio.run(replay(settings, data.status, data.hours, data.timezones))
        assert wait_caught_up(settings, timeout_s=3600), "the workers did not catch up"
        result["to_zero_lag"] = time.perf_counter() - started
        result["replay_rate"] = summary.polls_per_s
        print(f"replay: {summary}; zero lag after {result['to_zero_lag']:.0f} s", flush=True)
        t0 = time.perf_counter()
        _id, first = take_report(url, timeout_s=900)
        result["first_report"] = time.perf_counter() - t0
        result["warm_s"] = _wait_warm(url, data.stores, 2)
        latencies = []
        for _ in range(REPORTS):
            t0 = time.perf_counter()
            take_report(url, timeout_s=900)
            latencies.append(time.perf_counter() - t0)
        result["p50"] = statistics.median(latencies)
        result["p99"] = _percentile(latencies, 0.99)
        result["rss"] = {name: _peak_rss(p.pid) for name, p in workers.items()}
        result["rocksdb"] = {name: _size(folder / name) for name in workers}
        print(f"reports p50 {result['p50']:.2f} s; RSS {result['rss']}", flush=True)
        # Failover: one worker gone for good; the other's standby copies take over.
        killed_at = datetime.now()
        workers["worker-2"].send_signal(signal.SIGKILL)
        workers["worker-2"].wait()
        procs.processes.pop("worker-2")
        t0 = time.perf_counter()
        _id, after_kill = take_report(url, timeout_s=900)
        result["failover"] = time.perf_counter() - t0
        result["phases"] = _failover_phases(procs.log("worker-1"), killed_at)
        result["failover_rows_equal"] = after_kill.splitlines() == first.splitlines()
        print(f"failover: {result['failover']:.1f} s", flush=True)
        # Restore: worker-1 alone, from the changelogs only.
        procs.stop("worker-1")
        shutil.rmtree(folder / "worker-1")
        t0 = time.perf_counter()
        procs.worker("worker-1")
        _id, restored = take_report(url, timeout_s=1800)
        result["restore"] = time.perf_counter() - t0
        result["restore_rows_equal"] = restored.splitlines() == first.splitlines()
        print(f"restore: {result['restore']:.1f} s", flush=True)
    finally:
        procs.stop_all()
        kafka.down()
    expected, offline_s, rows = _offline(data, folder / "offline.csv")
    result["offline_s"] = offline_s
    result["rows"] = rows
    result["equal"] = set(first.splitlines()[1:]) == expected
    return result


def _phase(r: dict[str, Any], name: str) -> str:
    seconds = r.get("phases", {}).get(name)
    return "(not in the log)" if seconds is None else f"{seconds:.1f} s"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    r = run()
    gib = 1024**3
    rss = ", ".join(f"{v / gib:.2f} GiB" for v in r["rss"].values())
    rocks = ", ".join(f"{v / 2**20:,.0f} MiB" for v in r["rocksdb"].values())
    worst_rss = max(r["rss"].values())
    write_section(
        "scale",
        f"""
## Ten times the stores (issue 9)

`python -m bench.scale` on {machine()}: {r["stores"]:,} stores (the 13,500 real ones and
copies of them with their hours and zones), 9 days of hourly polls ({r["polls"]:,} polls,
seeded), one local Kafka, two workers with a standby copy each of the other's partitions,
the API and the replay on the same two cores.

| measure | measured | target | |
| --- | --- | --- | --- |
| replay, as fast as it sends | {r["replay_rate"]:,.0f} polls/s | | |
| replay start → zero lag, 2 workers | {r["to_zero_lag"]:.0f} s ({r["polls"] / r["to_zero_lag"]:,.0f} polls/s end to end) | | |
| first report after zero lag (timelines built on demand) | {r["first_report"]:.2f} s | | |
| first report equal to the offline report of the same files | {"yes" if r["equal"] else "**no**"} ({r["rows"]:,} rows) | | |
| until every worker has warmed what it holds (own and standby) | {r["warm_s"]:.0f} s | | |
| report p50, {REPORTS} reports | {r["p50"]:.2f} s | ≤ {TARGETS["p50"]} s | {_verdict(r["p50"] <= TARGETS["p50"])} |
| report p99 | {r["p99"]:.2f} s | | |
| worker peak RSS | {rss} | ≤ 2 GiB each | {_verdict(worst_rss <= TARGETS["rss"])} |
| RocksDB folder per worker | {rocks} | | |
| failover: `kill -9` of a worker → next report complete | {r["failover"]:.1f} s (rows equal: {"yes" if r["failover_rows_equal"] else "**no**"}) | ≤ {TARGETS["failover"]:.0f} s | {_verdict(r["failover"] <= TARGETS["failover"])} |
| restore: one worker, RocksDB deleted → report complete | {r["restore"]:.0f} s (rows equal: {"yes" if r["restore_rows_equal"] else "**no**"}) | | |
| offline `storemon report` of the same files | {r["offline_s"]:.1f} s | | |

What the failover waits for (from the survivor's log): the group to notice the worker gone,
{_phase(r, "noticed")} after the kill (its session timeout, {Settings().session_timeout_s:.0f} s, the
least a broker allows by default, and the survivor's next heartbeat, within 1 s); a
rebalance that gives its partitions to the other worker and that worker's standby copies
becoming active (warm: a few records to catch up), ready {_phase(r, "ready")} after the kill; then
the report. The survivor keeps the answers of the partitions it had all along, and its
warming left the rows of its standby stores ready at the default report time.
""",
    )


if __name__ == "__main__":
    main()
