"""Report records stay bounded (by count and by age, never a running one), every change
is written to the reports topic (tombstones for those let go), an instance's index takes
the newest version of each, and a running report whose instance went silent is failed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from api.reportfiles import FolderFiles
from api.reportstore import COMPLETE, FAILED, RUNNING, ReportStore, Retention
from streams.core.zones import resolve_zone

ROW = ["s", "1.00", "2.00", "3.00", "0.00", "0.00", "0.00"]


class Topic:
    """What the store writes to the reports topic, in order."""

    def __init__(self) -> None:
        self.written: list[tuple[str, dict[str, Any] | None]] = []

    async def put(self, report_id: str, record: dict[str, Any] | None) -> None:
        self.written.append((report_id, None if record is None else dict(record)))

    def replay_into(self, store: ReportStore) -> None:
        for report_id, record in self.written:
            store.apply(report_id, record)


def _store(folder: Path, retention: str = "1000,30d", **kw: Any) -> tuple[ReportStore, Topic]:
    topic = Topic()
    return ReportStore(FolderFiles(folder), retention, topic.put, **kw), topic


def test_retention_by_count_keeps_the_newest_and_every_running_one(tmp_path: Path) -> None:
    store, topic = _store(tmp_path, "3")

    async def go() -> tuple[str, list[str]]:
        await store.files.start()
        running = store.new_id()
        await store.create(running)
        done = []
        for _ in range(5):
            report_id = store.new_id()
            await store.create(report_id)
            await store.complete(report_id, [ROW])
            done.append(report_id)
        await store.prune()
        return running, done

    running, done = asyncio.run(go())
    kept = {r["report_id"] for r in store.recent(limit=100)}
    assert kept == {running, *done[-3:]}  # the 3 newest, and the running one, however old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{r}.csv" for r in done[-3:])
    assert store.get(done[0]) is None
    assert (done[0], None) in topic.written  # a tombstone for each one let go
    # Another instance reads the topic and knows the same reports, in the same states.
    other, _ = _store(tmp_path, "3")
    topic.replay_into(other)
    assert {r["report_id"] for r in other.recent(limit=100)} == kept
    assert other.get(running)["status"] == RUNNING  # type: ignore[index]
    assert other.get(done[-1])["status"] == COMPLETE  # type: ignore[index]
    assert other.running == {running}


def test_retention_by_age(tmp_path: Path) -> None:
    store, _ = _store(tmp_path, "100,1h")

    async def go() -> tuple[str, str]:
        await store.files.start()
        old, new = store.new_id(), store.new_id()
        await store.create(old)
        await store.complete(old, [ROW])
        await store.update(old, requested_at=time.time() - 7200)
        await store.create(new)
        return old, new

    old, new = asyncio.run(go())
    assert store.get(old) is None
    assert store.get(new)["status"] == RUNNING  # type: ignore[index]


def test_the_index_keeps_the_newest_version_of_a_record(tmp_path: Path) -> None:
    store, topic = _store(tmp_path)
    report_id = store.new_id()

    async def go() -> None:
        await store.create(report_id)
        await store.fail(report_id, "no answer")

    asyncio.run(go())
    # Its own writes come back from the topic later, the older first: the newer stays.
    topic.replay_into(store)
    assert store.get(report_id)["status"] == FAILED  # type: ignore[index]
    store.apply(report_id, topic.written[0][1])  # the Running version, read again
    assert store.get(report_id)["status"] == FAILED  # type: ignore[index]
    assert store.running == set()
    store.apply(report_id, None)  # a tombstone
    assert store.get(report_id) is None


def test_a_running_report_of_a_silent_instance_is_failed_and_a_live_ones_is_not(
    tmp_path: Path,
) -> None:
    now = [1_000.0]
    dead, topic = _store(tmp_path, owner="dead", clock=lambda: now[0])
    live, _ = _store(tmp_path, owner="live", clock=lambda: now[0])
    survivor, _ = _store(tmp_path, owner="survivor", clock=lambda: now[0])
    orphan, kept = dead.new_id(), live.new_id()

    async def go() -> list[str]:
        await dead.create(orphan)
        await live.create(kept)
        for record in (dead.get(orphan), live.get(kept)):
            survivor.apply(record["report_id"], record)  # type: ignore[index]
        assert survivor.orphans(7) == []  # both just heard from: a start-up fails nothing
        now[0] += 6
        await live.heartbeat({kept})
        survivor.apply(kept, live.get(kept))
        now[0] += 2
        return await survivor.fail_orphans(7)

    assert asyncio.run(go()) == [orphan]
    error = survivor.get(orphan)["error"]  # type: ignore[index]
    assert survivor.get(orphan)["status"] == FAILED  # type: ignore[index]
    assert "(dead) stopped" in error
    assert "trigger it again" in error
    assert survivor.get(kept)["status"] == RUNNING  # type: ignore[index]
    assert topic.written[-1][1]["status"] == RUNNING  # type: ignore[index]  # dead wrote no more


def test_a_record_kafka_refuses_is_not_shown_here(tmp_path: Path) -> None:
    from api.coordinator import KafkaUnavailableError

    topic, refuse = Topic(), [False]

    async def put(report_id: str, record: dict[str, Any] | None) -> None:
        if refuse[0]:
            raise KafkaUnavailableError("not connected to Kafka yet")
        await topic.put(report_id, record)

    store = ReportStore(FolderFiles(tmp_path), "1000,30d", put)
    kept, refused = store.new_id(), store.new_id()

    async def go() -> None:
        await store.create(kept, scheduled=True)
        refuse[0] = True
        with pytest.raises(KafkaUnavailableError):
            await store.create(refused, scheduled=True)
        with pytest.raises(KafkaUnavailableError):
            await store.fail(kept, "never written")

    asyncio.run(go())
    assert store.get(refused) is None  # a phantom "Running" no other instance knows of
    assert store.running == {kept}
    assert store.get(kept)["status"] == RUNNING  # type: ignore[index]  # the refused change undone
    assert store.last_scheduled_at == store.get(kept)["requested_at"]  # type: ignore[index]


def test_a_running_report_this_instance_no_longer_runs_is_failed(tmp_path: Path) -> None:
    now = [1_000.0]
    store, _ = _store(tmp_path, owner="here", clock=lambda: now[0])
    lost, running = store.new_id(), store.new_id()

    async def go() -> list[str]:
        await store.create(lost)
        await store.create(running)
        now[0] += 8
        return await store.fail_orphans(7, {running})

    assert asyncio.run(go()) == [lost]
    assert store.get(lost)["status"] == FAILED  # type: ignore[index]
    assert store.get(running)["status"] == RUNNING  # type: ignore[index]


@pytest.mark.parametrize("text", ["", "10x", "3w", "-1"])
def test_a_bad_retention_says_what_it_takes(text: str) -> None:
    if text == "":
        assert Retention.parse(text) == Retention(None, None)
        return
    with pytest.raises(ValueError, match="expected a count"):
        Retention.parse(text)


def test_ids_that_are_not_ids_are_never_looked_up_as_files(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
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
    app.dependency_overrides[get_store] = lambda: _store(tmp_path)[0]
    got = TestClient(app).get("/get_report", params={"report_id": "x" * 60_000})
    assert got.status_code == 404
    assert "ids come from /trigger_report" in got.json()["error"]
    assert len(got.content) < 400
