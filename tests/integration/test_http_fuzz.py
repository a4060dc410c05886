"""The running API fuzzed against its own OpenAPI document by schemathesis, every check on:
no server error, no undocumented status, content type or header, every body as its schema
says, schema-valid requests accepted and schema-violating ones refused (the two answers a
schema cannot state are declared in ``schemathesis.toml`` beside this file).

The run is deterministic: the seed in ``schemathesis.toml``, no example database and no
cache, 100 examples an operation, so CI sends the same requests every time. Three
variables change that, for a long random run on a developer's machine::

    STOREMON_FUZZ_SEED=random STOREMON_FUZZ_EXAMPLES=1000 STOREMON_FUZZ_MINUTES=10 \\
        STOREMON_TEST_KAFKA_PORT=21092 .venv/bin/python -m pytest \\
        tests/integration/test_http_fuzz.py -q -p no:cacheprovider -s

``STOREMON_FUZZ_SEED`` is ``random`` (a new seed, printed, and named in a failure's
message) or a number (replays that seed's run); ``STOREMON_FUZZ_EXAMPLES`` is the number of
examples an operation; ``STOREMON_FUZZ_MINUTES`` is a time budget, spent fuzzing over and
over (schemathesis ``--max-time``), the test's own time limit growing with it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from api import tokens
from tests.integration.conftest import Stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
SEED = os.environ.get("STOREMON_FUZZ_SEED", "")
EXAMPLES = int(os.environ.get("STOREMON_FUZZ_EXAMPLES", "100"))
MINUTES = float(os.environ.get("STOREMON_FUZZ_MINUTES", "0"))
RUN_TIMEOUT_S = 540 + MINUTES * 60 * 1.5

pytestmark = [pytest.mark.integration, pytest.mark.timeout(int(RUN_TIMEOUT_S) + 120)]


def _seed_arguments() -> list[str]:
    """``--seed`` when the environment asks for one (else the configuration's seed)."""
    if not SEED:
        return []
    seed = random.SystemRandom().randrange(2**32) if SEED == "random" else int(SEED)
    print(f"schemathesis seed {seed}: STOREMON_FUZZ_SEED={seed} replays this run")
    return ["--seed", str(seed)]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    stack: Stack, tmp_path: Path
) -> None:
    # Behind tokens, so that its ignored_auth check proves every route refuses strangers.
    auth = tmp_path / "tokens.json"
    admin = tokens.create(auth, "fuzzer", "admin")
    stack.settings = stack.settings.model_copy(update={"auth_file": auth})
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    seed = _seed_arguments()
    budget = ["--max-time", str(int(MINUTES * 60))] if MINUTES else []
    run = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
         "--checks", "all", "--max-examples", str(EXAMPLES), "--workers", "1", "--no-color",
         "--header", f"Authorization: Bearer {admin}", *seed, *budget],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False, cwd=tmp_path,
    )  # fmt: skip
    summary = run.stdout[-6000:]
    print(summary[-1200:])  # with -s: what a long run covered
    assert run.returncode == 0, f"{' '.join(seed)}\n{summary}"
    assert "generated" in summary, summary
    assert "passed" in summary, summary
    assert "Traceback" not in stack.log("api"), stack.log("api")[-3000:]
