"""The report's edges: which as_of the pipeline answers, and the CSV it writes (docs/semantics.md §4)."""

from __future__ import annotations

import csv
import io

import pytest

from streams.core.exceptions import AsOfError
from streams.core.report import ReportRow, check_as_of, render_csv
from streams.core.timestamps import US_PER_DAY, TimeBounds
from tests.unit.core.helpers import us


def test_as_of_is_answered_from_a_week_before_the_newest_poll_to_now_plus_skew() -> None:
    bounds = TimeBounds(us("2026-11-23T12:00:00Z"), 300_000_000)
    newest = us("2026-11-23T11:00:00Z")
    assert check_as_of(newest - 7 * US_PER_DAY, newest, bounds) == newest - 7 * US_PER_DAY
    assert check_as_of(bounds.hi_us, newest, bounds) == bounds.hi_us
    for bad in (newest - 7 * US_PER_DAY - 1, bounds.hi_us + 1, us("9999-12-31T00:00:00Z"),
                us("0001-01-01T00:00:00Z")):  # fmt: skip
        with pytest.raises(AsOfError) as caught:
            check_as_of(bad, newest, bounds)
        message = str(caught.value)
        assert "from 2026-11-16T11:00:00Z" in message
        assert "to 2026-11-23T12:05:00Z" in message


def test_the_csv_is_rfc_4180_written_by_the_csv_module() -> None:
    rows = [ReportRow("b", 0, 0, 0, 0, 0, 0), ReportRow("a", 120_000_000, 0, 0, 0, 0, 0)]
    text = render_csv(rows)
    assert text.startswith("store_id,uptime_last_hour,")
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in parsed[1:]] == ["a", "b"]
    assert parsed[1][1] == "1.00"
