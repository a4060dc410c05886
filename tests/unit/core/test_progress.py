"""The progress watchdog's rule: stalls found, healed by steps, and no false alarm."""

from __future__ import annotations

from streams.core.progress import (
    EXIT,
    REJOIN,
    RESUME,
    Continuity,
    Offsets,
    ProgressWatch,
    Rereads,
    behind,
)

P1 = ("storemon.polls", 1)
P3 = ("storemon.polls", 3)
H1 = ("storemon.store-hours", 1)


def _run(watch: ProgressWatch, timeline: list[tuple[float, dict]]) -> list[tuple[float, str, list]]:
    steps = []
    for now, measured in timeline:
        for heal in watch.check(now, measured):
            steps.append((now, heal.step, [(s.topic, s.partition) for s in heal.stalled]))
    return steps


def test_a_partition_with_lag_and_no_progress_is_healed_step_by_step() -> None:
    watch = ProgressWatch(stall_after_s=30)
    stuck = {P1: Offsets(processed=0, end=500), P3: Offsets(processed=40, end=41)}
    steps = _run(watch, [(t, stuck) for t in range(0, 130, 5)])
    assert steps == [(30, RESUME, [P1, P3]), (60, REJOIN, [P1, P3]), (90, EXIT, [P1, P3])]
    assert watch.stalled(125) == [(P1, 125), (P3, 125)]


def test_the_stall_is_logged_with_its_offsets_and_duration() -> None:
    watch = ProgressWatch(stall_after_s=10)
    watch.check(0, {P1: Offsets(7, 19)})
    [heal] = watch.check(12.5, {P1: Offsets(7, 23)})
    assert heal.step == RESUME
    assert heal.stalled[0]._asdict() == {
        "topic": P1[0], "partition": 1, "processed": 7, "end": 23, "stalled_s": 12.5,
        "committed": None,
    }  # fmt: skip


def test_an_idle_partition_with_no_lag_never_alarms() -> None:
    watch = ProgressWatch(stall_after_s=30)
    idle = {P1: Offsets(processed=1_000, end=1_000), H1: Offsets(0, 0)}
    assert _run(watch, [(t, idle) for t in range(0, 3_600, 10)]) == []
    assert watch.stalled(3_600) == []


