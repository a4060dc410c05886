"""The real stack for integration tests: one Kafka broker per session, workers and API
as subprocesses per test, each test on its own topics, consumer group and folders."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from streams.broker.local import LocalKafka
from streams.settings import ROOT, Settings

KAFKA_PORT = 39092
STOREMON = sys.executable.rsplit("/", 1)[0] + "/storemon"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh single-node Kafka for the whole session; yields its bootstrap address."""
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{KAFKA_PORT}",
        controller_port=KAFKA_PORT + 1,
        local_dir=ROOT / ".local",
    )
    broker = LocalKafka(settings, home=tmp_path_factory.mktemp("kafka"))
    broker.up(fresh=True)
    try:
        yield settings.bootstrap_servers
    finally:
        broker.down()


class Stack:
    """One test's pipeline: its settings, and the processes it started."""

    def __init__(self, bootstrap: str, folder: Path) -> None:
        name = f"t{uuid.uuid4().hex[:10]}"
        self.folder = folder
        self.settings = Settings(
            bootstrap_servers=bootstrap,
            app_id=name,
            topic_prefix=name,
            data_dir=folder / "worker",
            reports_dir=folder / "reports",
            report_timeout_s=60,
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.api_url: str | None = None

    def env(self, **extra: str) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
                "STOREMON_APP_ID": s.app_id,
                "STOREMON_TOPIC_PREFIX": s.topic_prefix,
                "STOREMON_REPORTS_DIR": str(s.reports_dir),
                "STOREMON_REPORT_TIMEOUT_S": str(s.report_timeout_s),
                **extra,
            }
        )
        return env

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [STOREMON, *args], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                cwd=self.folder,
            )  # fmt: skip
        self.processes[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def worker(self, name: str = "worker-1") -> subprocess.Popen[bytes]:
        return self.start(
            name, "worker", "--data-dir", str(self.folder / name), "--loglevel", "info"
        )

    def wait_ready(self, name: str, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "Worker ready" in self.log(name):
                return
            if self.processes[name].poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log(name)[-3000:]}")
            time.sleep(0.3)
        raise AssertionError(f"{name} not ready in {timeout_s} s:\n{self.log(name)[-3000:]}")

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def api(self) -> str:
        port = _free_port()
        self.start("api", "api", "--port", str(port))
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api_url}/openapi.json", timeout=2).status_code == 200:
                    return self.api_url
            except httpx.TransportError:
                pass
            if self.processes["api"].poll() is not None:
                raise AssertionError(f"api exited:\n{self.log('api')[-3000:]}")
            time.sleep(0.3)
        raise AssertionError(f"api not up:\n{self.log('api')[-3000:]}")

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [STOREMON, *args], env=self.env(), capture_output=True, text=True, timeout=timeout_s,
            check=False, cwd=self.folder,
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

    def report(self, timeout_s: float = 120, **params: str) -> str:
        """Trigger a report, poll until it is complete, return the CSV."""
        assert self.api_url is not None
        started = httpx.post(f"{self.api_url}/trigger_report", params=params, timeout=10)
        assert started.status_code == 200, started.text
        report_id = started.json()["report_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = httpx.get(
                f"{self.api_url}/get_report", params={"report_id": report_id}, timeout=10
            )
            assert got.status_code == 200, got.text
            if got.headers.get("X-Report-Status") == "Complete":
                assert got.headers["content-type"].startswith("text/csv")
                return got.text
            assert got.json() == {"status": "Running"}, got.text
            time.sleep(0.2)
        raise AssertionError(f"report {report_id} not complete in {timeout_s} s")

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)


@pytest.fixture
def stack(kafka: str, tmp_path: Path) -> Iterator[Stack]:
    """A pipeline of this test's own (topics, group, folders); processes stop at the end."""
    s = Stack(kafka, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


def offline_csv(files: dict[str, Path], *extra: str) -> str:
    """The offline report of the same files, as the reference."""
    result = subprocess.run(
        [STOREMON, "report", "--status", str(files["status"]), "--hours", str(files["hours"]),
         "--timezones", str(files["timezones"]), *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def assert_same_report(got: str, expected: str) -> None:
    """Equal row by row: the same stores in the same order, every value within 0.01."""
    got_rows = list(csv.reader(io.StringIO(got)))
    want_rows = list(csv.reader(io.StringIO(expected)))
    assert got_rows[0] == want_rows[0]
    assert [r[0] for r in got_rows] == [r[0] for r in want_rows]
    for g, w in zip(got_rows[1:], want_rows[1:], strict=True):
        for a, b in zip(g[1:], w[1:], strict=True):
            assert abs(float(a) - float(b)) <= 0.01 + 1e-9, (g, w)


Files = Callable[..., dict[str, Path]]
