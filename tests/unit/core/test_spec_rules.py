"""One hand-computed case per rule of docs/semantics.md §2–§4.

Columns of a row: up hour (min), up day (h), up week (h), down hour, down day, down week.
2023-01-23 is a Monday.
"""

from __future__ import annotations

from streams.core.batch import quality_of
from streams.core.report import ReportRow
from tests.unit.core.helpers import profile, row


def test_overnight_shift_runs_into_the_next_day() -> None:
    prof = profile([(0, "22:00", "02:00")])
    got = row([("2023-01-23T23:00:00Z", True)], prof, "2023-01-24T03:00:00Z")
    assert got == ["0.00", "4.00", "4.00", "0.00", "0.00", "0.00"]


def test_equal_start_and_end_is_open_24_hours() -> None:
    prof = profile([(0, "10:00", "10:00")])
    got = row([("2023-01-23T12:00:00Z", False)], prof, "2023-01-24T12:00:00Z")
    # Business time Mon 10:00 → Tue 10:00; the day window starts Mon 12:00.
    assert got == ["0.00", "0.00", "0.00", "0.00", "22.00", "24.00"]


def test_overlapping_rows_count_once() -> None:
    prof = profile([(0, "09:00", "12:00"), (0, "11:00", "14:00")])
    got = row([("2023-01-23T10:00:00Z", True)], prof, "2023-01-23T14:00:00Z")
    assert got == ["60.00", "5.00", "5.00", "0.00", "0.00", "0.00"]


def test_split_shifts_on_one_day_each_count() -> None:
    prof = profile([(0, "09:00", "11:00"), (0, "13:00", "15:00")])
    polls = [("2023-01-23T10:00:00Z", True), ("2023-01-23T14:00:00Z", False)]
    got = row(polls, prof, "2023-01-23T15:00:00Z")
    # Midpoint 12:00 lies in the closed gap: the morning is up, the afternoon down.
    assert got == ["0.00", "2.00", "2.00", "60.00", "2.00", "2.00"]


def test_a_day_without_rows_is_closed() -> None:
    prof = profile([(0, "09:00", "17:00")])
    polls = [("2023-01-23T10:00:00Z", True), ("2023-01-24T10:00:00Z", False)]
    got = row(polls, prof, "2023-01-24T12:00:00Z")
    # Tuesday is closed: its poll is ignored and it adds no business time.
    assert got == ["0.00", "5.00", "8.00", "0.00", "0.00", "0.00"]


def test_no_rows_at_all_is_open_24_7_and_extrapolates_both_ways() -> None:
    prof = profile([])
    polls = [("2023-01-23T10:30:00Z", False), ("2023-01-23T11:30:00Z", True)]
    got = row(polls, prof, "2023-01-23T12:00:00Z")
    # Midpoint 11:00 is the hour window's start: the hour is all up; before it all down.
    assert got == ["60.00", "1.00", "1.00", "0.00", "23.00", "167.00"]


def test_missing_zone_means_america_chicago() -> None:
    prof = profile([(0, "09:00", "17:00")], zone=None)
    # 16:00 in Chicago (CST, UTC−6) is 22:00 UTC; business ends 23:00 UTC.
    got = row([("2023-01-23T22:00:00Z", True)], prof, "2023-01-23T23:30:00Z")
    assert got == ["30.00", "8.00", "8.00", "0.00", "0.00", "0.00"]


def test_invalid_zone_means_america_chicago_and_is_a_warning() -> None:
    prof = profile([(0, "09:00", "17:00")], zone="Mars/Olympus_Mons")
    got = row([("2023-01-23T22:00:00Z", True)], prof, "2023-01-23T23:30:00Z")
    assert got == ["30.00", "8.00", "8.00", "0.00", "0.00", "0.00"]
    assert quality_of({"bad": prof, "ok": profile([], zone="Asia/Tokyo")}).invalid_zones == ["bad"]


def test_dst_spring_forward_day_is_23_hours_long() -> None:
    # 2023-03-12 (Sunday) 02:00 EST → 03:00 EDT: 00:00 EST = 05:00Z, 12:00 EDT = 16:00Z.
    prof = profile([(6, "00:00", "12:00")], zone="America/New_York")
    got = row([("2023-03-12T06:00:00Z", True)], prof, "2023-03-12T20:00:00Z")
    assert got == ["0.00", "11.00", "11.00", "0.00", "0.00", "0.00"]