def test_a_slow_partition_that_moves_never_alarms() -> None:
    watch = ProgressWatch(stall_after_s=30)
    # far behind, one message every 29 s: slow, never stalled
    timeline = [(t, {P1: Offsets(processed=t // 29, end=10_000 + t)}) for t in range(0, 2_000)]
    assert _run(watch, timeline) == []


def test_progress_resets_the_steps_and_a_new_stall_starts_again_at_resume() -> None:
    watch = ProgressWatch(stall_after_s=30)
    steps = _run(
        watch,
        [(0, {P1: Offsets(5, 9)}), (31, {P1: Offsets(5, 9)}), (40, {P1: Offsets(6, 9)})]
        + [(t, {P1: Offsets(6, 9)}) for t in (69, 71, 101)],
    )
    assert steps == [(31, RESUME, [P1]), (71, RESUME, [P1]), (101, REJOIN, [P1])]


def test_lag_gone_without_progress_clears_the_stall() -> None:
    # the log end can only grow; a partition whose processed offset reaches it is done
    watch = ProgressWatch(stall_after_s=10)
    watch.check(0, {P1: Offsets(5, 9)})
    assert [h.step for h in watch.check(11, {P1: Offsets(5, 9)})] == [RESUME]
    assert watch.check(12, {P1: Offsets(9, 9)}) == []
    assert watch.stalled(12) == []


def test_a_partition_that_moved_away_is_forgotten() -> None:
    watch = ProgressWatch(stall_after_s=10)
    watch.check(0, {P1: Offsets(5, 9), P3: Offsets(0, 4)})
    watch.check(11, {P1: Offsets(5, 9), P3: Offsets(0, 4)})
    watch.check(12, {P3: Offsets(0, 4)})  # P1 went to another worker
    assert [k for k, _ in watch.stalled(12)] == [P3]
    # P1 back later: a fresh start, no step carried over
    assert watch.check(13, {P1: Offsets(5, 9), P3: Offsets(0, 4)}) == []
    assert [h.step for h in watch.check(23.5, {P1: Offsets(5, 9), P3: Offsets(0, 4)})] == [
        RESUME,
        REJOIN,
    ]


def test_after_exit_nothing_more_is_asked() -> None:
    watch = ProgressWatch(stall_after_s=1)
    stuck = {P1: Offsets(0, 1)}
    steps = _run(watch, [(t, stuck) for t in range(0, 20)])
    assert [s[1] for s in steps] == [RESUME, REJOIN, EXIT]


def test_behind_counts_what_was_written_before_the_trigger_and_not_processed() -> None:
    ends = {"polls": 120, "hours": 7, "zones": 0}
    assert behind(ends, {"polls": 120, "hours": 7, "zones": 0}) == 0
    assert behind(ends, {"polls": 100, "hours": 9, "zones": 0}) == 20  # ahead counts nothing
    assert behind(ends, {"polls": 0}) == 127  # a topic it did not name: nothing processed
    assert behind(ends, None) == 127
    assert behind({}, {"polls": 3}) == 0


def test_a_partition_processed_past_a_hole_its_commits_wait_on_is_stalled() -> None:
    # processing moves to the log end, the committed offset stays at the hole
    watch = ProgressWatch(stall_after_s=10)
    timeline = [
        (t, {P1: Offsets(processed=100 + t, end=200 + t, committed=40)}) for t in range(0, 25)
    ]
    steps = _run(watch, timeline)
    assert steps == [(10, RESUME, [P1]), (20, REJOIN, [P1])]
    [(key, _)] = watch.stalled(24)
    assert key == P1


def test_commits_that_follow_processing_are_progress() -> None:
    # the commit trails processing by a second or two, as it does every commit interval
    watch = ProgressWatch(stall_after_s=10)
    timeline = [
        (t, {P1: Offsets(processed=10 * t, end=5_000, committed=10 * (t - 2))})
        for t in range(2, 300)
    ]
    assert _run(watch, timeline) == []


def test_the_heal_seeks_to_the_lower_of_processed_and_committed() -> None:
    watch = ProgressWatch(stall_after_s=10)
    watch.check(0, {P1: Offsets(90, 100, committed=40)})
    [heal] = watch.check(10, {P1: Offsets(100, 100, committed=40)})
    assert heal.stalled[0].position == 40
    assert Offsets(7, 9).position == 7  # commit not known: processed alone
    assert Offsets(100, 100, committed=40).lag == 60


def test_time_not_ready_is_not_stalled_time_but_steps_are_kept() -> None:
    watch = ProgressWatch(stall_after_s=10)
    stuck = {P1: Offsets(5, 9)}
    assert [h.step for h in watch.check(0, stuck) + watch.check(10, stuck)] == [RESUME]
    watch.paused(30)  # a rejoin's recovery took 30 s (from 10 to 40)
    assert watch.check(41, stuck) == []  # 11 s of stall, not 41
    assert [h.step for h in watch.check(50, stuck)] == [REJOIN]


def test_continuity_finds_a_skipped_range_and_asks_for_it_once() -> None:
    seen = Continuity()
    assert [seen.see(2, o) for o in (10, 11, 12)] == [None, None, None]
    assert seen.see(2, 15) == 13  # 13 and 14 skipped: read again from 13
    assert seen.see(2, 16) is None
    assert [seen.see(2, o) for o in (13, 14, 15, 16, 17)] == [None] * 5  # read again
    assert seen.see(2, 19) == 18  # a new hole
    assert [seen.see(2, o) for o in (18, 19, 20)] == [None] * 3
    assert seen.see(2, 30) == 21
    assert seen.see(2, 30) is None  # the same hole again (gone from the log): let go
    assert seen.see(5, 7) is None  # partitions are counted apart


def test_continuity_starts_afresh_after_a_rebalance() -> None:
    seen = Continuity()
    seen.see(1, 3)
    seen.forget()
    assert seen.see(1, 900) is None  # another owner processed 4..899 meanwhile


def test_continuity_checks_the_first_message_after_a_seek_when_told_where() -> None:
    seen = Continuity()
    seen.forget()
    assert not seen.knows(1)
    seen.expect(1, 24)  # sought to the group's commit
    seen.expect(1, 90)  # already known: kept
    assert seen.see(1, 25) == 24  # the first message after the seek was skipped


def test_rereads_ask_again_until_the_reread_begins() -> None:
    reads = Rereads(retry_s=5, tries=3)
    reads.ask(("p", 1), 40, 45)
    reads.ask(("p", 1), 30, 50)  # another hole, lower: read from the lowest
    reads.saw(("p", 1), 10)  # not asked yet: a message from before is no sign
    assert reads.due(0) == ({("p", 1): 30}, [])
    assert reads.due(4) == ({}, [])  # given RETRY_S to take
    reads.saw(("p", 1), 46)  # newer messages: the rewind has not taken
    assert reads.due(5) == ({("p", 1): 30}, [])
    reads.saw(("p", 1), 30)  # read again
    assert not reads
    assert reads.due(100) == ({}, [])


def test_rereads_give_up_after_their_tries_and_forget_partitions_gone() -> None:
    reads = Rereads(retry_s=1, tries=2)
    reads.ask(("p", 1), 3, 9)
    reads.ask(("p", 2), 3, 9)
    assert reads.due(0) == ({("p", 1): 3, ("p", 2): 3}, [])
    reads.keep({("p", 1)})  # partition 2 moved: its new owner starts from the commit
    assert reads.due(1) == ({("p", 1): 3}, [])
    assert reads.due(2) == ({}, [("p", 1)])
    assert not reads


def test_rereads_are_taken_when_the_engine_hands_one_on_and_failed_ones_are_asked_again() -> None:
    reads = Rereads(retry_s=5)
    reads.ask(("p", 1), 40, 45)
    reads.ask(("p", 2), 7, 9)
    assert reads.asked() == []  # nothing sought yet
    assert reads.due(0) == ({("p", 1): 40, ("p", 2): 7}, [])
    assert reads.asked() == [("p", 1), ("p", 2)]
    reads.failed([("p", 2)])  # the rewind raised: not sought, so no sign can be read
    assert reads.asked() == [("p", 1)]
    reads.saw(("p", 2), 1)  # not sought: no sign
    reads.taken(("p", 1))
    assert reads.due(5) == ({("p", 2): 7}, [])
