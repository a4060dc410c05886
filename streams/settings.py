"""All configuration, read once from the environment (prefix ``STOREMON_``).

Defaults run the embedded local stack with no configuration at all. Nothing else in the
project reads ``os.environ``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.core.timestamps import TimeBounds

ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Where Kafka is, what the topics are called, where state and reports live."""

    model_config = SettingsConfigDict(env_prefix="STOREMON_", extra="ignore", validate_by_name=True)

    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "STOREMON_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, host:port[,host:port]",
    )
    app_id: str = Field("storemon", description="Faust app id: consumer group and changelog prefix")
    topic_prefix: str = Field("storemon", description="prefix of every topic name")
    partitions: int = Field(8, ge=1, description="partitions of every store-keyed topic")
    data_dir: Path = Field(ROOT / ".local" / "worker", description="a worker's RocksDB folder")
    reports_dir: Path = Field(ROOT / "reports", description="where report CSVs and statuses go")
    report_timeout_s: float = Field(120.0, gt=0, description="give up on a silent partition")
    local_dir: Path = Field(ROOT / ".local", description="local Kafka jars, config and data")
    kafka_home: Path | None = Field(
        None, description="where the local Kafka keeps its nodes' files (default local_dir/kafka)"
    )
    controller_port: int = Field(9093, description="local Kafka's KRaft controller port")
    session_timeout_s: float = Field(
        6.0, ge=6, description="a worker that stops heartbeating is replaced after this long"
    )
    refresh_every_s: float = Field(
        7 * 86400.0,
        gt=0,
        description="how often a store's segments are written to the "
        "changelog again (it deletes records older than changelog_retention_s)",
    )
    changelog_retention_s: float = Field(
        21 * 86400.0, gt=0, description="the polls changelog keeps records this long"
    )
    history_days: int = Field(
        400,
        ge=15,
        le=4_000,
        description="how many local days of final daily rollups a store keeps "
        "(docs/semantics.md §8.2)",
    )
    timeline_cache_bytes: int = Field(
        1536 * 1024 * 1024, gt=0, description="memory a worker may use for built timelines"
    )
    web_port: int | None = Field(None, description="a worker's Faust web port; None: no web")
    commit_every_s: float = Field(1.0, gt=0, description="how often a worker commits offsets")
    report_every_s: float | None = Field(
        None, gt=0, description="take a report on its own every this many seconds; None: never"
    )
    monitor_every_s: float = Field(2.0, gt=0, description="how often the API samples lag")
    lag_window: int = Field(10, ge=2, description="samples in the lag-status window")
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, description="largest request body")
    max_polls_per_request: int = Field(10_000, gt=0, description="most polls in one POST /polls")
    api_port: int = Field(8000, description="HTTP port of the API")
    report_retention: str = Field(
        "1000,30d",
        pattern=r"^\s*\d+[smhd]?\s*(,\s*\d+[smhd]?\s*)?$",
        description="reports kept: a count (1000), an age (30d, 12h), or both (1000,30d)",
    )
    max_clock_skew_s: float = Field(
        300.0, ge=0, description="a poll may lie this far past the moment it is read"
    )

    # -- replication (every topic the project makes, Faust's changelogs included) ---------
    replication_factor: int | None = Field(
        None, ge=1, description="copies of every partition; None: as many as the brokers, up to 3"
    )
    min_insync_replicas: int | None = Field(
        None, ge=1, description="acks=all waits for this many copies; None: one less, at least 1"
    )

    # -- Kafka security (every client: Faust, producers, consumers, admin) -----------------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how clients talk to Kafka"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="the SASL mechanism, with SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_username: str | None = Field(None, description="the SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="the SASL user's password")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle to trust (SSL, SASL_SSL)")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (mutual TLS)")
    kafka_ssl_keyfile: Path | None = Field(None, description="the client certificate's key")

    # -- HTTP access control ------------------------------------------------------------------
    auth_file: Path | None = Field(
        None,
        description="the API's tokens (hashes and scopes; `storemon token create`). Without "
        "one every route is open, and the API listens on loopback only",
    )
    ingest_rate_per_s: float = Field(
        1_000.0, description="ingestion requests per second a token may make (0: no limit)"
    )
    ingest_burst: int = Field(2_000, ge=1, description="requests a token may make at once")
    session_ttl_s: float = Field(12 * 3600.0, gt=0, description="how long a page session lasts")
    reports_url: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="where report files go: s3://bucket/prefix (S3-compatible object "
        "storage); unset: the reports folder (reports_dir)",
    )
    s3_endpoint_url: str | None = Field(
        None, description="the S3 endpoint (unset: AWS's, from the region)"
    )
    s3_region: str = Field("us-east-1", description="the S3 region")
    s3_access_key_id: str | None = Field(None, description="the S3 access key id")
    s3_secret_access_key: SecretStr | None = Field(None, description="the S3 secret key")
    session_key: SecretStr | None = Field(
        None,
        description="the key page sessions are signed with (HMAC-SHA256); give every API "
        "instance the same one. Unset: a random key per process (one instance only)",
    )

    # -- alerts (docs/semantics.md §7) ------------------------------------------------------
    alert_max_age_s: float = Field(
        3600.0, gt=0, description="only observations younger than this raise alerts"
    )
    silent_after_s: float = Field(
        7200.0, gt=0, description="business time without a poll after which a store is silent"
    )
    alert_check_every_s: float = Field(
        1.0, gt=0, description="how often a worker looks for silent stores and deferred alerts"
    )
    alert_states: int = Field(
        1_000_000, gt=0, description="stores whose alert state a worker keeps in memory (LRU)"
    )
    alert_webhooks: str = Field(
        "", description="URLs (comma-separated) that get every alert as a CloudEvent by POST"
    )
    alertmanager_url: str | None = Field(
        None, description="an Alertmanager to post alerts to (its /api/v2/alerts)"
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="where people reach the API (links in alerts)"
    )

    # -- progress (docs/semantics.md §5.4; README: lag, stall and behind) -----------------
    stall_after_s: float = Field(
        30.0,
        gt=0,
        description="a source partition with lag and no progress this long is stalled: the "
        "worker heals it (resume and seek, then rejoin, then exit), /readyz answers 503",
    )
    recovery_stall_s: float = Field(
        600.0,
        gt=0,
        description="a worker not ready this long (recovering or rebalancing) exits non-zero",
    )

    # -- fault injection, for the tests only: never set in production -----------------------
    fault_park_fetch: Path | None = Field(
        None,
        description="testing: when this file appears, the next fetch waits through the next "
        "rebalance until the partitions are paused, as a fetch woken during a revoke does",
    )
    fault_pause_partitions: str | None = Field(
        None,
        pattern=r"^\d+(,\d+)*$",
        description="testing: polls partitions (0,3) this worker stops fetching once ready",
    )
    fault_lose_message: int | None = Field(
        None,
        ge=0,
        description="testing: once ready, the worker reads one message of this polls "
        "partition and never hands it on, as a delivery cancelled by a flow stop is",
    )
    fault_lose_zone: int | None = Field(
        None,
        ge=0,
        description="testing: once ready, the worker reads three messages of this zones "
        "partition and never hands them on",
    )
    fault_unacked: int | None = Field(
        None,
        ge=0,
        description="testing: once ready, two messages of this polls partition are "
        "processed and their acknowledgements lost, so that its commits wait on them",
    )

    def time_bounds(self) -> TimeBounds:
        """The instants a poll read now may have (docs/semantics.md §1)."""
        return TimeBounds(time.time_ns() // 1000, int(self.max_clock_skew_s * 1_000_000))


_current: Settings | None = None


def get_settings() -> Settings:
    """The settings of this process (read from the environment on first use)."""
    global _current  # noqa: PLW0603 - one settings object per process, by design
    if _current is None:
        _current = Settings()
    return _current


def use_settings(settings: Settings) -> None:
    """Replace this process's settings, e.g. with command-line overrides, before start-up."""
    global _current  # noqa: PLW0603
    _current = settings
