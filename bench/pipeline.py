"""Benchmark of the streaming pipeline on a real local Kafka: ``python -m bench.pipeline``.

For the loop-2023 sample and the full-scale set, with one worker: replay polls/s, time
from replay start to zero lag, and trigger → Complete latency of reports. Every report is
checked against the offline report of the same files. Writes the ``pipeline`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import statistics
import time
import uuid
from pathlib import Path

from bench.common import LOOP_2023, OUT, full_scale, machine, write_section
from replay.producer import replay
from streams.broker.local import LocalKafka
from streams.lag import measure
from streams.offline import compute_offline
from streams.processes import Supervisor, take_report
from streams.settings import ROOT, Settings

PORT = 29092
REPORTS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(name: str, files: dict[str, Path], bootstrap: str) -> dict[str, float]:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    folder = OUT / "pipeline" / name
    shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(
        bootstrap_servers=bootstrap, app_id=tag, topic_prefix=tag,
        reports_dir=folder / "reports", data_dir=folder / "worker",
    )  # fmt: skip
    procs = Supervisor(settings, folder)
    try:
        procs.worker("worker-1")
        url = procs.api(_free_port())
        procs.wait_worker_ready("worker-1")
        started = time.perf_counter()
        summary = asyncio.run(replay(settings, files["status"], files["hours"], files["timezones"]))
        while sum(p.lag for p in asyncio.run(measure(settings))) > 0:
            time.sleep(0.2)
        to_zero_lag = time.perf_counter() - started
        offline = compute_offline(files["status"], files["hours"], files["timezones"])
        expected = {row.to_csv() for row in offline.rows}
        latencies = []
        for _ in range(REPORTS):
            t0 = time.perf_counter()
            _id, text = take_report(url)
            latencies.append(time.perf_counter() - t0)
            got = set(text.splitlines()[1:])
            assert got == expected, f"{name}: the pipeline's report differs from the offline one"
        print(
            f"{name}: {summary}; zero lag after {to_zero_lag:.1f} s; report p50 {statistics.median(latencies):.2f} s",
            flush=True,
        )
        return {
            "polls": summary.polls,
            "replay_rate": summary.polls_per_s,
            "to_zero_lag": to_zero_lag,
            "end_to_end_rate": summary.polls / to_zero_lag,
            "report_p50": statistics.median(latencies),
            "report_max": max(latencies),
            "rows": len(expected),
        }
    finally:
        procs.stop_all()


def main() -> None:
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1, local_dir=ROOT / ".local"
    )
    kafka = LocalKafka(settings, home=OUT / "kafka")
    kafka.up(fresh=True)
    try:
        sample = {
            "status": LOOP_2023 / "store_status_sample.csv",
            "hours": LOOP_2023 / "menu_hours.csv",
            "timezones": LOOP_2023 / "timezones.csv",
        }
        data = full_scale()
        full = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
        results = {"loop-2023 sample": _run("sample", sample, settings.bootstrap_servers)}
        results["full scale"] = _run("full", full, settings.bootstrap_servers)
    finally:
        kafka.down()
    rows = "\n".join(
        f"| {name} | {r['polls']:,.0f} | {r['replay_rate']:,.0f} | {r['to_zero_lag']:.1f} s "
        f"({r['end_to_end_rate']:,.0f} polls/s) | {r['rows']:,.0f} | {r['report_p50']:.2f} s | {r['report_max']:.2f} s |"
        for name, r in results.items()
    )
    write_section(
        "pipeline",
        f"""
## Streaming pipeline, one worker (issue 3)

`python -m bench.pipeline` on {machine()}: a fresh local Kafka 4.1.1, one worker, the API
and the replay all on this machine. The replay sends as fast as it can (hours and zones
first, then polls grouped per store, up to 2,000 a message). Zero lag is measured with
`storemon lag`'s logic (log end − committed, all source partitions), from the replay's
start. Each of {REPORTS} reports (trigger → `Complete`, polled every 0.1 s) was compared with
the offline report of the same files: every row equal.

| data | polls | replay polls/s | replay start → zero lag | rows | report p50 | report max |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

The sample's time to zero lag is dominated not by its 10,000 polls but by the hours and
zones of every store in the export (about 24,700 messages, one table write each, at Faust's
cost of about 0.5 ms a message with a write); the polls of the full-scale set arrive in
13,500 messages of about 190 polls. Report latency is dominated by building timelines for
stores whose state changed since the last report (all of them, the first time).
""",
    )


if __name__ == "__main__":
    main()
