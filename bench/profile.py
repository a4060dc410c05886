"""Where a worker spends its time while the full-scale set is replayed into it:
``python -m bench.profile`` (needs py-spy: ``pip install py-spy``; root or ptrace rights).

Samples the worker with py-spy for the whole ingestion, then writes the functions with the
most samples (own time, and time including callees) to the ``profile`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.common import OUT, arguments, full_scale, machine, write_section
from replay.producer import replay
from storemon.localkafka import LocalKafka
from storemon.processes import Supervisor
from streams.lag import wait_caught_up
from streams.settings import ROOT, Settings

PORT = 29192


def _summarize(
    raw: Path, top: int = 15
) -> tuple[list[tuple[str, float]], list[tuple[str, float]], int]:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n

    def share(c: collections.Counter[str]) -> list[tuple[str, float]]:
        # Frames under nearly every sample (the event loop, the entry point) say nothing.
        return [(name, 100.0 * n / samples) for name, n in c.most_common() if n < 0.8 * samples][
            :top
        ]

    return share(own), share(total), samples


def main() -> None:
    arguments("bench.profile", __doc__)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1, local_dir=ROOT / ".local"
    )
    kafka = LocalKafka(settings, home=OUT / "kafka-profile")
    data = full_scale()
    tag = f"prof{uuid.uuid4().hex[:8]}"
    folder = OUT / "profile"
    shutil.rmtree(folder, ignore_errors=True)
    stack = settings.model_copy(
        update={"app_id": tag, "topic_prefix": tag, "reports_dir": folder / "reports"}
    )
    kafka.up(fresh=True)
    procs = Supervisor(stack, folder)
    raw = folder / "worker.txt"
    try:
        worker = procs.worker("worker-1")
        procs.wait_worker_ready("worker-1")
        spy = subprocess.Popen(
            [py_spy, "record", "--format", "raw", "--rate", "50", "-o", str(raw), "--pid", str(worker.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.perf_counter()
        asyncio.run(replay(stack, data.status, data.hours, data.timezones))
        assert wait_caught_up(stack, timeout_s=1800), "the worker did not catch up"
        elapsed = time.perf_counter() - started
        spy.send_signal(2)
        spy.wait(60)
    finally:
        procs.stop_all()
        kafka.down()
    own, total, samples = _summarize(raw)
    rows_own = "\n".join(f"| {e(name)} | {pct:.1f} % |" for name, pct in own)
    rows_total = "\n".join(f"| {e(name)} | {pct:.1f} % |" for name, pct in total)
    write_section(
        "profile",
        f"""
## Where a worker's time goes (issues 5 and 19)

`python -m bench.profile` on {machine()}: py-spy sampled one worker at 50 Hz for the
{elapsed:.0f} s from the full-scale replay's start to zero lag ({samples:,} samples,
idle time included).

Own time (the function itself):

| function | share of samples |
| --- | --- |
{rows_own}

Including callees (frames under more than 80 % of samples, the event loop and the entry
point, left out):

| function | share of samples |
| --- | --- |
{rows_total}

How to read it: `ingest_polls` is the polls agent (decode, merge, one RocksDB write and
one changelog record batch per partition per batch of messages); `_update_profiles` the
hours and zones agents (one table write a message on main; batched in the code this
profile measured, `cc2bec5`; about 24,700 such messages against 13,500 poll messages); socket writes are the changelog and offset traffic to
Kafka; `EpollSelector.select` is the worker waiting, for the broker or the replay, which
share the same 2 cores. What is left is spread thin: Faust's handling of each message
(`_drain_messages`, `on_message`, `wait_first`, tasks made per event), the decoding of
the payloads and their timestamps' bounds check.
""",
    )
    print(f"profile: {samples} samples over {elapsed:.0f} s; see docs/benchmarks.md")


def e(text: str) -> str:
    return text.replace("|", "\\\\|")


if __name__ == "__main__":
    main()
