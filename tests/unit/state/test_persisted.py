"""The persisted changelog offset never passes records this worker has not applied."""

from __future__ import annotations

from streams.state.rocksdb import persisted_after


def test_our_records_that_follow_on_move_the_offset() -> None:
    assert persisted_after(None, 0, 0) == 0
    assert persisted_after(41, 42, 49) == 49
    assert persisted_after(49, 50, 50) == 50


def test_records_of_another_writer_in_between_keep_it_where_it_was() -> None:
    # frozen past its session: the new owner wrote 42..60, then our late records came
    assert persisted_after(41, 61, 63) == 41
    assert persisted_after(None, 7, 9) is None  # someone wrote 0..6: read them at restore
    # and stays there for later writes too, until a restore reads the gap
    assert persisted_after(41, 64, 64) == 41


def test_a_record_already_counted_moves_nothing_back() -> None:
    assert persisted_after(50, 40, 45) == 50
