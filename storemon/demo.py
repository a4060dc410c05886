"""``storemon demo``: the whole product on this machine, from the project's own files.

Local Kafka (fresh), two workers, the API, a replay of the loop-2023 sample, then a report
triggered over HTTP; prints where its CSV is. Everything but Kafka stops at the end unless
``--keep``.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from replay.producer import replay
from replay.sample import LOOP_2023
from storemon.localkafka import LocalKafka
from storemon.processes import Supervisor, take_report
from streams.lag import wait_caught_up
from streams.settings import Settings


def run(settings: Settings, data: Path = LOOP_2023, keep: bool = False) -> int:
    """Run the demo; returns the exit code."""
    import asyncio

    folder = settings.local_dir / "demo"
    shutil.rmtree(folder, ignore_errors=True)  # fresh topics need fresh RocksDB folders
    kafka = LocalKafka(settings)
    print(
        f"1/6 starting Kafka {kafka.version} (fresh) at {settings.bootstrap_servers} ...",
        flush=True,
    )
    kafka.up(fresh=True)
    procs = Supervisor(settings, folder)
    try:
        print("2/6 starting two workers and the API ...", flush=True)
        procs.worker("worker-1")
        procs.worker("worker-2")
        url = procs.api(settings.api_port)
        procs.wait_worker_ready("worker-1")
        procs.wait_worker_ready("worker-2")
        print(f"3/6 replaying {data} ...", flush=True)
        summary = asyncio.run(
            replay(
                settings,
                data / "store_status_sample.csv",
                data / "menu_hours.csv",
                data / "timezones.csv",
                progress=sys.stderr.isatty(),
            )
        )
        print(f"    {summary}", flush=True)
        print("4/6 waiting for the workers to catch up (storemon lag) ...", flush=True)
        if not wait_caught_up(settings, timeout_s=300):
            print("    the workers did not catch up in 300 s; see .local/demo/*.log")
            return 1
        print(f"5/6 triggering a report at {url}/trigger_report ...", flush=True)
        started = time.perf_counter()
        report_id, text = take_report(url)
        rows = text.count("\n") - 1
        elapsed = time.perf_counter() - started
        csv_path = settings.reports_dir / f"{report_id}.csv"
        print(f"6/6 report {report_id}: {rows} stores in {elapsed:.2f} s", flush=True)
        print(f"report CSV: {csv_path}")
        if keep:
            print(f"running: API {url}/docs; workers and API logs in {folder}; Ctrl-C stops them")
            while True:  # a supervisor: what exits with an error is started again
                time.sleep(1)
                for name, code in procs.restart_exited():
                    print(f"{name} exited ({code}); started again (see {folder}/{name}.log)")
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        procs.stop_all()
        print("workers and API stopped; `storemon kafka down` stops Kafka")
