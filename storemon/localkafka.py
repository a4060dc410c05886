"""``storemon kafka up|down|status``: the project's own Kafka, no Docker.

The jars are resolved by Maven (``pom.xml`` beside this file) into ``.local/``. Each node
runs on the machine's Java as one KRaft process that is both broker and controller: one
node by default, or a cluster of several (``--brokers 3``: three voters, internal topics
replicated three times), node *i* listening on ``port + 2(i−1)`` and its controller on
``controller_port + 2(i−1)``.

Every node it starts is recorded (``nodes.json`` in the kafka home, and ``broker.pid`` in the
node's folder: its pid, node id, ports, config, command line and start time), and a record goes
only once its process is seen stopped. ``down`` and ``status`` go by those records, by the pid
files of every node folder (an earlier, larger layout's too) and by the command lines of the
running ``kafka.Kafka`` processes whose config lives in the kafka home, so they find every node
started here whatever layout ``cluster.json`` remembers now.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
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

PROC = Path("/proc")
MAIN_CLASS = "kafka.Kafka"


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
    """The first node's process, when one started by us is alive (else the lowest-numbered
    node of ours that runs)."""
    answers: bool
    """Whether Kafka answers at the bootstrap address."""
    bootstrap: str
    """Where clients connect (every node)."""


class Started(NamedTuple):
    """A node process of this kafka home, as recorded when it started (or as found)."""

    node: int
    """Its node id."""
    pid: int
    port: int
    """Its client listener (0: unknown)."""
    controller_port: int
    """Its KRaft controller listener (0: unknown)."""
    config: Path
    """Its ``server.properties``, the argument its command line ends with."""
    started: int | None = None
    """Its start time (clock ticks after boot, from ``/proc``), so that a reused pid is not
    taken for it; None: unknown (a pid file of an older version)."""
    command: tuple[str, ...] = ()
    """Its command line."""

    def as_json(self) -> dict[str, object]:
        """The record as ``nodes.json`` and ``broker.pid`` keep it."""
        return {**self._asdict(), "config": str(self.config), "command": list(self.command)}

    @classmethod
    def from_json(cls, value: object) -> Started | None:
        """A record read back; None if it is not one."""
        if not isinstance(value, dict):
            return None
        try:
            started = value.get("started")
            return cls(
                int(value["node"]), int(value["pid"]), int(value.get("port") or 0),
                int(value.get("controller_port") or 0), Path(str(value["config"])),
                None if started is None else int(started),
                tuple(str(a) for a in value.get("command") or ()),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None


def _cmdline(pid: int) -> list[str] | None:
    """A process's arguments, from ``/proc``; None if it is gone (or is a zombie)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]] or None


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time (clock ticks after boot), from ``/proc``."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])  # fields 3 and 22 of proc(5)
    except (OSError, ValueError, IndexError):
        return None


def _config_of(argv: list[str]) -> str | None:
    """The config a ``kafka.Kafka`` command line runs on (the argument after the class)."""
    if MAIN_CLASS in argv:
        i = argv.index(MAIN_CLASS)
        if i + 1 < len(argv):
            return argv[i + 1]
    return None


