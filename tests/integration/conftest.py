"""The real stack for integration tests: one Kafka broker per session; workers and the API
as child processes per test, each test on its own topics, consumer group and folders."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from storemon.localkafka import LocalKafka
from storemon.locals3 import Endpoint, LocalS3
from storemon.processes import STOREMON, Supervisor, settings_env, take_report
from streams.settings import ROOT, Settings

# Several sessions on one machine (each developer's) pick other ports with this variable.
# Every fixed port stays below Linux's ephemeral range (32768-60999): an outgoing connection
# may hold any port inside it for a while, and a broker would then fail to bind.
KAFKA_PORT = int(os.environ.get("STOREMON_TEST_KAFKA_PORT", "19092"))
S3_PORT = int(os.environ.get("STOREMON_TEST_S3_PORT", str(KAFKA_PORT + 10)))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A fresh single-node Kafka for the whole session (a fault test may kill and restart
    it: it is started again, on its data, if it is found down)."""
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}",
        controller_port=KAFKA_PORT + 1,
        local_dir=ROOT / ".local",
    )
    local = LocalKafka(settings, home=tmp_path_factory.mktemp("kafka"))
    local.up(fresh=True)
    try:
        yield local
    finally:
        local.down()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """A local S3 server (s3proxy from Maven Central) for the whole session."""
    server = LocalS3(tmp_path_factory.mktemp("s3"), S3_PORT)
    try:
        yield server.up()
    finally:
        server.down()


@pytest.fixture
def kafka(broker: LocalKafka) -> str:
    """The session broker's bootstrap address (started again if a test left it down)."""
    if broker.pid() is None:
        broker.up()
    return broker.settings.bootstrap_servers


class Stack(Supervisor):
    """One test's pipeline on its own topics, group and folders."""

    def __init__(self, bootstrap: str, folder: Path) -> None:
        name = f"t{uuid.uuid4().hex[:10]}"
        super().__init__(
            Settings(
                bootstrap_servers=bootstrap,
                app_id=name,
                topic_prefix=name,
                data_dir=folder / "worker",
                reports_dir=folder / "reports",
                report_timeout_s=60,
            ),
            folder,
        )
        self.api_url: str | None = None

    def start_api(self) -> str:
        self.api_url = self.api()
        return self.api_url

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STOREMON, *args], env=settings_env(self.settings), capture_output=True, text=True,
            timeout=timeout_s, check=False, cwd=self.folder,
        )  # fmt: skip

    def replay(self, files: dict[str, Path], *extra: str) -> str:
        result = self.run(
            "replay", "--status", str(files["status"]), "--hours", str(files["hours"]),
            "--timezones", str(files["timezones"]), *extra,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def wait_caught_up(self, timeout_s: float = 180) -> None:
        result = self.run(
            "lag", "--wait-zero", "--timeout", str(timeout_s), timeout_s=timeout_s + 30
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def report(self, **params: str) -> str:
        assert self.api_url is not None
        return take_report(self.api_url, **params)[1]


@pytest.fixture
def stack(kafka: str, tmp_path: Path) -> Iterator[Stack]:
    """A pipeline of this test's own; its processes stop at the end."""
    s = Stack(kafka, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


def wait_until(
    predicate: Callable[[], Any],
    timeout_s: float = 60.0,
    every_s: float = 0.3,
    why: Callable[[], str] = lambda: "",
) -> Any:
    """The predicate's first true value, asked every ``every_s``; fails after ``timeout_s``
    (with ``why()`` in the message)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"not true within {timeout_s} s{'; ' + why() if why() else ''}")


def offline_csv(files: dict[str, Path], *extra: str, command: str = "report") -> str:
    """The offline report (or another offline command's output) of the same files, as the
    reference."""
    result = subprocess.run(
        [STOREMON, command, "--status", str(files["status"]), "--hours", str(files["hours"]),
         "--timezones", str(files["timezones"]), *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def offline_history(files: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Every store's days from ``storemon history --format json`` of the same files."""
    bodies = json.loads(offline_csv(files, "--format", "json", command="history"))
    return {body["store_id"]: body["days"] for body in bodies}


def assert_same_report(got: str, expected: str) -> None:
    """Equal row by row: the same stores in the same order, every value within 0.01."""
    got_rows = list(csv.reader(io.StringIO(got)))
    want_rows = list(csv.reader(io.StringIO(expected)))
    assert got_rows[0] == want_rows[0]
    assert [r[0] for r in got_rows] == [r[0] for r in want_rows]
    for g, w in zip(got_rows[1:], want_rows[1:], strict=True):
        for a, b in zip(g[1:], w[1:], strict=True):
            assert abs(float(a) - float(b)) <= 0.01 + 1e-9, (g, w)


def read_topic(bootstrap: str, topic: str, timeout_s: float = 15) -> list[dict[str, Any]]:
    """Every message of ``topic`` that is JSON, from the start (others are skipped)."""

    def parse(value: bytes | None) -> Any:
        try:
            return json.loads(value or b"")
        except (ValueError, RecursionError):
            return None

    return [v for r in read_records(bootstrap, topic, timeout_s) if (v := parse(r.value))]


def read_records(bootstrap: str, topic: str, timeout_s: float = 15) -> list[Any]:
    """Every record of ``topic`` from the start, as aiokafka gives it (headers included)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            out = []
            batches = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
            while batches:
                for messages in batches.values():
                    out.extend(messages)
                batches = await consumer.getmany(timeout_ms=1000)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


def produce(
    bootstrap: str,
    topic: str,
    items: list[tuple[bytes | None, bytes]],
    partition: int | None = None,
) -> None:
    """Send ``(key, value)`` messages, each acknowledged."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for key, value in items:
                await producer.send_and_wait(topic, value, key=key, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(send())
