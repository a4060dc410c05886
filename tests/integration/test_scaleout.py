"""Two API instances on one pipeline: any one answers any report (records on the reports
topic, files in a shared folder or in S3), a report whose instance is killed is answered
by the survivor, and scheduled reports are taken once per interval by one instance, and
still taken when it is killed."""

from __future__ import annotations

import itertools
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from storemon.locals3 import Endpoint
from tests.integration.conftest import Stack, assert_same_report, offline_csv, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _wait_report(url: str, report_id: str, timeout_s: float = 60) -> httpx.Response:
    """``/get_report`` on ``url`` until the report is no longer running."""

    def done() -> httpx.Response | None:
        got = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=10)
        assert got.status_code == 200, got.text
        if got.headers.get("X-Report-Status") == "Complete":
            return got
        return got if got.json()["status"] != "Running" else None

    answer: httpx.Response = wait_until(done, timeout_s, every_s=0.1)
    return answer


def _listed(url: str) -> list[dict[str, Any]]:
    got = httpx.get(f"{url}/reports", params={"limit": 500}, timeout=10)
    assert got.status_code == 200, got.text
    listed: list[dict[str, Any]] = got.json()
    return listed


def _when(reports: list[dict[str, Any]], killed_at: float | None) -> str:
    """The scheduled reports as a failed assertion shows them: who took each, and when."""
    start = reports[0]["requested_at"] if reports else 0.0
    lines = [f"{r['requested_at'] - start:8.2f} s  {r['owner']}  {r['status']}" for r in reports]
    if killed_at is not None:
        lines.append(f"{killed_at - start:8.2f} s  holder killed")
    return "\n".join(lines)


def _two_instances(stack: Stack, files: dict[str, Path]) -> tuple[str, str]:
    stack.worker("worker-1")
    one = stack.api(name="api-1")
    two = stack.api(name="api-2")
    stack.wait_worker_ready("worker-1")
    stack.replay(files)
    stack.wait_caught_up()
    for url in (one, two):
        wait_until(lambda u=url: httpx.get(f"{u}/readyz", timeout=5).status_code == 200, 60)
    return one, two


def _triggered_here_answered_there(
    stack: Stack, one: str, two: str, sample: dict[str, Path]
) -> dict[str, Any]:
    started = httpx.post(f"{one}/trigger_report", timeout=10)
    assert started.status_code == 200, started.text
    report_id = started.json()["report_id"]
    # Asked of the other instance at once: it catches up with the reports topic first.
    got = _wait_report(two, report_id)
    assert got.headers["X-Report-Status"] == "Complete", got.text
    assert_same_report(got.text, offline_csv(sample))
    assert _listed(one) == _listed(two)
    [record] = [r for r in _listed(two) if r["report_id"] == report_id]
    return record


def test_any_instance_answers_any_report(stack: Stack, sample: dict[str, Path]) -> None:
    one, two = _two_instances(stack, sample)
    record = _triggered_here_answered_there(stack, one, two, sample)
    assert record["status"] == "Complete"
    assert (stack.folder / "reports" / f"{record['report_id']}.csv").exists()
    # The other way round too; and the seeds' forms answer the same on either.
    back = _triggered_here_answered_there(stack, two, one, sample)
    got = httpx.post(f"{one}/store/get_report", json={"report_id": back["report_id"]}, timeout=10)
    assert_same_report(got.text, offline_csv(sample))


def test_reports_in_s3_are_answered_by_any_instance(
    stack: Stack, sample: dict[str, Path], s3: Endpoint
) -> None:
    stack.settings = stack.settings.model_copy(
        update={
            "reports_url": f"s3://storemon-test/{stack.settings.app_id}",
            "s3_endpoint_url": s3.url,
            "s3_access_key_id": s3.access_key_id,
            "s3_secret_access_key": s3.secret_access_key,
        }
    )
    one, two = _two_instances(stack, sample)
    record = _triggered_here_answered_there(stack, one, two, sample)
    assert record["status"] == "Complete"
    assert not (stack.folder / "reports").exists() or not any((stack.folder / "reports").iterdir())
    assert f"s3://storemon-test/{stack.settings.app_id}" in stack.log("api-1")


def test_a_report_whose_instance_is_killed_is_answered_by_the_survivor(
    stack: Stack, sample: dict[str, Path]
) -> None:
    stack.settings = stack.settings.model_copy(update={"report_timeout_s": 40.0})
    one, two = _two_instances(stack, sample)
    worker = stack.processes["worker-1"]
    worker.send_signal(signal.SIGSTOP)  # no answers: the report runs until its instance dies
    try:
        started = httpx.post(f"{one}/trigger_report", timeout=10)
        report_id = started.json()["report_id"]
        time.sleep(1)
        stack.processes["api-1"].send_signal(signal.SIGKILL)
        stack.processes["api-1"].wait()
        killed_at = time.monotonic()
        got = _wait_report(two, report_id, timeout_s=40)
        assert time.monotonic() - killed_at < 40  # within the report timeout
        body = got.json()
        assert body["status"] == "Failed"
        assert "stopped before it was done" in body["error"]
        assert "trigger it again" in body["error"]
    finally:
        worker.send_signal(signal.SIGCONT)
    # The survivor goes on: a new report on it completes.
    again = httpx.post(f"{two}/trigger_report", timeout=10).json()["report_id"]
    assert _wait_report(two, again).headers.get("X-Report-Status") == "Complete"


def test_scheduled_reports_are_taken_once_per_interval_and_survive_their_instance(
    stack: Stack, sample: dict[str, Path]
) -> None:
    every = 4.0
    stack.settings = stack.settings.model_copy(update={"report_every_s": every})
    one, two = _two_instances(stack, sample)

    def scheduled() -> list[dict[str, Any]]:
        return sorted((r for r in _listed(two) if r["scheduled"]), key=lambda r: r["requested_at"])

    # The first instance may take one or two before the second joins and the group settles
    # (a handover, not a second taker): once settled, the last three have one owner.
    taken = wait_until(
        lambda: len(s := scheduled()) >= 4 and len({r["owner"] for r in s[-3:]}) == 1 and s,
        90,
        why=lambda: _when(scheduled(), None),
    )
    gaps = [b["requested_at"] - a["requested_at"] for a, b in itertools.pairwise(taken)]
    assert min(gaps) >= every * 0.9, _when(taken, None)  # never twice in an interval
    owners = {r["owner"] for r in taken[-3:]}
    assert len(owners) == 1, _when(taken, None)  # one instance takes them
    [holder] = owners
    name = next(n for n in ("api-1", "api-2") if f"API instance {holder}" in stack.log(n))
    survivor = two if name == "api-1" else one
    stack.processes[name].send_signal(signal.SIGKILL)
    stack.processes[name].wait()
    killed_at = time.time()

    def taken_after() -> list[dict[str, Any]]:
        listed = sorted(
            (r for r in _listed(survivor) if r["scheduled"]), key=lambda r: r["requested_at"]
        )
        return [r for r in listed if r["requested_at"] > killed_at]

    after = wait_until(lambda: len(taken_after()) >= 2 and taken_after(), 60)
    assert {r["owner"] for r in after} != {holder}, _when(after, killed_at)
    everything = sorted(
        (r for r in _listed(survivor) if r["scheduled"]), key=lambda r: r["requested_at"]
    )
    gaps = [b["requested_at"] - a["requested_at"] for a, b in itertools.pairwise(everything)]
    assert min(gaps) >= every * 0.9, _when(everything, killed_at)
    assert re.search(r"scheduled report \S+", stack.log("api-1" if name == "api-2" else "api-2"))
