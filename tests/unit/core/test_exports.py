"""Reading the CSV exports: the fast path equals the per-row path, bad rows are kept."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from streams.core.exports import SourceError, read_hours, read_polls, read_zones
from streams.core.timestamps import parse_timestamp
from tests.unit.core.helpers import BOUNDS

GOOD = [
    "1,active,2023-01-22 12:09:39.388884 UTC",
    "2,INACTIVE ,2023-01-22 12:09:39 UTC",
    "2,active,2023-01-22T12:10:00Z",
    "3,active,2023-01-22T13:10:00+01:00",
]
BAD = [
    ("3,active", "missing field 'timestamp_utc'"),
    ("4,maybe,2023-01-22 12:09:39 UTC", "unknown status 'maybe'"),
    ("5,active,2023-02-30 12:09:39 UTC", "unparseable timestamp"),
    ("6,active,2023-01-22 25:09:39 UTC", "unparseable timestamp"),
    (",active,2023-01-22 12:09:39 UTC", "empty store_id"),
]


def _write(tmp_path: Path, lines: list[str], bom: bool = True) -> Path:
    path = tmp_path / "polls.csv"
    text = "\n".join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_equals_the_per_row_path(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    body = [rnd.choice(GOOD) for _ in range(30)] + [b for b, _ in BAD] + [""]
    rnd.shuffle(body)
    path = _write(
        tmp_path,
        [
            "status,timestamp_utc,store_id" if seed % 2 else "store_id,status,timestamp_utc",
            *_reorder(body, seed % 2),
        ],
    )
    fast, fast_rejected = read_polls(path, BOUNDS)
    slow, slow_rejected = read_polls(path, BOUNDS, fast=False)
    assert fast.store_ids == slow.store_ids
    assert np.array_equal(fast.bounds, slow.bounds)
    assert np.array_equal(fast.keys, slow.keys)
    assert fast_rejected == slow_rejected
    assert len(fast_rejected) == len(BAD)


def _reorder(lines: list[str], rotate: int) -> list[str]:
    if not rotate:
        return lines
    out = []
    for line in lines:
        if not line:
            out.append(line)
            continue
        fields = line.split(",")
        while len(fields) < 3:
            fields.append("")
        out.append(",".join([fields[1], fields[2], fields[0]]).rstrip(","))
    return out


def test_rejections_name_file_line_and_reason(tmp_path: Path) -> None:
    path = _write(
        tmp_path, ["store_id,status,timestamp_utc", GOOD[0], BAD[0][0], GOOD[1], BAD[1][0]]
    )
    polls, rejected = read_polls(path, BOUNDS)
    assert len(polls) == 2
    assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [
        (3, "missing field 'timestamp_utc'"),
        (5, "unknown status 'maybe'"),
    ]
    assert str(rejected[0]).startswith(f"{path}:3: missing field")


def test_quoted_files_take_the_per_row_path_and_keep_line_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ["store_id,status,timestamp_utc", '"1",active,"2023-01-22 12:09:39 UTC"', "2,nope,x"],
        bom=False,
    )
    polls, rejected = read_polls(path, BOUNDS)
    assert polls.store_ids == ["1"]
    assert rejected[0].line == 3


def test_hours_and_zones(tmp_path: Path) -> None:
    hours = tmp_path / "h.csv"
    hours.write_text(
        "store_id,dayOfWeek,start_time_local,end_time_local\na,0,09:00,17:00\na,7,09:00,10:00\nb,1,25:00,10:00\n"
    )
    got, rejected = read_hours(hours)
    assert list(got) == ["a"]
    assert [r.line for r in rejected] == [3, 4]
    zones = tmp_path / "z.csv"
    zones.write_text("timezone_str,store_id\nAsia/Tokyo,a\nEurope/Paris,a\n")
    assert read_zones(zones) == ({"a": "Europe/Paris"}, [])


def test_missing_file_and_missing_column_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot open"):
        read_polls(tmp_path / "nope.csv", BOUNDS)
    path = _write(tmp_path, ["store_id,state,timestamp_utc", GOOD[0]])
    with pytest.raises(SourceError, match="no column 'status'"):
        read_polls(path, BOUNDS)


def test_polls_from_the_future_or_before_2000_are_bad_rows_and_leave_n_alone(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        [
            "store_id,status,timestamp_utc",
            GOOD[0],
            "7,active,2099-01-01 00:00:00.000000 UTC",
            "8,active,1999-12-31 23:59:59.000000 UTC",
            "9,inactive,9999-12-31T23:59:59Z",
            GOOD[1],
        ],
    )
    for fast in (True, False):
        polls, rejected = read_polls(path, BOUNDS, fast=fast)
        assert polls.store_ids == ["1", "2"]
        assert polls.newest_us == parse_timestamp("2023-01-22 12:09:39.388884 UTC")
        assert [(r.line, r.reason.split(":")[0]) for r in rejected] == [
            (3, "timestamp 2099-01-01T00"),
            (4, "timestamp 1999-12-31T23"),
            (5, "timestamp 9999-12-31T23"),
        ]
        assert "in the future" in rejected[0].reason
        assert "before 2000-01-01" in rejected[1].reason
        assert "in the future" in rejected[2].reason


def test_forged_store_ids_are_bad_rows(tmp_path: Path) -> None:
    forged = [
        '"zz,injected\nROW",active,2023-01-22 12:09:39.000000 UTC',
        '=HYPERLINK(""http://x""),active,2023-01-22 12:09:39.000000 UTC',
        "a b,active,2023-01-22 12:09:39.000000 UTC",
        "x" * 129 + ",active,2023-01-22 12:09:39.000000 UTC",
    ]
    path = _write(tmp_path, ["store_id,status,timestamp_utc", GOOD[0], *forged], bom=False)
    polls, rejected = read_polls(path, BOUNDS)
    assert polls.store_ids == ["1"]
    assert len(rejected) == 4
    assert all("store_id" in r.reason for r in rejected)
    assert "129 characters" in rejected[-1].reason
    assert len(rejected[-1].reason) < 200
    unquoted = _write(tmp_path, ["store_id,status,timestamp_utc", GOOD[0], *forged[1:]], bom=False)
    fast, fast_rejected = read_polls(unquoted, BOUNDS)
    slow, slow_rejected = read_polls(unquoted, BOUNDS, fast=False)
    assert fast.store_ids == slow.store_ids == ["1"]
    assert fast_rejected == slow_rejected
