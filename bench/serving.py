"""Benchmark of the serving tier: ``python -m bench.serving``.

The full-scale set replayed into one worker on a real local Kafka; then reports (trigger →
``Complete`` → the CSV read) through one API instance, and through two (triggered on one,
polled and read on the other, alternating), with the report files in the reports folder
and in S3 (a local s3proxy). Every report is checked row by row against the offline one.

Writes the ``serving`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
import uuid
from typing import Any

import httpx

from bench.common import OUT, arguments, full_scale, machine, write_section
from replay.producer import replay
from storemon.localkafka import LocalKafka
from storemon.locals3 import LocalS3
from storemon.processes import Supervisor
from streams.lag import wait_caught_up
from streams.offline import compute_offline
from streams.settings import ROOT, Settings

PORT = 29092
S3_PORT = 29110
REPORTS = 20


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _report(trigger: str, read: str) -> tuple[float, str]:
    """Trigger on ``trigger``, poll and read on ``read``; seconds and the CSV."""
    t0 = time.perf_counter()
    report_id = httpx.post(f"{trigger}/trigger_report", timeout=30).json()["report_id"]
    while True:
        got = httpx.get(f"{read}/get_report", params={"report_id": report_id}, timeout=30)
        if got.headers.get("X-Report-Status") == "Complete":
            return time.perf_counter() - t0, got.text
        if got.status_code != 200 or got.json().get("status") != "Running":
            raise RuntimeError(f"report {report_id}: {got.status_code} {got.text}")
        time.sleep(0.02)


def _measure(urls: list[str], expected: set[str]) -> dict[str, float]:
    latencies = []
    for i in range(REPORTS):
        trigger, read = urls[i % len(urls)], urls[(i + 1) % len(urls)]
        seconds, text = _report(trigger, read)
        assert set(text.splitlines()[1:]) == expected, "a report differs from the offline one"
        latencies.append(seconds)
    return {"p50": statistics.median(latencies), "p99": _percentile(latencies, 0.99)}


def main() -> None:
    arguments("bench.serving", __doc__)
    kafka = LocalKafka(
        Settings(
            bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1,
            local_dir=ROOT / ".local",
        ),
        home=OUT / "kafka",
    )  # fmt: skip
    data = full_scale()
    folder = OUT / "serving"
    shutil.rmtree(folder, ignore_errors=True)
    s3 = LocalS3(folder / "s3", S3_PORT)
    tag = f"bench{uuid.uuid4().hex[:8]}"
    base = Settings(
        bootstrap_servers=kafka.settings.bootstrap_servers, app_id=tag, topic_prefix=tag,
        reports_dir=folder / "reports", data_dir=folder / "worker",
    )  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    kafka.up(fresh=True)
    endpoint = s3.up()
    try:
        worker = Supervisor(base, folder)
        worker.worker("worker-1")
        worker.wait_worker_ready("worker-1")
        asyncio.run(replay(base, data.status, data.hours, data.timezones))
        assert wait_caught_up(base, timeout_s=1800), "the worker did not catch up"
        offline = compute_offline(data.status, data.hours, data.timezones, base.time_bounds())
        expected = {",".join(row.to_fields()) for row in offline.rows}
        s3_settings = base.model_copy(
            update={
                "reports_url": f"s3://storemon-bench/{tag}", "s3_endpoint_url": endpoint.url,
                "s3_access_key_id": endpoint.access_key_id,
                "s3_secret_access_key": endpoint.secret_access_key,
            }
        )  # fmt: skip
        for store, settings in (("folder", base), ("S3", s3_settings)):
            apis = Supervisor(settings, folder / store)
            try:
                urls = [apis.api(name=f"api-{i}") for i in (1, 2)]
                _measure(urls[:1], expected)  # warm: the first report builds timelines
                for count in (1, 2):
                    key = f"{store}, {count} instance{'s' if count > 1 else ''}"
                    results[key] = _measure(urls[:count], expected)
                    print(f"{key}: {results[key]}", flush=True)
            finally:
                apis.stop_all()
        worker.stop_all()
    finally:
        s3.down()
        kafka.down()
    _write(results, offline.rows.__len__())


def _write(results: dict[str, dict[str, Any]], rows: int) -> None:
    lines = "\n".join(
        f"| {key} | {r['p50']:.3f} s | {r['p99']:.3f} s |" for key, r in results.items()
    )
    write_section(
        "serving",
        f"""## Serving tier: one API instance against two, files in a folder and in S3

{machine()}. `python -m bench.serving`: the full-scale set in one worker on one local
broker; then, after one warm-up report, {REPORTS} reports per row (trigger → `Complete` →
the whole CSV read, the client polling every 20 ms), each compared row by row with the
offline report ({rows:,} rows, all equal). With two instances, each report is triggered on
one and polled and read on the other (alternating), so every one crosses the reports
topic. S3 is a local s3proxy 2.6.0 (filesystem back end) on the same machine.

| report files, instances | p50 | p99 |
| --- | --- | --- |
{lines}

What two instances cost over one is the other instance learning of the report from the
reports topic (its index catches up before it answers for an unknown id) and reading a
file another process wrote; S3 adds one upload and one streamed download of the CSV.
""",
    )


if __name__ == "__main__":
    main()
