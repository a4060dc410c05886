"""Readiness tells the truth: each reason /readyz gives, from the monitor's state."""

from __future__ import annotations

import time

from api.monitor import Monitor
from streams.core.protocol import WorkerStats
from streams.settings import Settings


def _stats(name: str, partitions: list[int], ready: bool = True) -> WorkerStats:
    return WorkerStats(
        worker=name, sent_at=time.time(), ready=ready, partitions=partitions, polls_processed=0,
        messages_processed=0, messages_rejected=0, newest_processed_us={}, table_keys={},
    )  # fmt: skip


def _monitor(**state: object) -> Monitor:
    monitor = Monitor(Settings(partitions=4))
    monitor.last_ok = time.time()
    monitor.group_state = "Stable"
    monitor.members = 1
    monitor.workers = {"w1": _stats("w1", [0, 1, 2, 3])}
    for key, value in state.items():
        setattr(monitor, key, value)
    return monitor


def test_ready_when_kafka_answers_and_ready_workers_own_every_partition() -> None:
    assert _monitor().readiness() == []


def test_not_ready_while_the_last_probe_of_kafka_failed() -> None:
    reasons = _monitor(last_ok=None, last_error="TimeoutError: ").readiness()
    assert reasons == ["Kafka at 127.0.0.1:9092 did not answer the last sample: TimeoutError: "]


def test_not_ready_while_the_group_rebalances() -> None:
    for state in ("PreparingRebalance", "CompletingRebalance"):
        assert any("rebalancing" in r for r in _monitor(group_state=state).readiness())


def test_not_ready_while_a_member_has_not_reported_or_recovers() -> None:
    joining = _monitor(members=2).readiness()
    assert any("have not reported yet" in r for r in joining)
    recovering = _monitor(workers={"w1": _stats("w1", [0, 1, 2, 3], ready=False)}).readiness()
    assert any("still recovering" in r and "w1" in r for r in recovering)


def test_not_ready_while_a_partition_has_no_owner_or_no_worker_reports() -> None:
    half = _monitor(workers={"w1": _stats("w1", [0, 1])}).readiness()
    assert any("partitions [2, 3]" in r for r in half)
    stale = _stats("w1", [0, 1, 2, 3]).model_copy(update={"sent_at": time.time() - 60})
    assert any("no worker" in r for r in _monitor(workers={"w1": stale}, members=0).readiness())
