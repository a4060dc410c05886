"""Faust never commits past a hole in a topic whose offsets have none (``engine.install``):
a message the engine skipped holds the commits back until it is read again, on this
worker or on the partition's next owner."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from streams import engine
from streams.counters import counters

POLLS = TP("storemon.polls", 3)
HOURS = TP("storemon.store-hours", 3)


class Acks:
    """The state of Faust's consumer that its commit rule reads."""

    def __init__(self, committed: int | None, acked: list[int], tp: TP = POLLS) -> None:
        self._acked: defaultdict[Any, list[int]] = defaultdict(list, {tp: list(acked)})
        self._acked_index: defaultdict[Any, set[int]] = defaultdict(set, {tp: set(acked)})
        self._committed_offset: defaultdict[Any, int | None] = defaultdict(
            lambda: None, {tp: committed}
        )
        self._gap: defaultdict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._unacked_messages: set[Any] = set()


@pytest.fixture(autouse=True)
def installed() -> None:
    engine.install(holeless=frozenset({POLLS.topic}))
    counters.starts.clear()


def new_offset(acks: Acks, tp: TP = POLLS) -> int | None:
    got: int | None = Consumer._new_offset(acks, tp)  # type: ignore[arg-type]
    return got


def test_contiguous_acks_are_committed() -> None:
    assert new_offset(Acks(24, [24, 25, 26])) == 27


def test_one_skipped_message_at_the_head_holds_the_commit() -> None:
    # Faust alone commits 31 here: its check lets a hole of one through.
    assert new_offset(Acks(24, [25, 26, 27, 28, 29, 30])) is None
    assert new_offset(Acks(24, [24, 25, 26, 27, 28, 29, 30])) == 31  # read again


def test_a_hole_the_drain_saw_is_not_committed_past() -> None:
    acks = Acks(10, [10, 11, 15, 16])
    asyncio.run(Consumer._add_gap(acks, POLLS, 12, 14))  # type: ignore[arg-type]
    assert not acks._gap[POLLS]  # not taken for compaction
    assert new_offset(acks) == 12  # up to the hole, not past it


def test_a_compacted_topic_keeps_faust_rule() -> None:
    acks = Acks(10, [10, 11, 15, 16], HOURS)
    asyncio.run(Consumer._add_gap(acks, HOURS, 12, 14))  # type: ignore[arg-type]
    assert new_offset(acks, HOURS) == 17  # compaction took 12 to 14: committed past


def test_a_commit_below_the_log_start_is_not_a_hole() -> None:
    counters.starts[(POLLS.topic, POLLS.partition)] = 500  # retention deleted up to 500
    assert new_offset(Acks(24, [500, 501])) == 502


class _Message:
    def __init__(self, tp: TP, offset: int) -> None:
        self.tp, self.offset, self.acked = tp, offset, False


def test_records_applied_from_the_log_are_acknowledged_and_the_commits_move_on() -> None:
    acks = Acks(209, list(range(254, 261)), HOURS)  # 209 to 253 skipped by the engine
    lost = _Message(HOURS, 230)
    acks._unacked_messages = {lost, _Message(POLLS, 230)}
    assert new_offset(acks, HOURS) is None  # Faust holds the commit at the hole
    engine.acknowledge(acks, HOURS, range(209, 254))
    engine.acknowledge(acks, HOURS, [230, 100])  # again, and one already committed: nothing
    assert sorted(acks._acked[HOURS]) == list(range(209, 261))
    assert new_offset(acks, HOURS) == 261
    assert lost.acked
    assert [m.tp for m in acks._unacked_messages] == [POLLS]  # a rebalance need not wait
