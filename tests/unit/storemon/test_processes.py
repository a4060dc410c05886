"""The process supervisor of the demo and the tests: what exits with an error comes back."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from storemon.processes import Supervisor
from streams.settings import Settings


def test_a_process_that_exits_with_an_error_is_started_again(tmp_path: Path) -> None:
    supervisor = Supervisor(Settings(), tmp_path)
    marker = tmp_path / "runs"
    # exits 75 on its first run (as a worker whose watchdog gives up), then stays up
    script = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(marker)!r})\n"
        "n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\n"
        "sys.exit(75) if n == 0 else time.sleep(60)\n"
    )
    supervisor.start_command("worker-1", [sys.executable, "-c", script])
    supervisor.start_command("done", [sys.executable, "-c", "pass"])  # exits 0: left alone
    try:
        deadline = time.monotonic() + 30
        while supervisor.processes["worker-1"].poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        supervisor.processes["done"].wait(30)
        assert supervisor.restart_exited() == [("worker-1", 75)]
        while marker.read_text() != "xx":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert supervisor.processes["worker-1"].poll() is None
        assert supervisor.restart_exited() == []
    finally:
        supervisor.stop_all()
