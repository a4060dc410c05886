"""``storemon report`` end to end on files: the real data, bad rows, exit codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from storemon.cli import main
from streams.core.exports import read_hours, read_polls
from tests.unit.core.helpers import BOUNDS

COLUMNS = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]


def _files(d: Path) -> list[str]:
    return [
        "--status",
        str(d / "store_status_sample.csv"),
        "--hours",
        str(d / "menu_hours.csv"),
        "--timezones",
        str(d / "timezones.csv"),
    ]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_real_data_meets_the_invariants(
    loop_2023: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = loop_2023
    code, out, err = _run(capsys, *_files(d))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == COLUMNS
    polls, _ = read_polls(d / "store_status_sample.csv", BOUNDS)
    assert [r["store_id"] for r in rows] == sorted(polls.store_ids)
    hours, _ = read_hours(d / "menu_hours.csv")
    full_24_7 = 0
    for r in rows:
        for up, down, whole in (
            ("uptime_last_hour", "downtime_last_hour", 60),
            ("uptime_last_day", "downtime_last_day", 24),
            ("uptime_last_week", "downtime_last_week", 168),
        ):
            total = float(r[up]) + float(r[down])
            assert float(r[up]) >= 0
            assert float(r[down]) >= 0
            assert total <= whole + 0.01
            if r["store_id"] not in hours and total > 0:
                assert abs(total - whole) <= 0.01  # open 24×7: every minute is counted
                full_24_7 += 1
        assert float(r["uptime_last_day"]) <= float(r["uptime_last_week"]) + 0.01
    assert full_24_7 > 100
    assert "6424 stores at 2023-01-25T18:13:18.647069Z" in err


def test_bad_rows_are_reported_and_good_rows_still_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    polls = tmp_path / "polls.csv"
    polls.write_text(
        "store_id,status,timestamp_utc\n"
        "a,active,2023-01-23 10:00:00 UTC\n"
        "a,dunno,2023-01-23 10:30:00 UTC\n"
        "b,inactive,2023-01-23T11:00:00Z\n"
        "a,active,2099-01-01 00:00:00.000000 UTC\n"
        "=cmd|x,active,2023-01-23 10:00:00 UTC\n"
    )
    hours = tmp_path / "hours.csv"
    hours.write_text("store_id,day,start_time_local,end_time_local\nb,0,25:00,10:00\n")
    zones = tmp_path / "zones.csv"
    zones.write_text("store_id,timezone_str\na,Nowhere/Land\n")
    out_file = tmp_path / "out" / "report.csv"
    code, out, err = _run(
        capsys,
        "--status",
        str(polls),
        "--hours",
        str(hours),
        "--timezones",
        str(zones),
        "--out",
        str(out_file),
    )
    assert code == 0
    assert out == ""
    assert f"{polls}:3: unknown status 'dunno'" in err
    assert f"{hours}:2: time '25:00' is out of range" in err
    assert f"{polls}:5: timestamp 2099-01-01T00:00:00Z is in the future" in err
    assert f"{polls}:6: store_id '=cmd|x' has characters other than" in err
    # The poll from 2099 does not move the report time: N is b's poll.
    assert "2 stores at 2023-01-23T11:00:00Z; 4 rows rejected; 1 invalid time zones" in err
    lines = out_file.read_text().splitlines()
    assert out_file.read_bytes().endswith(b"\r\n")  # RFC 4180
    assert lines[1:] == [
        "a,60.00,24.00,168.00,0.00,0.00,0.00",
        "b,0.00,0.00,0.00,60.00,24.00,168.00",
    ]


def test_one_store_and_as_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], loop_2023: Path
) -> None:
    args = [*_files(loop_2023), "--as-of", "2023-01-24T12:00:00Z"]
    code, everything, _ = _run(capsys, *args)
    assert code == 0
    first = everything.splitlines()[1]
    code, one, _ = _run(capsys, *args, "--store-id", first.split(",")[0])
    assert one.splitlines() == everything.splitlines()[:2]


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "z.csv"
    empty.write_text("store_id,timezone_str\n")
    hours = tmp_path / "h.csv"
    hours.write_text("store_id,day,start_time_local,end_time_local\n")
    missing = str(tmp_path / "missing.csv")
    code, _, err = _run(
        capsys, "--status", missing, "--hours", str(hours), "--timezones", str(empty)
    )
    assert code == 2
    assert "missing.csv: cannot open polls file" in err
    code, _, err = _run(
        capsys, "--status", missing, "--hours", str(empty), "--timezones", str(empty)
    )
    assert code == 2
    assert "z.csv:1: hours header" in err
    polls = tmp_path / "p.csv"
    polls.write_text("store_id,status,timestamp_utc\nx,bad,bad\n")
    code, _, err = _run(
        capsys, "--status", str(polls), "--hours", str(hours), "--timezones", str(empty)
    )
    assert code == 1
    assert "no valid poll" in err
