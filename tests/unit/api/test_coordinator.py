"""The report protocol's asking side, without a broker: a partition whose request went
unanswered is asked again, and the first whole answer is the one used."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from api import coordinator as module
from api.coordinator import Coordinator, PartitionsSilentError
from api.reportfiles import FolderFiles
from api.reportstore import ReportStore
from streams.core.protocol import WATERMARK, ReportPart
from streams.settings import Settings


class Producer:
    """Records requests; answers each partition but ``deaf`` (which answers from the
    second request on, or never when ``deaf_for_good``)."""

    def __init__(self, queue: asyncio.Queue[ReportPart], deaf: int, deaf_for_good: bool) -> None:
        self.queue, self.deaf, self.deaf_for_good = queue, deaf, deaf_for_good
        self.sent: list[int] = []

    async def send(self, _topic: str, _value: bytes, partition: int) -> Any:
        self.sent.append(partition)
        heard = partition != self.deaf or (
            not self.deaf_for_good and self.sent.count(partition) > 1
        )
        if heard:
            self.queue.put_nowait(
                ReportPart(report_id="r" * 24, partition=partition, answer=f"a{len(self.sent)}",
                           phase=WATERMARK, newest_us=None, chunk=0, chunks=1, rows=[],
                           keys=None, profile=None)
            )  # fmt: skip
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _ask(tmp_path: Path, deaf_for_good: bool, timeout_s: float) -> tuple[list[int], list[int]]:
    async def go() -> tuple[list[int], list[int]]:
        coordinator = Coordinator(Settings(), ReportStore(FolderFiles(tmp_path)))
        queue: asyncio.Queue[ReportPart] = asyncio.Queue()
        coordinator._waiting["r" * 24] = queue
        producer = Producer(queue, deaf=4, deaf_for_good=deaf_for_good)
        coordinator._producer = producer  # type: ignore[assignment]  # a stand-in for the send side
        deadline = asyncio.get_running_loop().time() + timeout_s
        parts = await coordinator._ask("r" * 24, WATERMARK, None, None, list(range(8)), deadline)
        return sorted(p.partition for p in parts), producer.sent

    return asyncio.run(go())


def test_a_silent_partition_is_asked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "ASK_AGAIN_S", 0.05)
    partitions, sent = _ask(tmp_path, deaf_for_good=False, timeout_s=5)
    assert partitions == list(range(8))
    assert sent.count(4) == 2
    assert all(sent.count(p) == 1 for p in range(8) if p != 4)


def test_a_partition_silent_to_the_end_fails_the_report_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "ASK_AGAIN_S", 0.05)
    with pytest.raises(PartitionsSilentError, match=r"partitions \[4\]"):
        _ask(tmp_path, deaf_for_good=True, timeout_s=0.3)
