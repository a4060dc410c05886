"""Reports on disk stay bounded: by count and by age, never a running one, and the index in
memory is what a restarted API reads back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.reportstore import COMPLETE, FAILED, RUNNING, ReportStore, Retention
from streams.core.zones import resolve_zone

ROW = ["s", "1.00", "2.00", "3.00", "0.00", "0.00", "0.00"]


def test_retention_by_count_keeps_the_newest_and_every_running_one(tmp_path: Path) -> None:
    store = ReportStore(tmp_path, "3")
    running = store.new_id()
    store.create(running)
    done = []
    for _ in range(5):
        report_id = store.new_id()
        store.create(report_id)
        store.complete(report_id, [ROW])
        done.append(report_id)
    store.prune()
    kept = {r["report_id"] for r in store.recent(limit=100)}
    assert kept == {running, *done[-3:]}  # the 3 newest, and the running one, however old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{running}.json"] + [f"{r}.{ext}" for r in done[-3:] for ext in ("json", "csv")]
    )
    assert store.get(done[0]) is None
    again = ReportStore(tmp_path, "3")  # a restarted API reads the same index
    assert {r["report_id"] for r in again.recent(limit=100)} == kept
    assert again.fail_abandoned() == 1
    assert again.get(running)["status"] == FAILED  # type: ignore[index]
    assert again.get(done[-1])["status"] == COMPLETE  # type: ignore[index]


def test_retention_by_age(tmp_path: Path) -> None:
    store = ReportStore(tmp_path, "100,1h")
    old, new = store.new_id(), store.new_id()
    store.create(old)
    store.complete(old, [ROW])
    store.update(old, requested_at=time.time() - 7200)
    store.create(new)
    assert store.get(old) is None
    assert store.get(new)["status"] == RUNNING  # type: ignore[index]


@pytest.mark.parametrize("text", ["", "10x", "3w", "-1"])
def test_a_bad_retention_says_what_it_takes(text: str) -> None:
    if text == "":
        assert Retention.parse(text) == Retention(None, None)
        return
    with pytest.raises(ValueError, match="expected a count"):
        Retention.parse(text)


def test_ids_that_are_not_ids_are_never_looked_up_as_files(tmp_path: Path) -> None:
    store = ReportStore(tmp_path)
    assert store.get("../../etc/passwd") is None
    assert store.get("x" * 70_000) is None


def test_the_zone_cache_is_bounded_whatever_names_clients_send() -> None:
    for i in range(3_000):
        resolve_zone(f"Nowhere/{i}")
    assert resolve_zone.cache_info().currsize <= resolve_zone.cache_info().maxsize == 1_024


def test_an_unknown_id_is_a_404_that_quotes_it_cut(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.deps import get_store
    from api.main import create_app

    app = create_app()
    app.dependency_overrides[get_store] = lambda: ReportStore(tmp_path)
    got = TestClient(app).get("/get_report", params={"report_id": "x" * 60_000})
    assert got.status_code == 404
    assert "ids come from /trigger_report" in got.json()["error"]
    assert len(got.content) < 400
