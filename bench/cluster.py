"""One broker against three: ``python -m bench.cluster``.

On the same machine (its 2 cores shared by every broker, the worker, the API and the
replay), the full-scale set is replayed into one worker and reported on, against:

- one local Kafka node (replication factor 1);
- three nodes (``storemon kafka up --brokers 3``: replication factor 3,
  ``min.insync.replicas`` 2);
- three nodes again, one of them killed with ``kill -9`` a few seconds into the replay:
  what losing a broker under load costs (time to zero lag, the first report after).

Each run: replay start → zero lag, then ``REPORTS`` reports (trigger → Complete), every one
equal to the offline report of the same files. Writes the ``cluster`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import threading
import time
import uuid
from typing import Any

from bench.common import OUT, arguments, full_scale, machine, write_section
from replay.producer import replay
from storemon.localkafka import LocalKafka
from storemon.processes import Supervisor, take_report
from streams.lag import wait_caught_up
from streams.offline import compute_offline
from streams.settings import ROOT, Settings

PORT = 29692
REPORTS = 10
KILL_AFTER_S = 5.0


def _run(kafka: LocalKafka, name: str, kill: bool, expected: set[str]) -> dict[str, Any]:
    tag = f"cluster{uuid.uuid4().hex[:8]}"
    folder = OUT / "cluster" / name
    shutil.rmtree(folder, ignore_errors=True)
    settings = kafka.client_settings().model_copy(
        update={"app_id": tag, "topic_prefix": tag, "reports_dir": folder / "reports",
                "data_dir": folder / "worker"}
    )  # fmt: skip
    procs = Supervisor(settings, folder)
    data = full_scale()
    try:
        procs.worker("worker-1")
        url = procs.api()
        procs.wait_worker_ready("worker-1")
        killed_at: list[float] = []
        if kill:

            def killer() -> None:
                time.sleep(KILL_AFTER_S)
                kafka.kill(kafka.nodes[1])
                killed_at.append(time.perf_counter())

            threading.Thread(target=killer, daemon=True).start()
        started = time.perf_counter()
        summary = asyncio.run(replay(settings, data.status, data.hours, data.timezones))
        assert wait_caught_up(settings, timeout_s=1800), f"{name}: no zero lag"
        to_zero = time.perf_counter() - started
        latencies = []
        for _ in range(REPORTS):
            t0 = time.perf_counter()
            _id, text = take_report(url, timeout_s=300)
            latencies.append(time.perf_counter() - t0)
            lines = text.splitlines()[1:]
            assert len(lines) == len(expected), (
                f"{name}: {len(lines)} rows, {len(expected)} offline"
            )
            assert set(lines) == expected, f"{name}: the report differs from the offline one"
        result = {
            "name": name, "polls": summary.polls, "replay_rate": summary.polls_per_s,
            "to_zero": to_zero, "end_to_end": summary.polls / to_zero,
            "first": latencies[0], "p50": statistics.median(latencies),
            "killed": bool(killed_at),
        }  # fmt: skip
        print(f"{name}: {result}", flush=True)
        return result
    finally:
        procs.stop_all()
        if kill:
            kafka.start_node(kafka.nodes[1])


def main() -> None:
    arguments("bench.cluster", __doc__)
    data = full_scale()
    offline = compute_offline(data.status, data.hours, data.timezones, Settings().time_bounds())
    expected = {",".join(row.to_fields()) for row in offline.rows}
    base = Settings(bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1,
                    local_dir=ROOT / ".local")  # fmt: skip
    runs = []
    one = LocalKafka(base, home=OUT / "kafka-one", brokers=1)
    one.up(fresh=True)
    try:
        runs.append(_run(one, "1 node, replication 1", False, expected))
    finally:
        one.down()
    three = LocalKafka(base, home=OUT / "kafka-three", brokers=3)
    three.up(fresh=True)
    try:
        runs.append(_run(three, "3 nodes, replication 3, min.insync 2", False, expected))
        runs.append(_run(three, "3 nodes, one killed (kill -9) 5 s in", True, expected))
    finally:
        three.down()
    _write(runs, len(expected))


def _write(runs: list[dict[str, Any]], rows: int) -> None:
    table = "\n".join(
        f"| {r['name']} | {r['replay_rate']:,.0f} | {r['to_zero']:.1f} s | {r['end_to_end']:,.0f} | {r['first']:.3f} s | {r['p50']:.3f} s |"
        for r in runs
    )
    single, healthy, lost = runs
    write_section(
        "cluster",
        f"""
## One broker against three (issue 13)

`python -m bench.cluster` on {machine()}: the full-scale set ({single["polls"]:,} polls)
replayed into one worker, then {REPORTS} reports, each equal to the offline report row by row
({rows:,} rows). Every broker, the worker, the API and the replay share the same 2 cores.
Three nodes: `storemon kafka up --brokers 3`, every topic replicated 3 times with
`min.insync.replicas` 2, written with `acks=all`.

| cluster | replay polls/s | replay start → zero lag | end to end polls/s | first report | report p50 |
| --- | --- | --- | --- | --- | --- |
{table}

Three replicas cost {healthy["to_zero"] / single["to_zero"]:.1f}× the time to zero lag of one
(every write goes to three brokers on the same two cores). Losing a broker {KILL_AFTER_S:.0f} s into
the replay changed the time to zero lag by {lost["to_zero"] - healthy["to_zero"]:+.1f} s against the
healthy cluster: the replay's producer waited while the partitions the broker led got new
leaders ({lost["replay_rate"]:,.0f} polls/s against {healthy["replay_rate"]:,.0f}), and the
two brokers left then had less copying to do on the shared cores. Nothing was lost or
counted twice (every report equal to the offline one), and no process was restarted.
""",
    )


if __name__ == "__main__":
    main()
