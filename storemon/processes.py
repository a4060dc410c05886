"""Running storemon commands as child processes (the demo and the integration tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from streams.settings import Settings

STOREMON = str(Path(sys.executable).parent / "storemon")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    for name, raw in settings.model_dump(exclude={"bootstrap_servers"}).items():
        value = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        if value is not None:
            env[f"STOREMON_{name.upper()}"] = str(value)
    return env


class Supervisor:
    """Named child processes with a log file each, all stopped together."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._argv: dict[str, list[str]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``storemon ARGS`` as ``name``, logging to ``<folder>/<name>.log``."""
        return self.start_command(name, [STOREMON, *args])

    def start_command(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` as ``name`` with these settings, logging to ``<folder>/<name>.log``."""
        self._argv[name] = argv
        with self.log_path(name).open("ab") as log:
            proc = subprocess.Popen(
                argv, env=settings_env(self.settings), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder,
            )  # fmt: skip
        self.processes[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        """Where ``name`` logs."""
        return self.folder / f"{name}.log"

    def log(self, name: str) -> str:
        """What ``name`` has logged so far."""
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start a worker with its own RocksDB folder under this supervisor's folder."""
        return self.start(name, "worker", "--data-dir", str(self.folder / name))

    def wait_for_log(self, name: str, text: str, timeout_s: float = 120.0) -> None:
        """Wait until ``name`` logs ``text``; raise if it exits or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited; its log ends:\n{self.log(name)[-3000:]}")
            time.sleep(0.3)
        raise RuntimeError(
            f"{name} did not log {text!r} in {timeout_s:.0f} s; see {self.log_path(name)}"
        )

    def wait_worker_ready(self, name: str, timeout_s: float = 120.0) -> None:
        """Wait until the worker has recovered its tables and consumes."""
        self.wait_for_log(name, "Worker ready", timeout_s)

    def api(self, port: int | None = None, timeout_s: float = 60.0, name: str = "api") -> str:
        """Start an API instance (``name``) on ``port`` (any free one by default); return
        its URL once it answers."""
        port = port or free_port()
        self.start(name, "api", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"the API exited; its log ends:\n{self.log(name)[-3000:]}")
            time.sleep(0.3)
        raise RuntimeError(
            f"the API did not answer in {timeout_s:.0f} s; see {self.log_path(name)}"
        )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        """Stop one process (SIGKILL if it does not stop in time)."""
        proc = self.processes.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart_exited(self) -> list[tuple[str, int]]:
        """Start again every process that exited with an error (a worker whose progress
        watchdog gave up exits 75); the names restarted, with their exit codes."""
        restarted = []
        for name, proc in list(self.processes.items()):
            code = proc.poll()
            if code is not None and code != 0:
                self.start_command(name, self._argv[name])
                restarted.append((name, code))
        return restarted

    def stop_all(self) -> None:
        """Stop every process still running."""
        for name in list(self.processes):
            self.stop(name)


def take_report(url: str, timeout_s: float = 120.0, **params: str) -> tuple[str, str]:
    """Trigger a report over HTTP and wait for it; returns (report id, CSV)."""
    report_id, text, _time = take_report_at(url, timeout_s, **params)
    return report_id, text


def take_report_at(url: str, timeout_s: float = 120.0, **params: str) -> tuple[str, str, str]:
    """Like :func:`take_report`, with the report time (``X-Report-Time``) too."""
    started = httpx.post(f"{url}/trigger_report", params=params, timeout=10)
    if started.status_code != 200:
        raise RuntimeError(f"trigger_report answered {started.status_code}: {started.text}")
    report_id: str = started.json()["report_id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = httpx.get(f"{url}/get_report", params={"report_id": report_id}, timeout=10)
        if got.status_code != 200:
            raise RuntimeError(f"get_report answered {got.status_code}: {got.text}")
        if got.headers.get("X-Report-Status") == "Complete":
            return report_id, got.text, got.headers.get("X-Report-Time", "")
        body = got.json()
        if body.get("status") != "Running":
            raise RuntimeError(f"report {report_id}: {body}")
        time.sleep(0.02)
    raise RuntimeError(f"report {report_id} not complete in {timeout_s:.0f} s")
