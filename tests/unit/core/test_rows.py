"""Parsing and validating rows of the three sources (docs/semantics.md §1, §6)."""

from __future__ import annotations

import pytest

from streams.core.rows import (
    HOURS,
    POLLS,
    HeaderError,
    RowError,
    map_columns,
    parse_hours,
    parse_poll,
    parse_time_of_day,
)
from streams.core.timestamps import TimestampError, format_timestamp, parse_timestamp
from tests.unit.core.helpers import BOUNDS


@pytest.mark.parametrize(
    "text",
    [
        "2023-01-22 12:09:39.388884 UTC",
        "2023-01-22T12:09:39.388884Z",
        "2023-01-22T13:09:39.388884+01:00",
        "2023-01-22T07:09:39.388884-05:00",
        " 2023-01-22 12:09:39.388884 UTC ",
    ],
)
def test_timestamps_in_every_accepted_form_agree(text: str) -> None:
    assert format_timestamp(parse_timestamp(text)) == "2023-01-22T12:09:39.388884Z"


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2023-01-22", "2023-01-22 25:09:39 UTC", "2023-02-30 01:00:00 UTC"]
)
def test_bad_timestamps_are_rejected_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(TimestampError, match="timestamp"):
        parse_timestamp(text)


def test_columns_in_any_order_with_bom_and_spaces() -> None:
    columns = map_columns(POLLS, ["\ufefftimestamp_utc", " status ", "store_id"])
    poll = parse_poll(["2023-01-22 12:09:39 UTC", "INACTIVE", "  abc-123 "], columns, BOUNDS)
    assert poll.store_id == "abc-123"
    assert poll.active is False
    assert poll.ts_us == parse_timestamp("2023-01-22T12:09:39Z")


def test_hours_accept_day_and_dayofweek() -> None:
    for header in (
        ["store_id", "day", "start_time_local", "end_time_local"],
        ["store_id", "dayOfWeek", "start_time_local", "end_time_local"],
    ):
        row = parse_hours(["s", "6", "09:00", "17:30:15"], map_columns(HOURS, header))
        assert (row.day, row.start_us, row.end_us) == (
            6,
            9 * 3600 * 10**6,
            (17 * 3600 + 30 * 60 + 15) * 10**6,
        )


def test_missing_column_names_what_is_expected() -> None:
    with pytest.raises(HeaderError, match="'status'"):
        map_columns(POLLS, ["store_id", "timestamp_utc"])


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["s", "open", "2023-01-22 12:09:39 UTC"], "unknown status 'open'"),
        (["s", "active"], "missing field 'timestamp_utc'"),
        (["", "active", "2023-01-22 12:09:39 UTC"], "empty store_id"),
        (["s", "active", "soon"], "unparseable timestamp 'soon'"),
    ],
)
def test_bad_poll_rows_say_why(fields: list[str], reason: str) -> None:
    columns = map_columns(POLLS, ["store_id", "status", "timestamp_utc"])
    with pytest.raises(RowError, match=reason):
        parse_poll(fields, columns, BOUNDS)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25:00", "out of range"),
        ("12:60", "out of range"),
        ("24:01", "out of range"),
        ("9am", "not HH:MM"),
    ],
)
def test_bad_times_of_day(text: str, reason: str) -> None:
    with pytest.raises(RowError, match=reason):
        parse_time_of_day(text)


def test_day_outside_0_to_6_is_rejected() -> None:
    columns = map_columns(HOURS, ["store_id", "day", "start_time_local", "end_time_local"])
    with pytest.raises(RowError, match="day '7'"):
        parse_hours(["s", "7", "09:00", "10:00"], columns)


def test_24_00_is_the_end_of_the_day() -> None:
    assert parse_time_of_day("24:00") == 24 * 3600 * 10**6
