"""Burrow-like lag evaluation, one case per status."""

from __future__ import annotations

from streams.core.lagstatus import ERR, OK, STALL, STOP, WARN, Sample, partition_status, worst


def _window(*pairs: tuple[int, int | None]) -> list[Sample]:
    return [Sample(float(i), end, committed) for i, (end, committed) in enumerate(pairs)]


def test_caught_up_at_any_point_is_ok() -> None:
    assert partition_status(_window((10, 5), (12, 12), (20, 15)), has_members=True) == OK


def test_growing_lag_while_committing_is_warn() -> None:
    assert partition_status(_window((10, 5), (20, 8), (40, 10)), has_members=True) == WARN


def test_steady_lag_while_committing_is_ok() -> None:
    assert partition_status(_window((10, 5), (15, 10), (20, 15)), has_members=True) == OK


def test_no_progress_with_members_is_stall_and_without_is_stop() -> None:
    window = _window((10, 5), (12, 5), (14, 5))
    assert partition_status(window, has_members=True) == STALL
    assert partition_status(window, has_members=False) == STOP
    never = _window((10, None), (12, None))
    assert partition_status(never, has_members=False) == STOP


def test_offsets_going_backwards_or_past_the_end_are_err() -> None:
    assert partition_status(_window((10, 8), (12, 4)), has_members=True) == ERR
    assert partition_status(_window((10, 12)), has_members=True) == ERR


def test_the_group_takes_the_worst_status() -> None:
    assert worst([OK, WARN, OK]) == WARN
    assert worst([WARN, STOP, STALL]) == STOP
    assert worst([OK, ERR, STOP]) == ERR
    assert worst([]) == OK
