"""``storemon kafka up|down|status``: the project's own Kafka, no Docker.

The jars are resolved by Maven (``pom.xml`` beside this file) into ``.local/``. Each node
runs on the machine's Java as one KRaft process that is both broker and controller: one
node by default, or a cluster of several (``--brokers 3``: three voters, internal topics
replicated three times), node *i* listening on ``port + 2(i−1)`` and its controller on
``controller_port + 2(i−1)``.
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
from streams.topics import replication_for

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
    """The first node's process, when one started by us is alive."""
    answers: bool
    """Whether Kafka answers at the bootstrap address."""
    bootstrap: str
    """Where clients connect (every node)."""


class NodeStatus(NamedTuple):
    """One node, as ``storemon kafka status --json`` prints it."""

    node: int
    """Its node id, from 1."""
    pid: int | None
    """Its process, when alive."""
    port: int
    """Its client listener."""
    up: bool
    """Whether it answers there."""


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",", maxsplit=1)[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _brokers(settings: Settings, timeout_s: float) -> int:
    from streams import kafka

    # A broker that is not up yet is the expected case here, not an error to log.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    admin = kafka.admin(settings, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return len(cluster.get("brokers") or [])
    except Exception:  # any failure to talk to it means it does not answer yet
        return 0
    finally:
        await admin.close()


def broker_count(settings: Settings, timeout_s: float = 3.0) -> int:
    """How many brokers the cluster at the settings' servers says it has (0: no answer)."""
    return asyncio.run(_brokers(settings, timeout_s))


def broker_answers(settings: Settings, timeout_s: float = 3.0) -> bool:
    """Whether a Kafka broker answers a metadata request at the settings' servers (with
    their credentials)."""
    return broker_count(settings, timeout_s) > 0


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


class Node(NamedTuple):
    """One node's ports and files."""

    id: int
    """Node id, from 1."""
    host: str
    port: int
    """Client listener."""
    controller_port: int
    """KRaft controller listener."""
    home: Path
    """Its folder: config, data, pid and log."""

    @property
    def data(self) -> Path:
        """Its log directory."""
        return self.home / "data"

    @property
    def config(self) -> Path:
        """Its ``server.properties``."""
        return self.home / "server.properties"

    @property
    def pidfile(self) -> Path:
        """Where its pid is kept."""
        return self.home / "broker.pid"

    @property
    def logfile(self) -> Path:
        """Its log."""
        return self.home / "broker.log"

    @property
    def address(self) -> str:
        """Its client listener, host:port."""
        return f"{self.host}:{self.port}"


class LocalKafka:
    """The local cluster's files and processes, all under ``settings.local_dir / 'kafka'``
    (a cluster of several nodes: one folder each, ``node-1`` …)."""

    def __init__(
        self, settings: Settings, home: Path | None = None, brokers: int | None = None
    ) -> None:
        self.settings = settings
        self.version = kafka_version()
        self.home = home or settings.kafka_home or settings.local_dir / "kafka"
        self.libs = settings.local_dir / "kafka" / f"libs-{self.version}"
        self.secrets = self.home / "credentials.json"
        self.layout = self.home / "cluster.json"
        self.host, self.port = _host_port(settings.bootstrap_servers)
        recorded = self._recorded().get("brokers")
        self.brokers: int = brokers or (recorded if isinstance(recorded, int) else 1)
        self.nodes = [self._node(i) for i in range(1, self.brokers + 1)]
        self.data = self.nodes[0].data
        """The first node's log directory."""

    def _node(self, i: int) -> Node:
        step = 2 * (i - 1)
        home = self.home if self.brokers == 1 else self.home / f"node-{i}"
        return Node(i, self.host, self.port + step, self.settings.controller_port + step, home)

    def _recorded(self) -> dict[str, object]:
        try:
            value = json.loads(self.layout.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def bootstrap(self) -> str:
        """Every node's client listener, for ``KAFKA_BOOTSTRAP_SERVERS``."""
        return ",".join(n.address for n in self.nodes)

    # -- security ----------------------------------------------------------------------------
    def credentials(self) -> Credentials | None:
        """The users of a secure broker (``up(secure=True)``); None for a plaintext one."""
        try:
            return Credentials(**json.loads(self.secrets.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def client_settings(self) -> Settings:
        """The settings a client of this cluster needs: every node, and its credentials
        when secure."""
        found = self.credentials()
        settings = self.settings.model_copy(update={"bootstrap_servers": self.bootstrap()})
        return found.client_settings(settings) if found else settings

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
    def node_pid(self, node: Node) -> int | None:
        """The node's pid if it is running."""
        try:
            pid = int(node.pidfile.read_text())
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

    def pid(self) -> int | None:
        """The first node's pid if it is running."""
        return self.node_pid(self.nodes[0])

    def status(self) -> BrokerStatus:
        """Whether our broker runs and whether the bootstrap address answers."""
        return BrokerStatus(self.pid(), broker_answers(self.client_settings()), self.bootstrap())

    def node_status(self) -> list[NodeStatus]:
        """Each node: its pid, its port, and whether it answers there."""
        client = self.client_settings()
        return [
            NodeStatus(
                n.id, self.node_pid(n), n.port,
                broker_answers(client.model_copy(update={"bootstrap_servers": n.address}), 2.0),
            )
            for n in self.nodes
        ]  # fmt: skip

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Java is not on PATH: Kafka needs Java 17 or newer")
        return java

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def server_properties(self, node: Node | None = None) -> dict[str, str]:
        """A node's configuration (docker-compose.yml sets the same, as KAFKA_* env)."""
        node = node or self.nodes[0]
        controller = f"{node.host}:{node.controller_port}"
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
        if self.brokers == 1:
            quorum = {"controller.quorum.bootstrap.servers": controller}
        else:
            voters = ",".join(f"{n.id}@{n.host}:{n.controller_port}" for n in self.nodes)
            quorum = {"controller.quorum.voters": voters}
        factor, in_sync = (str(v) for v in replication_for(self.brokers))
        return {
            "process.roles": "broker,controller",
            "node.id": str(node.id),
            **quorum,
            "listeners": f"{name}://{node.address},CONTROLLER://{controller}",
            "advertised.listeners": f"{name}://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{name}:{name}",
            "inter.broker.listener.name": name,
            **security,
            "log.dirs": str(node.data),
            "num.partitions": "1",
            # Internal topics: replicated as widely as the cluster allows (one node: once).
            "default.replication.factor": factor,
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": factor,
            "transaction.state.log.replication.factor": factor,
            "transaction.state.log.min.isr": in_sync,
            "share.coordinator.state.topic.replication.factor": factor,
            "share.coordinator.state.topic.min.isr": in_sync,
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }

    def _write_config(self, node: Node) -> None:
        node.home.mkdir(parents=True, exist_ok=True)
        lines = self.server_properties(node)
        node.config.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _cluster_id(self) -> str:
        recorded = self._recorded().get("cluster_id")
        if isinstance(recorded, str) and recorded:
            return recorded
        made = new_cluster_id()
        self.home.mkdir(parents=True, exist_ok=True)
        self.layout.write_text(json.dumps({"brokers": self.brokers, "cluster_id": made}))
        return made

    def _format(self, node: Node) -> None:
        if (node.data / "meta.properties").exists():
            return
        cmd = [
            self._java(), "-cp", self._classpath(), f"-Dlog4j2.configurationFile={LOG4J}",
            "kafka.tools.StorageTool", "format", f"--cluster-id={self._cluster_id()}",
            "-c", str(node.config),
        ]  # fmt: skip
        if self.brokers == 1:
            cmd.append("--standalone")
        found = self.credentials()
        if found:  # the SCRAM users exist from the first start on
            users = (
                ("broker", found.broker_password),
                (found.username, found.password),
            )
            for user, password in users:
                cmd += ["--add-scram", f"{SCRAM}=[name={user},password={password}]"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")

    def start_node(self, node: Node) -> None:
        """Start one node on its data (formatting it first if it has none)."""
        if self.node_pid(node) is not None:
            return
        self._write_config(node)
        self._format(node)
        with node.logfile.open("ab") as log:
            proc = subprocess.Popen(
                [
                    self._java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
                    f"-Dlog4j2.configurationFile={LOG4J}", "-cp", self._classpath(),
                    "kafka.Kafka", str(node.config),
                ],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        _children[proc.pid] = proc
        node.pidfile.write_text(str(proc.pid))

    def kill(self, node: Node) -> None:
        """``kill -9`` one node (its data stays; ``start_node`` brings it back)."""
        pid = self.node_pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while self.node_pid(node) is not None and time.monotonic() < deadline:
                time.sleep(0.1)

    def up(
        self, fresh: bool = False, timeout_s: float = 120.0, secure: bool | None = None
    ) -> BrokerStatus:
        """Start every node (installing the jars first) and return once all answer.

        ``secure``: clients must authenticate (SASL_PLAINTEXT, SCRAM-SHA-512 or PLAIN) with
        the credentials made on the first start (:meth:`credentials`); a cluster keeps the
        mode its data was made with unless started ``fresh``; None keeps it as it was.
        """
        self.install()
        if fresh:
            self.down()
            for node in self.nodes:
                shutil.rmtree(node.data, ignore_errors=True)
            self.layout.unlink(missing_ok=True)
            if secure is not None:
                self.secrets.unlink(missing_ok=True)
        if secure and self.credentials() is None:
            if any((n.data / "meta.properties").exists() for n in self.nodes):
                raise BrokerError(
                    "this broker's data was made without credentials: start it with --fresh "
                    "to make a secure one"
                )
            self._make_credentials()
        if all(self.node_pid(n) is None for n in self.nodes) and broker_answers(self.settings, 2.0):
            raise BrokerError(
                f"something else already answers at {self.settings.bootstrap_servers}: "
                "stop it, or set KAFKA_BOOTSTRAP_SERVERS to another port"
            )
        self._cluster_id()  # recorded before any node is formatted, the same for all
        for node in self.nodes:
            self.start_node(node)
        deadline = time.monotonic() + timeout_s
        client = self.client_settings()
        while time.monotonic() < deadline:
            if broker_count(client, 2.0) >= self.brokers:
                return BrokerStatus(self.pid(), True, self.bootstrap())
            for node in self.nodes:
                if self.node_pid(node) is None:
                    tail = (
                        node.logfile.read_text(errors="replace")[-3000:]
                        if node.logfile.exists()
                        else ""
                    )
                    raise BrokerError(
                        f"node {node.id} exited while starting; its log ends:\n{tail}"
                    )
            time.sleep(0.5)
        raise BrokerError(
            f"the cluster did not answer with {self.brokers} brokers within {timeout_s:.0f} s; "
            f"see {', '.join(str(n.logfile) for n in self.nodes)}"
        )

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop every node; True if one was running."""
        running = [(n, pid) for n in self.nodes if (pid := self.node_pid(n)) is not None]
        for _node, pid in running:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(self.node_pid(n) is not None for n, _ in running):
            time.sleep(0.2)
        for node, pid in running:
            if self.node_pid(node) is not None:
                os.kill(pid, signal.SIGKILL)
            node.pidfile.unlink(missing_ok=True)
        return bool(running)
