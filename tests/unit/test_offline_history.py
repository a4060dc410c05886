"""``storemon history`` and the offline monthly report on files, against figures worked by
hand (docs/semantics.md §8)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from storemon.cli import main
from streams.offline import compute_monthly
from tests.unit.core.helpers import BOUNDS


def _export(folder: Path) -> list[str]:
    # Open all week in UTC. Status: active to 06:00 on 1 May (the midpoint to the 12:00
    # poll), inactive to 00:00 on 2 May (the midpoint to the next poll; a tie goes to the
    # earlier one), active after.
    (folder / "status.csv").write_text(
        "store_id,status,timestamp_utc\n"
        "s1,active,2023-05-01 00:00:00.000000 UTC\n"
        "s1,inactive,2023-05-01 12:00:00.000000 UTC\n"
        "s1,active,2023-05-02 12:00:00.000000 UTC\n"
        "s2,active,2023-05-02 03:00:00.000000 UTC\n"
    )
    (folder / "hours.csv").write_text(
        "store_id,dayOfWeek,start_time_local,end_time_local\n"
        + "".join(f"s2,{d},10:00:00,11:00:00\n" for d in range(7))
    )
    (folder / "zones.csv").write_text("store_id,timezone_str\ns1,UTC\ns2,UTC\n")
    return ["--status", str(folder / "status.csv"), "--hours", str(folder / "hours.csv"),
            "--timezones", str(folder / "zones.csv")]  # fmt: skip


def test_history_rows_are_the_days_worked_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", *_export(tmp_path)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [
        ["store_id", "date", "uptime_s", "downtime_s", "business_s", "final"],
        ["s1", "2023-05-01", "21600.000000", "64800.000000", "86400.000000", "false"],
        ["s1", "2023-05-02", "43200.000000", "0.000000", "43200.000000", "false"],
    ]  # s2 has polls but no observation (its one poll is in closed time): no days


def test_history_of_one_store_as_json_limited_to_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--store-id", "s1", "--from", "2023-05-02", "--to", "2023-05-09", "--format", "json"]
    assert main(["history", *_export(tmp_path), *args]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {
        "store_id": "s1",
        "days": [{"date": "2023-05-02", "uptime_s": 43200.0, "downtime_s": 0.0,
                  "business_s": 43200.0, "final": False}],
    }  # fmt: skip


def test_a_bad_date_is_refused_with_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", *_export(tmp_path), "--from", "May 2023"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_the_offline_monthly_report_totals_the_month(tmp_path: Path) -> None:
    _export(tmp_path)
    month = compute_monthly(
        tmp_path / "status.csv", tmp_path / "hours.csv", tmp_path / "zones.csv", BOUNDS, "2023-05"
    )
    assert [row.to_fields() for row in month.rows] == [
        ["s1", "36.00", "18.00", "18.00", "50.00"],
        ["s2", "0.00", "0.00", "0.00", ""],
    ]
    assert month.partial  # the report time is 2 May
    april = compute_monthly(
        tmp_path / "status.csv", tmp_path / "hours.csv", tmp_path / "zones.csv", BOUNDS, "2023-04"
    )
    assert [row.to_fields()[1:] for row in april.rows] == [["0.00"] * 3 + [""]] * 2
    assert not april.partial


def test_storemon_report_month_writes_the_monthly_csv_and_says_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *_export(tmp_path), "--month", "2023-05"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "store_id,business_hours,uptime_hours,downtime_hours,uptime_pct",
        "s1,36.00,18.00,18.00,50.00",
        "s2,0.00,0.00,0.00,",
    ]
    assert "partial" in err
    assert main(["report", *_export(tmp_path), "--month", "2023-5"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
