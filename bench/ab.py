"""Ingestion of two commits, back to back on the same machine: ``python -m bench.ab OLD [ROUNDS]``.

A shared machine's speed drifts from one hour to the next, so a figure measured today is
compared with one of yesterday only through a run like this one. The full-scale set is
replayed into one worker on a fresh local Kafka (replay start → zero lag), alternating
between ``OLD`` (checked out in a temporary worktree, its code put first on the path of
every process) and the working tree, ``ROUNDS`` times each (2 by default). Prints each
run; writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from streams.settings import ROOT

RUN = r"""
import sys
from bench import pipeline as bp
from bench.common import full_scale
from storemon.localkafka import LocalKafka
from streams.settings import Settings, ROOT
settings = Settings(bootstrap_servers=f"127.0.0.1:{bp.PORT}", controller_port=bp.PORT + 1,
                    local_dir=ROOT / ".local")
data = full_scale()
files = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
kafka = LocalKafka(settings, home=bp.OUT / "kafka-ab")
kafka.up(fresh=True)
try:
    r = bp._run("full scale", files, kafka, 1, full=False)
finally:
    kafka.down()
print(f"{sys.argv[1]}: {r['to_zero_lag']:.1f} s to zero lag, {r['end_to_end_rate']:,.0f} polls/s",
      flush=True)
"""


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python -m bench.ab OLD_COMMIT [ROUNDS]", file=sys.stderr)
        sys.exit(2)
    old, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory(prefix="storemon-ab-") as folder:
        tree = Path(folder) / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", str(tree), old], check=True
        )
        try:
            # The old tree uses this one's data and jars (the full-scale set, Kafka).
            (tree / "bench" / "out").symlink_to(ROOT / "bench" / "out")
            (tree / ".local").symlink_to(ROOT / ".local")
            for _ in range(rounds):
                for name, where in ((old, tree), ("working tree", ROOT)):
                    env = dict(os.environ, PYTHONPATH=str(where))
                    subprocess.run(
                        [sys.executable, "-c", RUN, name], env=env, cwd=where, check=True
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )


if __name__ == "__main__":
    main()