def _listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


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
        self.home = (home or settings.kafka_home or settings.local_dir / "kafka").absolute()
        self.libs = settings.local_dir / "kafka" / f"libs-{self.version}"
        self.secrets = self.home / "credentials.json"
        self.layout = self.home / "cluster.json"
        self.record = self.home / "nodes.json"
        """The record of the node processes started here (see :class:`Started`)."""
        self.host, self.port = _host_port(settings.bootstrap_servers)
        recorded = self._recorded().get("brokers")
        self.recorded_brokers: int | None = (
            recorded if isinstance(recorded, int) and recorded > 0 else None
        )
        """The node count ``cluster.json`` keeps from the last run made here, if any."""
        self.brokers: int = brokers or self.recorded_brokers or 1
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
    def _folders(self) -> list[Path]:
        """Every node folder here: the home (one node) and each ``node-i``, beyond the
        current layout's count too."""
        if not self.home.is_dir():
            return []
        return [self.home, *sorted(p for p in self.home.glob("node-*") if p.is_dir())]

    def _owns(self, config: Path) -> bool:
        """Whether a config path is a node's of this kafka home."""
        folder = config.parent
        return config.name == "server.properties" and (
            folder == self.home or (folder.parent == self.home and folder.name.startswith("node-"))
        )

    def _found(self, pid: int, config: Path, started: int | None = None) -> Started:
        """A record for a process that none was written for: what its config says."""
        props: dict[str, str] = {}
        try:
            for line in config.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    props[key.strip()] = value.strip()
        except OSError:
            pass
        ports: dict[str, int] = {}
        for listener in props.get("listeners", "").split(","):
            name, sep, address = listener.partition("://")
            port = address.rpartition(":")[2]
            if sep and port.isdigit():
                ports[name.strip()] = int(port)
        folder = config.parent.name
        guess = int(folder[5:]) if folder.startswith("node-") and folder[5:].isdigit() else 1
        node = int(props["node.id"]) if props.get("node.id", "").isdigit() else guess
        client = next((p for name, p in ports.items() if name != "CONTROLLER"), 0)
        return Started(node, pid, client, ports.get("CONTROLLER", 0), config, started)

    def _read_records(self) -> list[Started]:
        try:
            value = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return []
        items = value.get("nodes") if isinstance(value, dict) else None
        return [r for item in items or [] if (r := Started.from_json(item)) is not None]

    def _write_records(self, records: list[Started]) -> None:
        if not records:
            self.record.unlink(missing_ok=True)
            return
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_name(f"{self.record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"nodes": [r.as_json() for r in records]}, indent=1))
        os.replace(tmp, self.record)

    def _pidfile_record(self, pidfile: Path) -> Started | None:
        try:
            text = pidfile.read_text().strip()
        except OSError:
            return None
        if text.isdigit():  # an older version's pid file: the pid alone
            return self._found(int(text), pidfile.parent / "server.properties")
        try:
            return Started.from_json(json.loads(text))
        except ValueError:
            return None

    def _candidates(self) -> list[Started]:
        """Every record of a node process here, alive or not: ``nodes.json``, each node
        folder's pid file, and (where ``/proc`` is) each ``kafka.Kafka`` running on a config
        of this home."""
        found = self._read_records()
        found += [
            r for f in self._folders() if (r := self._pidfile_record(f / "broker.pid")) is not None
        ]
        if PROC.is_dir():
            for entry in PROC.iterdir():
                if not entry.name.isdigit():
                    continue
                config = _config_of(_cmdline(int(entry.name)) or [])
                if config is not None and self._owns(Path(config)):
                    found.append(self._found(int(entry.name), Path(config)))
        return found

    def _alive(self, record: Started) -> bool:
        """Whether the record's process still runs, and is that node (not a reused pid)."""
        child = _children.get(record.pid)
        if child is not None:  # started by this process: ask it (this also reaps it)
            if child.poll() is None:
                return True
            del _children[record.pid]
            return False
        try:
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: not one started here
            return False
        if not PROC.is_dir():  # no way to tell more
            return True
        stat = _stat(record.pid)
        if stat is None or stat[0] in "ZX":
            return False
        if record.started is not None and stat[1] != record.started:
            return False  # the pid was reused
        return _config_of(_cmdline(record.pid) or []) == str(record.config)

    def running(self) -> list[Started]:
        """Every node process of this kafka home that runs now, whatever layout started it,
        by node id."""
        found: dict[int, Started] = {}
        for record in self._candidates():
            if record.pid not in found and self._alive(record):
                found[record.pid] = record
        return sorted(found.values(), key=lambda r: (r.node, r.port, r.pid))

    def _remember(self, record: Started) -> None:
        """Record a node process that was just started."""
        kept = [
            r for r in self._read_records() if r.config != record.config and r.pid != record.pid
        ]
        self._write_records([*kept, record])
        record.config.parent.mkdir(parents=True, exist_ok=True)
        record.config.with_name("broker.pid").write_text(json.dumps(record.as_json()))

    def _forget(self, stopped: list[Started]) -> None:
        """Drop the records of processes seen stopped, and any other record that no longer
        names a live process."""
        gone = {r.pid for r in stopped}
        records = self._read_records()
        self._write_records([r for r in records if r.pid not in gone and self._alive(r)])
        for folder in self._folders():
            pidfile = folder / "broker.pid"
            record = self._pidfile_record(pidfile)
            if record is not None and (record.pid in gone or not self._alive(record)):
                pidfile.unlink(missing_ok=True)

    def node_pid(self, node: Node) -> int | None:
        """The node's pid if it is running."""
        return next((r.pid for r in self.running() if r.config == node.config), None)

    def pid(self) -> int | None:
        """The first node's pid if it is running, else the lowest-numbered running node's
        of this home (of an earlier layout, say); None if none runs."""
        running = self.running()
        first = next((r.pid for r in running if r.config == self.nodes[0].config), None)
        return first or next((r.pid for r in running), None)

    def status(self) -> BrokerStatus:
        """Whether our broker runs and whether the bootstrap address answers."""
        return BrokerStatus(self.pid(), broker_answers(self.client_settings()), self.bootstrap())

    def node_status(self) -> list[NodeStatus]:
        """Each node of the current layout (its pid, its port, and whether it answers there)
        and each other node of this home that runs (of an earlier layout), by node id."""
        client = self.client_settings()
        running = self.running()
        rows: list[tuple[int, int | None, int]] = []
        for n in self.nodes:
            pid = next((r.pid for r in running if r.config == n.config), None)
            if pid is None and any(r.port == n.port for r in running):
                continue  # its port is held by a node of another layout, listed below
            rows.append((n.id, pid, n.port))
        listed = {pid for _, pid, _ in rows}
        rows += [(r.node, r.pid, r.port) for r in running if r.pid not in listed]
        rows.sort(key=lambda row: (row[0], row[2]))
        return [
            NodeStatus(
                node, pid, port,
                broker_answers(
                    client.model_copy(update={"bootstrap_servers": f"{self.host}:{port}"}), 2.0
                ),
            )
            for node, pid, port in rows
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
        cmd = [
            self._java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J}", "-cp", self._classpath(),
            MAIN_CLASS, str(node.config),
        ]  # fmt: skip
        with node.logfile.open("ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        _children[proc.pid] = proc
        stat = _stat(proc.pid)
        self._remember(
            Started(
                node.id, proc.pid, node.port, node.controller_port, node.config,
                stat[1] if stat else None, tuple(cmd),
            )
        )  # fmt: skip

    def kill(self, node: Node) -> None:
        """``kill -9`` one node (its data stays; ``start_node`` brings it back)."""
        victims = [r for r in self.running() if r.config == node.config]
        self._stop(victims, signal.SIGKILL, 30.0)

    def _stop(self, running: list[Started], how: signal.Signals, timeout_s: float) -> list[Started]:
        """Signal each process, wait for them to go (``kill -9`` past the timeout), forget
        those seen stopped; returns those still running."""
        for record in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, how)
        for sig, wait_s in ((how, timeout_s), (signal.SIGKILL, 10.0)):
            deadline = time.monotonic() + wait_s
            left = [r for r in running if self._alive(r)]
            while left and time.monotonic() < deadline:
                time.sleep(0.1)
                left = [r for r in left if self._alive(r)]
            if not left or sig == signal.SIGKILL:
                break
            for record in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGKILL)
        left = [r for r in running if self._alive(r)]
        self._forget([r for r in running if r not in left])
        return left

    def _refusals(self, fresh: bool, secure: bool | None, running: list[Started]) -> str | None:
        """Why ``up`` must not go on, checked before anything is stopped or wiped."""
        mine = {n.config for n in self.nodes}
        others = [r for r in running if r.config not in mine]
        if others and not fresh:
            listed = ", ".join(f"node {r.node} (pid {r.pid}, port {r.port})" for r in others)
            return (
                f"{listed} of another layout still run{'s' if len(others) == 1 else ''} here: "
                "stop them with `storemon kafka down`, or start with --fresh"
            )
        made = self.recorded_brokers
        has_data = any((f / "data" / "meta.properties").exists() for f in self._folders())
        if not fresh and made is not None and made != self.brokers and has_data:
            return (
                f"the cluster here was made with {made} broker{'s' if made > 1 else ''}: start it "
                f"with --fresh to make one of {self.brokers} (its data is wiped), or without "
                "--brokers"
            )
        made_plain = secure and not fresh and self.credentials() is None
        if made_plain and any((n.data / "meta.properties").exists() for n in self.nodes):
            return (
                "this broker's data was made without credentials: start it with --fresh "
                "to make a secure one"
            )
        ours = {p for r in running for p in (r.port, r.controller_port)}
        for node in self.nodes:
            for port in (node.port, node.controller_port):
                if port not in ours and _listening(node.host, port):
                    return (
                        f"something else already answers at {node.host}:{port}: stop it, or "
                        "set KAFKA_BOOTSTRAP_SERVERS (and STOREMON_CONTROLLER_PORT) to other ports"
                    )
        return None

    def up(
        self, fresh: bool = False, timeout_s: float = 120.0, secure: bool | None = None
    ) -> BrokerStatus:
        """Start every node (installing the jars first) and return once all answer.

        ``secure``: clients must authenticate (SASL_PLAINTEXT, SCRAM-SHA-512 or PLAIN) with
        the credentials made on the first start (:meth:`credentials`); a cluster keeps the
        mode its data was made with unless started ``fresh``; None keeps it as it was.
        """
        self.install()
        # Every check that can refuse comes before anything is stopped or wiped.
        refused = self._refusals(fresh, secure, self.running())
        if refused:
            raise BrokerError(refused)
        if fresh:
            self.down()  # every node of this home, whatever layout started it
            refused = self._refusals(fresh, secure, [])
            if refused:  # something took a port meanwhile
                raise BrokerError(refused)
            for folder in self._folders():  # an earlier layout's node folders too
                shutil.rmtree(folder / "data", ignore_errors=True)
            self.layout.unlink(missing_ok=True)
            if secure is not None:
                self.secrets.unlink(missing_ok=True)
        if secure and self.credentials() is None:
            self._make_credentials()
        self._cluster_id()  # recorded before any node is formatted, the same for all
        for node in self.nodes:
            self.start_node(node)
        deadline = time.monotonic() + timeout_s
        client = self.client_settings()
        while time.monotonic() < deadline:
            if broker_count(client, 2.0) >= self.brokers:
                return BrokerStatus(self.pid(), True, self.bootstrap())
            alive = {r.config for r in self.running()}
            for node in self.nodes:
                if node.config not in alive:
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
        """Stop every node of this home, whatever layout started it (``kill -9`` past the
        timeout); True if one was running. Raises if one could not be stopped."""
        running = self.running()
        left = self._stop(running, signal.SIGTERM, timeout_s)
        if left:
            listed = ", ".join(f"node {r.node} (pid {r.pid})" for r in left)
            raise BrokerError(f"could not stop {listed}")
        return bool(running)
