"""``storemon kafka up|down|status``: the project's own Kafka broker, no Docker.

The jars are resolved by Maven (``pom.xml`` beside this file) into ``.local/``; the broker
runs on the machine's Java as one KRaft process that is both broker and controller.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from pydantic import SecretStr

from streams.settings import Settings

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J = HERE / "log4j2.properties"


# Brokers started by this process, kept so that they can be polled and reaped.
_children: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(RuntimeError):
    """The local broker could not be installed, started or stopped; the message says why."""


def kafka_version() -> str:
    """The Kafka version pinned in ``pom.xml``."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match is not None, f"{POM} has no <kafka.version>"
    return match[1]


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 characters of URL-safe base64) that never begins with
    ``-``, which ``kafka-storage format`` would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class BrokerStatus(NamedTuple):
    """What ``storemon kafka status`` reports."""

    pid: int | None
    """The broker process, when one started by us is alive."""
    answers: bool
    """Whether a Kafka broker answers at the bootstrap address."""
    bootstrap: str
    """Where clients connect."""


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",", maxsplit=1)[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _answers(settings: Settings, timeout_s: float) -> bool:
    from streams import kafka

    # A broker that is not up yet is the expected case here, not an error to log.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    admin = kafka.admin(settings, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return bool(cluster.get("brokers"))
    except Exception:  # any failure to talk to it means it does not answer yet
        return False
    finally:
        await admin.close()


def broker_answers(settings: Settings, timeout_s: float = 3.0) -> bool:
    """Whether a Kafka broker answers a metadata request at the settings' servers (with
    their credentials)."""
    return asyncio.run(_answers(settings, timeout_s))


SCRAM = "SCRAM-SHA-512"
CLIENT_USER = "storemon"


class Credentials(NamedTuple):
    """What a secure local broker was made with (kept beside its data, readable by its owner
    only): the project's own user, and the broker's, for SCRAM-SHA-512 and PLAIN alike."""

    username: str
    password: str
    broker_password: str

    def client_settings(self, settings: Settings) -> Settings:
        """``settings`` with this user over SASL_PLAINTEXT and SCRAM-SHA-512."""
        return settings.model_copy(
            update={
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": SCRAM,
                "kafka_sasl_username": self.username,
                "kafka_sasl_password": SecretStr(self.password),
            }
        )


class LocalKafka:
    """The local broker's files and process, all under ``settings.local_dir / 'kafka'``."""

    def __init__(self, settings: Settings, home: Path | None = None) -> None:
        self.settings = settings
        self.version = kafka_version()
        self.home = home or settings.local_dir / "kafka"
        self.libs = settings.local_dir / "kafka" / f"libs-{self.version}"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.pidfile = self.home / "broker.pid"
        self.logfile = self.home / "broker.log"
        self.secrets = self.home / "credentials.json"
        self.host, self.port = _host_port(settings.bootstrap_servers)

    # -- security ----------------------------------------------------------------------------
    def credentials(self) -> Credentials | None:
        """The users of a secure broker (``up(secure=True)``); None for a plaintext one."""
        try:
            return Credentials(**json.loads(self.secrets.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def client_settings(self) -> Settings:
        """The settings a client of this broker needs (its credentials, when secure)."""
        found = self.credentials()
        return found.client_settings(self.settings) if found else self.settings

    def _make_credentials(self) -> Credentials:
        made = Credentials(CLIENT_USER, secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(made._asdict(), out)
        return made

    # -- install ---------------------------------------------------------------------------
    def installed(self) -> bool:
        """Whether the Kafka jars are here."""
        return (self.libs / f"kafka_2.13-{self.version}.jar").exists()

    def install(self) -> None:
        """Resolve the broker's jars from Maven Central (once)."""
        if self.installed():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven (mvn) is not on PATH: install it, e.g. apt-get install maven")
        tmp = self.libs.parent / f"{self.libs.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(POM),
            f"-Dmaven.repo.local={self.settings.local_dir / 'm2'}",
            "dependency:copy-dependencies", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"Maven could not fetch Kafka {self.version}: {result.stdout[-2000:]}"
                f"{result.stderr[-2000:]}"
            )
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(self.libs)

    # -- process ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The broker's pid if it is running."""
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        child = _children.get(pid)
        if child is not None:  # started by this process: ask it (this also reaps it)
            return None if child.poll() is not None else pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"kafka.Kafka" not in cmdline.read_bytes():
            return None  # the pid was reused by something else
        return pid

    def status(self) -> BrokerStatus:
        """Whether our broker runs and whether the bootstrap address answers."""
        return BrokerStatus(
            self.pid(), broker_answers(self.client_settings()), self.settings.bootstrap_servers
        )

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Java is not on PATH: Kafka needs Java 17 or newer")
        return java

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def server_properties(self) -> dict[str, str]:
        """The broker's configuration (docker-compose.yml sets the same, as KAFKA_* env)."""
        controller = f"{self.host}:{self.settings.controller_port}"
        found = self.credentials()
        name = "SASL_PLAINTEXT" if found else "PLAINTEXT"
        security: dict[str, str] = {}
        if found:  # clients and the broker itself authenticate, by SCRAM-SHA-512 or PLAIN
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
            plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
            me = f'username="broker" password="{found.broker_password}"'
            security = {
                "sasl.enabled.mechanisms": f"{SCRAM},PLAIN",
                "sasl.mechanism.inter.broker.protocol": SCRAM,
                "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
                    f"{scram} required {me};"
                ),
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                    f'{plain} required {me} user_broker="{found.broker_password}" '
                    f'user_{found.username}="{found.password}";'
                ),
            }
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"{name}://{self.host}:{self.port},CONTROLLER://{controller}",
            "advertised.listeners": f"{name}://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{name}:{name}",
            "inter.broker.listener.name": name,
            **security,
            "log.dirs": str(self.data),
            "num.partitions": "1",
            # A single node: internal topics cannot have more than one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        lines = self.server_properties()
        self.config.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _format(self) -> None:
        if (self.data / "meta.properties").exists():
            return
        cmd = [
            self._java(), "-cp", self._classpath(), f"-Dlog4j2.configurationFile={LOG4J}",
            "kafka.tools.StorageTool", "format", f"--cluster-id={new_cluster_id()}", "--standalone",
            "-c", str(self.config),
        ]  # fmt: skip
        found = self.credentials()
        if found:  # the SCRAM users exist from the first start on
            for user, password in (
                ("broker", found.broker_password),
                (found.username, found.password),
            ):
                cmd += ["--add-scram", f"{SCRAM}=[name={user},password={password}]"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")

    def up(
        self, fresh: bool = False, timeout_s: float = 90.0, secure: bool | None = None
    ) -> BrokerStatus:
        """Start the broker (installing it first) and return once it answers.

        ``secure``: clients must authenticate (SASL_PLAINTEXT, SCRAM-SHA-512 or PLAIN) with
        the credentials made on the first start (:meth:`credentials`); a broker keeps the
        mode its data was made with unless started ``fresh``; None keeps it as it was.
        """
        self.install()
        if fresh:
            self.down()
            shutil.rmtree(self.data, ignore_errors=True)
            if secure is not None:
                self.secrets.unlink(missing_ok=True)
        if secure and self.credentials() is None:
            if (self.data / "meta.properties").exists():
                raise BrokerError(
                    "this broker's data was made without credentials: start it with --fresh "
                    "to make a secure one"
                )
            self._make_credentials()
        pid = self.pid()
        proc: subprocess.Popen[bytes] | None = None
        if pid is None:
            if broker_answers(self.settings, 2.0):
                raise BrokerError(
                    f"something else already answers at {self.settings.bootstrap_servers}: "
                    "stop it, or set KAFKA_BOOTSTRAP_SERVERS to another port"
                )
            self._write_config()
            self._format()
            with self.logfile.open("ab") as log:
                proc = subprocess.Popen(
                    [
                        self._java(),
                        "-Xms256m",
                        "-Xmx1g",
                        "-XX:+UseG1GC",
                        f"-Dlog4j2.configurationFile={LOG4J}",
                        "-cp",
                        self._classpath(),
                        "kafka.Kafka",
                        str(self.config),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            _children[proc.pid] = proc
            self.pidfile.write_text(str(proc.pid))
            pid = proc.pid
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if broker_answers(self.client_settings(), 2.0):
                return BrokerStatus(pid, True, self.settings.bootstrap_servers)
            if (proc.poll() is not None) if proc is not None else self.pid() is None:
                tail = (
                    self.logfile.read_text(errors="replace")[-3000:]
                    if self.logfile.exists()
                    else ""
                )
                raise BrokerError(f"the broker exited while starting; its log ends:\n{tail}")
            time.sleep(0.5)
        raise BrokerError(f"the broker did not answer within {timeout_s:.0f} s; see {self.logfile}")

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker; True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return True