def test_dst_gap_times_resolve_like_zoneinfo_fold_0() -> None:
    # 02:00 does not exist that day; fold=0 reads it as EST (07:00Z). 04:00 EDT is 08:00Z.
    prof = profile([(6, "02:00", "04:00")], zone="America/New_York")
    got = row([("2023-03-12T07:30:00Z", False)], prof, "2023-03-12T09:00:00Z")
    assert got == ["0.00", "0.00", "0.00", "0.00", "1.00", "1.00"]
    # 02:30 (EST, 07:30Z) to 03:30 (EDT, 07:30Z): no time at all.
    empty = profile([(6, "02:30", "03:30")], zone="America/New_York")
    got = row([("2023-03-12T07:30:00Z", False)], empty, "2023-03-12T09:00:00Z")
    assert got == ["0.00"] * 6


def test_dst_fall_back_day_is_25_hours_long() -> None:
    # 2023-11-05 (Sunday) 02:00 EDT → 01:00 EST: 00:00 EDT = 04:00Z, 12:00 EST = 17:00Z.
    prof = profile([(6, "00:00", "12:00")], zone="America/New_York")
    got = row([("2023-11-05T05:00:00Z", True)], prof, "2023-11-05T18:00:00Z")
    assert got == ["0.00", "13.00", "13.00", "0.00", "0.00", "0.00"]


def test_dst_repeated_time_takes_the_first_occurrence() -> None:
    # 01:30 happens twice; fold=0 is the first, in EDT: 05:30Z to 05:45Z.
    prof = profile([(6, "01:30", "01:45")], zone="America/New_York")
    got = row([("2023-11-05T05:40:00Z", True)], prof, "2023-11-05T06:20:00Z")
    assert got == ["15.00", "0.25", "0.25", "0.00", "0.00", "0.00"]


def test_duplicate_polls_at_one_instant_inactive_wins() -> None:
    polls = [("2023-01-23T10:00:00Z", True), ("2023-01-23T10:00:00Z", False)]
    got = row(polls, profile([]), "2023-01-23T10:30:00Z")
    assert got == ["0.00", "0.00", "0.00", "60.00", "24.00", "168.00"]
    # Replaying the same polls again changes nothing.
    assert row(polls + polls, profile([]), "2023-01-23T10:30:00Z") == got


def test_polls_outside_business_hours_are_ignored() -> None:
    prof = profile([(0, "09:00", "10:00")])
    polls = [("2023-01-23T09:30:00Z", True), ("2023-01-23T10:05:00Z", False)]
    got = row(polls, prof, "2023-01-23T10:30:00Z")
    assert got == ["30.00", "1.00", "1.00", "0.00", "0.00", "0.00"]


def test_observation_before_the_window_shapes_it() -> None:
    polls = [("2023-01-23T10:50:00Z", False), ("2023-01-23T11:50:00Z", True)]
    got = row(polls, profile([]), "2023-01-23T12:00:00Z")
    # Midpoint 11:20: the hour window [11:00, 12:00) is 20 min down, 40 min up.
    assert got == ["40.00", "0.67", "0.67", "20.00", "23.33", "167.33"]


def test_status_carries_across_a_closed_period() -> None:
    prof = profile([(0, "09:00", "10:00"), (1, "09:00", "10:00")])
    polls = [("2023-01-23T09:10:00Z", False), ("2023-01-24T09:50:00Z", True)]
    got = row(polls, prof, "2023-01-24T10:00:00Z")
    # Midpoint Mon 21:30 is closed: all of Monday's hour is down, Tuesday's is up.
    # The day window starts Mon 10:00, after Monday's hour; the week holds both.
    assert got == ["60.00", "1.00", "1.00", "0.00", "0.00", "1.00"]


def test_store_without_observation_has_a_row_of_zeros() -> None:
    prof = profile([(0, "09:00", "10:00")])
    got = row([("2023-01-23T12:00:00Z", True)], prof, "2023-01-23T13:00:00Z")
    assert got == ["0.00"] * 6


