"""Readiness tells the truth: each reason /readyz gives, from the monitor's state."""

from __future__ import annotations

import time

from api.monitor import Monitor
from streams.core.protocol import WorkerStats
from streams.lag import PartitionLag
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


def _lag(topic: str, partition: int, end: int, committed: int | None) -> PartitionLag:
    return PartitionLag(f"storemon.{topic}", partition, end, committed)


def test_not_ready_while_a_source_partition_makes_no_progress_for_the_stall_interval() -> None:
    monitor = _monitor(settings=Settings(partitions=4, stall_after_s=30))
    start = time.time() - 100
    for i in range(0, 40, 2):  # polls 1 and store-hours 1 never commit; polls 2 moves
        monitor.observe(
            [_lag("polls", 1, 500, None), _lag("store-hours", 1, 9, None),
             _lag("polls", 2, 10_000 + i, 10 * i), _lag("polls", 3, 70, 70)],
            start + i,
        )  # fmt: skip
        reasons = monitor.readiness(start + i)
        stalled = [r for r in reasons if "no progress" in r]
        if i < 30:
            assert stalled == [], (i, reasons)  # not yet: a stall takes the interval
    assert len(stalled) == 1
    assert "storemon.polls 1 (STALL for 38 s, 500 behind)" in stalled[0]
    assert "storemon.store-hours 1 (STALL for 38 s, 9 behind)" in stalled[0]
    assert "polls 2" not in stalled[0]  # slow but moving
    assert "polls 3" not in stalled[0]  # idle, nothing behind
    assert [(s.topic, s.partition) for s in monitor.stalled(start + 38)] == [
        ("storemon.polls", 1), ("storemon.store-hours", 1)
    ]  # fmt: skip


def test_a_partition_that_moves_again_is_ready_again() -> None:
    monitor = _monitor(settings=Settings(partitions=4, stall_after_s=5))
    start = time.time() - 20
    for i in range(8):
        monitor.observe([_lag("polls", 0, 50, 10)], start + i)
    assert any("no progress" in r for r in monitor.readiness(start + 7))
    monitor.observe([_lag("polls", 0, 50, 11)], start + 9)
    assert not any("no progress" in r for r in monitor.readiness(start + 9))


def test_report_requests_and_nobody_consuming_are_judged_like_the_rest() -> None:
    monitor = _monitor(settings=Settings(partitions=4, stall_after_s=5), members=0)
    start = time.time() - 20
    for i in range(8):
        monitor.observe([_lag("report-requests", 0, 5, None), _lag("polls", 0, 5, None)], start + i)
    [stall] = monitor.stalled(start + 7)
    assert (stall.topic, stall.status) == ("storemon.polls", "STOP")  # requests: not a source


def test_a_worker_healing_a_stall_says_so() -> None:
    healing = _stats("w1", [0, 1, 2, 3]).model_copy(update={"stalled": {"storemon.polls:1": 42.0}})
    reasons = _monitor(workers={"w1": healing}).readiness()
    assert reasons == ["worker w1 is healing stalled partitions: storemon.polls:1 for 42 s"]
