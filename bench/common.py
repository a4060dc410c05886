"""Shared by the benchmarks: the seeded full-scale data set, timing, and the results page."""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from replay.sample import LOOP_2023
from replay.synthetic import Generated, generate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PAGE = ROOT / "docs" / "benchmarks.md"


DUPLICATES = 0.01
"""Share of polls of the full-scale set sent twice at one instant (half with the other
status), so that every benchmark run checks the one-observation rule at scale."""


def arguments(module: str, doc: str | None) -> None:
    """A benchmark that takes no arguments: ``--help`` says what it does (instead of running
    it), and anything else is refused."""
    argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=(doc or "").strip().splitlines()[0] if doc else None,
        epilog="It takes no arguments; it writes its section of docs/benchmarks.md.",
    ).parse_args()


def full_scale(seed: int = 2023) -> Generated:
    """The seeded full-scale set (13,500 real stores, 9 days, about 2.6 M polls with 1 %
    duplicates), cached."""
    target = OUT / f"full-{seed}-dup"
    status = target / "store_status.csv"
    if status.exists():
        lines = sum(1 for _ in status.open("rb")) - 1
        return Generated(status, target / "menu_hours.csv", target / "timezones.csv", lines, 13_500)
    return generate(LOOP_2023, target, seed=seed, duplicates=DUPLICATES)


def timed(fn: Callable[[], object], repeat: int = 3) -> list[float]:
    """Wall times of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def run_measured(cmd: Sequence[str]) -> tuple[float, int]:
    """Run a command; its wall time (s) and peak RSS (bytes)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        assert proc.stderr is not None
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def commit() -> str:
    """The commit the figures are measured on (``+changes`` when the tree differs from it)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short=10", "HEAD") or "unknown"
    code = ("storemon", "streams", "api", "replay", "bench", "pyproject.toml")
    return head + (
        "+changes" if git("status", "--porcelain", "--untracked-files=no", "--", *code) else ""
    )


def machine() -> str:
    """One line about where the figures come from (the commit measured included)."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, commit `{commit()}`"


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section ``name`` of docs/benchmarks.md."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = (
        PAGE.read_text()
        if PAGE.exists()
        else "# Benchmarks\n\nEvery figure here is written by a script under `bench/`; rerun it to refresh.\n"
    )
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _m: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)