def test_store_without_poll_up_to_the_report_time_has_no_row() -> None:
    assert row([("2023-01-23T12:00:00Z", True)], profile([]), "2023-01-23T11:00:00Z") is None
    assert row([], profile([]), "2023-01-23T11:00:00Z") is None


def test_as_of_ignores_later_polls() -> None:
    polls = [
        ("2023-01-23T10:00:00Z", True),
        ("2023-01-23T11:00:00Z", False),
        ("2023-01-23T11:10:00Z", True),
    ]
    got = row(polls, profile([]), "2023-01-23T11:05:00Z")
    # Only the first two count: midpoint 10:30; up before it, down after (35 min).
    assert got == ["25.00", "23.42", "167.42", "35.00", "0.58", "0.58"]


def test_values_round_half_up_to_two_decimals() -> None:
    half_hundredth_minute = 600_000  # ticks (½ µs): 0.3 s = 0.005 min
    r = ReportRow("s", half_hundredth_minute, 0, 0, half_hundredth_minute - 1, 0, 0)
    assert r.to_fields() == ["s", "0.01", "0.00", "0.00", "0.00", "0.00", "0.00"]


def test_whole_day_shift_on_spring_forward_runs_to_the_same_local_time_23_hours_later() -> None:
    # Sunday 2023-03-12 01:00 EST (06:00Z) to Monday 01:00 EDT (05:00Z): 23 hours.
    prof = profile([(6, "01:00", "01:00")], zone="America/New_York")
    got = row([("2023-03-12T12:00:00Z", False)], prof, "2023-03-13T07:00:00Z")
    # The day window [Sun 07:00Z, Mon 07:00Z) holds 07:00Z to 05:00Z; the hour none of it.
    assert got == ["0.00", "0.00", "0.00", "0.00", "22.00", "23.00"]


def test_whole_day_shift_on_fall_back_runs_to_the_same_local_time_25_hours_later() -> None:
    # Sunday 2023-11-05 00:00 EDT (04:00Z) to Monday 00:00 EST (05:00Z): 25 hours.
    prof = profile([(6, "00:00", "00:00")], zone="America/New_York")
    got = row([("2023-11-05T10:00:00Z", True)], prof, "2023-11-06T06:00:00Z")
    assert got == ["0.00", "23.00", "25.00", "0.00", "0.00", "0.00"]


def test_open_around_the_clock_has_no_gap_and_no_overlap_across_dst() -> None:
    every_day = profile([(d, "00:00", "00:00") for d in range(7)], zone="America/New_York")
    for poll, now in (
        ("2023-11-03T12:00:00Z", "2023-11-08T12:00:00Z"),  # the week holds the fall-back night
        ("2023-03-10T12:00:00Z", "2023-03-15T12:00:00Z"),  # ... and this one spring-forward
    ):
        got = row([(poll, True)], every_day, now)
        assert got == ["60.00", "24.00", "168.00", "0.00", "0.00", "0.00"], (poll, got)


def test_an_observation_long_before_the_window_still_shapes_it() -> None:
    # Open Mondays 09:00–10:00 UTC. The only observation is 58 days before the report time;
    # every later poll is outside business hours. Its status holds for the week's Monday.
    prof = profile([(0, "09:00", "10:00")])
    polls = [("2023-01-02T09:30:00Z", False)]
    polls += [(f"2023-{m:02d}-{d:02d}T12:00:00Z", True) for m, d in
              [(1, x) for x in range(3, 32)] + [(2, x) for x in range(1, 29)] + [(3, 1)]]  # fmt: skip
    got = row(polls, prof, "2023-03-01T12:00:00Z")
    assert got == ["0.00", "0.00", "0.00", "0.00", "0.00", "1.00"]


def test_any_as_of_is_answered_far_from_the_polls() -> None:
    polls = [("2023-01-23T10:00:00Z", True)]
    # Years after the last poll: its status extends to every later instant.
    assert row(polls, profile([]), "9999-12-30T00:00:00Z") == [
        "60.00", "24.00", "168.00", "0.00", "0.00", "0.00",
    ]  # fmt: skip
    # Before the first poll: no row.
    assert row(polls, profile([]), "0001-01-10T00:00:00Z") is None
