"""The running API fuzzed against its own OpenAPI document by schemathesis, every check on:
no server error, no undocumented status, content type or header, every body as its schema
says, schema-valid requests accepted and schema-violating ones refused (the two answers a
schema cannot state are declared in ``schemathesis.toml`` beside this file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api import tokens
from tests.integration.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


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
    run = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
         "--checks", "all", "--max-examples", "100", "--workers", "1", "--no-color",
         "--header", f"Authorization: Bearer {admin}"],
        capture_output=True, text=True, timeout=540, check=False,
    )  # fmt: skip
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert "generated" in summary, summary
    assert "passed" in summary, summary
    assert "Traceback" not in stack.log("api"), stack.log("api")[-3000:]
