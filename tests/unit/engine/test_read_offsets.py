"""Faust's read offsets held down by a rewind: records fetched before it cannot raise them
past the offsets sought (or Faust would drop what is read again)."""

from __future__ import annotations

from streams.engine import ReadOffsets

TP = ("storemon.polls", 2)


def test_a_rewind_holds_the_offset_until_a_message_read_again_comes() -> None:
    read = ReadOffsets()
    read[TP] = 120  # the drain handed on offset 120
    read.hold(TP, 40)
    assert read[TP] == 40
    read[TP] = 121  # fetched before the seek, or under way when it was asked
    read[TP] = 150
    assert read[TP] == 40  # Faust still takes offsets from 40
    read[TP] = 40  # the first message read again
    read[TP] = 41
    assert read[TP] == 41
    read[TP] = 200  # from here on, as Faust keeps it
    assert read[TP] == 200


def test_faust_own_seeks_and_revokes_end_a_hold() -> None:
    read = ReadOffsets()
    read[TP] = 90
    read.hold(TP, 10)
    read.update({TP: 95})  # perform_seek to the committed offsets
    read[TP] = 96
    assert read[TP] == 96
    read.hold(TP, 10)
    read.pop(TP)  # revoked
    read[TP] = 300
    assert read[TP] == 300


def test_an_unknown_partition_reads_as_none_and_can_be_held() -> None:
    read = ReadOffsets()
    assert read[TP] is None
    read.hold(TP, 5)
    read[TP] = 6  # under way before the rewind
    assert read[TP] == 5
    read[TP] = 5
    read[TP] = 6
    assert read[TP] == 6
