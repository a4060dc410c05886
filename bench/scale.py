"""Ten times the stores: ``python -m bench.scale``.

135,000 stores (the 13,500 real ones and copies of them, with their hours and zones),
9 days of hourly polls (seeded; about 26 M polls), on one local Kafka:

- replayed into two workers, to zero lag;
- reports (trigger → Complete): the first, then ``REPORTS`` more for p50 and p99; the
  first is compared row by row with the offline report of the same files;
- each worker's peak RSS and RocksDB folder, once both have warmed every timeline they
  hold (their own partitions and their standby copies);
- **failover**, ``--failovers`` times (5 by default): ``kill -9`` of one worker, a report
  triggered at once; the time until it is complete (the other worker's standby copies
  take over); then the worker back, both warm again, and the next kill the other way;
- **restore**: every worker stopped, one RocksDB folder deleted, that worker started alone;
  the time until a report is complete (its state rebuilt from the changelogs).

- **the model**: bytes per store (RSS, RocksDB, changelog), seconds per GB (replay,
  restore), report time per 100,000 stores, and what 1 M and 10 M stores polled every
  minute would take.

``--stores N`` runs another size (its own cached data set). Writes the ``scale`` section
of docs/benchmarks.md, or ``scale-<N/1000>k`` for another size.
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
from streams.topics import topics_for

PORT = 29392
STORES = 135_000
DAYS = 9.0
REPORTS = 10
FAILOVERS = 5
WARM_TIMEOUT_S = 1800.0
TARGETS = {"p50": 0.3, "first": 2.0, "rss": 2 * 1024**3, "failover": 10.0}


def data_set(stores: int = STORES) -> Generated:
    """The seeded set of ``stores`` stores, cached."""
    target = OUT / f"scale-{stores // 1000}k"
    status = target / "store_status.csv"
    if status.exists():
        lines = sum(1 for _ in status.open("rb")) - 1
        return Generated(status, target / "menu_hours.csv", target / "timezones.csv", lines, stores)
    return generate(LOOP_2023, target, stores=stores, days=DAYS, seed=135)


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


def _wait_warm(url: str, stores: int, workers: int, restarted: str | None = None) -> float:
    """Seconds until every worker's timelines cover what it holds (all stores with a
    standby each, when there are two workers), or fill its timeline cache. With ``restarted``, that worker's figure is
    first seen low (the new process's, not the one the API last heard from its old one)."""
    started = time.perf_counter()
    deadline = started + WARM_TIMEOUT_S
    want = stores * min(workers, 2) // workers
    while restarted is not None and time.perf_counter() < started + 120:
        counts = _metric(url, "storemon_table_keys", 'table="timelines"')
        if counts.get(restarted, 0.0) < 0.98 * want:
            break
        time.sleep(0.5)
    while time.perf_counter() < deadline:
        counts = _metric(url, "storemon_table_keys", 'table="timelines"')
        held = _metric(url, "storemon_table_keys", 'table="timeline_bytes"')
        full = 0.95 * Settings().timeline_cache_bytes  # a full cache holds what it can
        if len(counts) == workers and all(
            c >= 0.98 * want or held.get(w, 0.0) >= full for w, c in counts.items()
        ):
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


def _topic_bytes(kafka: LocalKafka, topic: str) -> int:
    """Bytes of a topic's partitions in the broker's log folder."""
    return sum(
        _size(d) for d in kafka.data.glob(f"{topic}-*") if d.name.rsplit("-", 1)[1].isdigit()
    )


def _failover(
    procs: Supervisor, url: str, first: str, victim: str, survivor: str
) -> dict[str, Any]:
    """``kill -9`` of ``victim``, a report at once; then ``victim`` back, warm again."""
    killed_at = datetime.now()
    procs.processes[victim].send_signal(signal.SIGKILL)
    procs.processes[victim].wait()
    procs.processes.pop(victim)
    t0 = time.perf_counter()
    _id, after_kill = take_report(url, timeout_s=900)
    seconds = time.perf_counter() - t0
    phases = _failover_phases(procs.log(survivor), killed_at)
    print(f"failover ({victim} killed): {seconds:.1f} s {phases}", flush=True)
    return {"s": seconds, "phases": phases, "equal": after_kill.splitlines() == first.splitlines()}


def run(stores: int = STORES, failovers: int = FAILOVERS) -> dict[str, Any]:
    """The whole benchmark; its figures."""
    data = data_set(stores)
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
    result: dict[str, Any] = {
        "polls": data.polls, "stores": data.stores, "csv_bytes": data.status.stat().st_size,
    }  # fmt: skip
    kafka.up(fresh=True)
    procs = Supervisor(settings, folder)
    names = ("worker-1", "worker-2")
    try:
        workers = {name: procs.worker(name) for name in names}
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
        print(f"first report: {result['first_report']:.2f} s", flush=True)
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
        result["changelog_bytes"] = sum(
            _topic_bytes(kafka, f"{tag}-{t}-changelog") for t in ("polls", "profiles")
        )
        result["polls_topic_bytes"] = _topic_bytes(kafka, topics_for(settings).polls.name)
        print(f"reports p50 {result['p50']:.2f} s; RSS {result['rss']}", flush=True)
        # Failovers: a worker gone; the other's standby copies take over. Then it comes
        # back (its RocksDB kept) and both warm again before the next, the other way round.
        result["failovers"] = []
        for i in range(failovers):
            victim, survivor = names[(i + 1) % 2], names[i % 2]
            result["failovers"].append(_failover(procs, url, first, victim, survivor))
            if i + 1 < failovers:
                procs.worker(victim)
                procs.wait_worker_ready(victim)
                assert wait_caught_up(settings, timeout_s=600), "no zero lag after a restart"
                _wait_warm(url, data.stores, 2, restarted=victim)
        # Restore: one worker alone, from the changelogs only.
        alone = names[failovers % 2] if failovers else names[0]
        for name in names:
            if name in procs.processes:
                procs.stop(name)
        shutil.rmtree(folder / alone)
        t0 = time.perf_counter()
        procs.worker(alone)
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


def _model(r: dict[str, Any], live_rate: float) -> str:
    """What the run says about 1 M and 10 M stores polled every minute."""
    gib, stores = 1024**3, r["stores"]
    rss = max(r["rss"].values()) / stores  # each worker holds every store (own + standby)
    rocks = max(r["rocksdb"].values()) / stores
    per_poll = max(r["rocksdb"].values()) / r["polls"]
    changelog = r["changelog_bytes"] / stores
    replay_s_gb = r["to_zero_lag"] / (r["csv_bytes"] / gib)
    restore_s_gb = r["restore"] / (r["changelog_bytes"] / gib)
    report_100k = r["p50"] / (stores / 100_000)
    polls_kept = 14 * 24 * 60  # a poll a minute, 14 days kept
    lines = []
    for target in (1_000_000, 10_000_000):
        rate = target / 60
        by_rate = -(-rate // live_rate)
        state = target * polls_kept * per_poll * 2  # own copy and a standby copy
        memory = target * rss * 2
        by_memory = -(-memory // (8 * gib))
        workers = int(max(by_rate, by_memory, 2))
        partitions = max(64, 4 * workers)
        lines.append(
            f"| {target:,} | {rate:,.0f} | {workers} (rate: {by_rate:.0f}, memory: {by_memory:.0f}) "
            f"| {partitions} | {state / 1024**4:,.1f} TiB | {memory / gib:,.0f} GiB "
            f"| {report_100k * target / 100_000:,.1f} s |"
        )
    rows = "\n".join(lines)
    return f"""
Per store, from this run ({stores:,} stores, {r["polls"] / stores:,.0f} polls each):

| quantity | measured |
| --- | --- |
| worker RSS per store held (own and standby) | {rss:,.0f} B |
| RocksDB per store held | {rocks:,.0f} B ({per_poll:.1f} B a poll) |
| changelog per store (polls and profiles, one copy) | {changelog:,.0f} B |
| replay start → zero lag, per GB of polls CSV | {replay_s_gb:,.0f} s |
| restore (one worker alone, RocksDB deleted), per GB of changelog | {restore_s_gb:,.0f} s |
| report p50 per 100,000 stores | {report_100k:.2f} s |

A million and ten million stores, each polled every minute: the ingest rate is one live
poll per store per minute; a worker takes {live_rate:,.0f} live polls/s with the alert state
(the live section), and holds its own and a standby copy of its stores in at most 8 GiB.
A poll a minute kept 14 days is {polls_kept:,} polls a store, at the RocksDB bytes a poll
measured here (sealed days). Partitions: at least 64, and four per worker so that a
rebalance moves small pieces.

| stores | polls/s | workers | partitions | RocksDB, both copies | RSS, both copies | report (linear) |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

What this says: at a poll a minute, stored state, not the ingest rate, is what grows: the
RocksDB figure is per poll, so a minute's polling keeps 60 times what an hourly one does.
Memory per store is the timeline cache and the indexes, bounded per worker; a report over
every store grows linearly and is better asked per tenant or per store at that size.
"""


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--stores", type=int, default=STORES)
    parser.add_argument("--failovers", type=int, default=FAILOVERS)
    parser.add_argument(
        "--live-rate", type=float, default=6_540.0,
        help="live polls/s a worker takes with the alert state (the live section's figure)",
    )  # fmt: skip
    args = parser.parse_args()
    r = run(args.stores, args.failovers)
    gib = 1024**3
    rss = ", ".join(f"{v / gib:.2f} GiB" for v in r["rss"].values())
    rocks = ", ".join(f"{v / 2**20:,.0f} MiB" for v in r["rocksdb"].values())
    worst_rss = max(r["rss"].values())
    fails = [f["s"] for f in r["failovers"]]
    every = ", ".join(f"{s:.1f}" for s in fails)
    equal = all(f["equal"] for f in r["failovers"])
    failover = (
        f"| failover ×{len(fails)}: `kill -9` of a worker → next report complete | "
        f"median {statistics.median(fails):.1f} s, worst {max(fails):.1f} s ({every}; rows "
        f"equal: {'yes' if equal else '**no**'}) | ≤ {TARGETS['failover']:.0f} s each | "
        f"{_verdict(max(fails) <= TARGETS['failover'])} |"
        if fails
        else ""
    )
    noticed = [f["phases"].get("noticed") for f in r["failovers"]]
    ready = [f["phases"].get("ready") for f in r["failovers"]]
    name = "scale" if args.stores == STORES else f"scale-{args.stores // 1000}k"
    title = (
        "Ten times the stores (issues 9 and 19)"
        if name == "scale"
        else f"{args.stores:,} stores, once (issue 19)"
    )
    write_section(
        name,
        f"""
## {title}

`python -m bench.scale --stores {args.stores} --failovers {args.failovers}` on {machine()}:
{r["stores"]:,} stores (the 13,500 real ones and copies of them with their hours and zones),
{DAYS:.0f} days of hourly polls ({r["polls"]:,} polls, seeded), one local Kafka, two workers
with a standby copy each of the other's partitions, the API and the replay on the same two
cores.

| measure | measured | target | |
| --- | --- | --- | --- |
| replay, as fast as it sends | {r["replay_rate"]:,.0f} polls/s | | |
| replay start → zero lag, 2 workers | {r["to_zero_lag"]:.0f} s ({r["polls"] / r["to_zero_lag"]:,.0f} polls/s end to end) | | |
| first report after zero lag | {r["first_report"]:.2f} s | ≤ {TARGETS["first"]:.0f} s | {_verdict(r["first_report"] <= TARGETS["first"])} |
| first report equal to the offline report of the same files | {"yes" if r["equal"] else "**no**"} ({r["rows"]:,} rows) | | |
| until every worker has warmed what it holds (own and standby), after that report | {r["warm_s"]:.0f} s | | |
| report p50, {REPORTS} reports | {r["p50"]:.2f} s | ≤ {TARGETS["p50"]} s | {_verdict(r["p50"] <= TARGETS["p50"])} |
| report p99 | {r["p99"]:.2f} s | | |
| worker peak RSS | {rss} | ≤ 2 GiB each at 135,000 | {_verdict(worst_rss <= TARGETS["rss"])} |
| RocksDB folder per worker | {rocks} | | |
{failover}
| restore: one worker, RocksDB deleted → report complete | {r["restore"]:.0f} s (rows equal: {"yes" if r["restore_rows_equal"] else "**no**"}) | | |
| offline `storemon report` of the same files | {r["offline_s"]:.1f} s | | |

What a failover waits for (from the survivor's log, seconds after each kill): the group to
notice the worker gone ({", ".join("?" if n is None else f"{n:.1f}" for n in noticed)}; its
session timeout, {Settings().session_timeout_s:.0f} s, the least a broker allows by
default, and the survivor's next heartbeat, within 1 s); a rebalance that gives its
partitions to the other worker and that worker's standby copies becoming active (warm: a
few records to catch up), ready at {", ".join("?" if n is None else f"{n:.1f}" for n in ready)};
then the report. The survivor keeps the answers of the partitions it had all along, and
its warming left the rows of its standby stores ready at the default report time.
{_model(r, args.live_rate)}
""",
    )


if __name__ == "__main__":
    main()
