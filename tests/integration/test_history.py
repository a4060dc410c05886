"""Days kept after their polls (docs/semantics.md §8.2): a scenario longer than the 14 days
of polls the pipeline keeps, compacted as it would be over weeks (``refresh_every_s``
short), serves every day of every store over HTTP exactly as ``storemon history`` computes
them offline from every poll, and monthly reports over HTTP exactly as ``storemon report
--month`` computes them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from replay.synthetic import generate
from tests.integration.conftest import (
    Stack,
    offline_csv,
    offline_history,
    read_records,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_days_older_than_the_polls_kept_are_served_as_offline(
    stack: Stack, loop_2023: Path, tmp_path: Path
) -> None:
    # 24 days from mid-January into February: stored days, polls kept, and a month boundary.
    data = generate(
        loop_2023, tmp_path / "data", stores=60, days=24, seed=37, end="2023-02-10T18:00:00"
    )
    files = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
    stack.settings = stack.settings.model_copy(update={"refresh_every_s": 3.0})
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    stack.replay(files)
    stack.wait_caught_up()
    offline = offline_history(files)
    assert len(offline) > 50
    assert max(len(days) for days in offline.values()) > 20  # more days than polls kept
    stored = f"{stack.settings.app_id}-history-changelog"

    def served(store_id: str) -> list[object]:
        got = httpx.get(f"{url}/stores/{store_id}/history", timeout=30)
        assert got.status_code == 200, got.text
        days: list[object] = got.json()["days"]
        return days

    # Every store is compacted within a few seconds: its old days stored, its polls dropped.
    def first_differing() -> str:
        for s, d in offline.items():
            if served(s) != d:
                return f"{s}: served {served(s)[:2]}, offline {d[:2]}"
        return "none"

    wait_until(lambda: all(served(s) == d for s, d in offline.items()), 120, why=first_differing)
    records = read_records(stack.settings.bootstrap_servers, stored)
    assert len({r.key for r in records}) >= len(offline)  # a mark and months per store
    finals = [d for days in offline.values() for d in days if d["final"]]
    assert finals  # days older than the 14 days of polls are served from what was stored
    # A span of old days only: from the stored records alone.
    some, days = max(offline.items(), key=lambda item: len(item[1]))
    old = [d for d in days if d["final"]][:3]
    got = httpx.get(
        f"{url}/stores/{some}/history", params={"from": old[0]["date"], "to": old[-1]["date"]},
        timeout=30,
    ).json()  # fmt: skip
    assert got["days"] == old
    assert "Traceback" not in stack.log("worker-1")

    # Monthly reports: January (over, partly from stored days) and February (partial).
    for month, partial in (("2023-01", "false"), ("2023-02", "true")):
        got, headers = _monthly(url, month)
        # (the offline text is read with universal newlines: CRLF comes back as LF)
        assert got.replace("\r\n", "\n") == offline_csv(files, "--month", month), month
        assert headers["X-Report-Partial"] == partial
        assert len(got.splitlines()) == len(offline) + 1
    listed = httpx.get(f"{url}/reports", timeout=30).json()
    assert {(r["month"], r["partial"]) for r in listed if r["month"]} == {
        ("2023-01", False),
        ("2023-02", True),
    }
    bad = httpx.post(f"{url}/trigger_report", params={"month": "2023-13"}, timeout=30)
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"].startswith("month:")


def _monthly(url: str, month: str) -> tuple[str, httpx.Headers]:
    """A monthly report over HTTP, once complete: its CSV and headers."""
    report_id = httpx.post(f"{url}/trigger_report", params={"month": month}, timeout=30).json()[
        "report_id"
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=30)
        assert got.status_code == 200, got.text
        if got.headers.get("X-Report-Status") == "Complete":
            return got.text, got.headers
        assert got.json()["status"] == "Running", got.text
        time.sleep(0.05)
    raise AssertionError(f"the monthly report of {month} was not complete in 120 s")
