"""The local broker's pieces: the ones that need no broker, and what ``storemon kafka``
keeps track of (fake nodes stand in for brokers: a Python listener whose command line is a
node's, ``… kafka.Kafka <its server.properties>``; one test starts a real broker)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storemon.localkafka import BrokerError, LocalKafka, new_cluster_id
from storemon.processes import STOREMON, settings_env
from streams.settings import Settings
from streams.topics import replication_for

HOST = "127.0.0.1"
# A stand-in for a broker (or for something else on a port): listens on the ports it is
# given after its first two arguments, and sleeps until it is stopped.
LISTENER = """
import socket, sys, time
socks = []
for port in sys.argv[3:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen()
    socks.append(s)
while True:
    time.sleep(1)
"""


def test_cluster_ids_never_begin_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(5_000)}
    assert len(ids) == 5_000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    # About one id in 64 would begin with "-": 5,000 draws meet some, and all were redrawn.


@pytest.mark.parametrize(
    ("brokers", "factor", "in_sync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)]
)
def test_the_topics_and_the_brokers_internal_ones_are_replicated_by_one_rule(
    tmp_path: Path, brokers: int, factor: int, in_sync: int
) -> None:
    assert replication_for(brokers) == (factor, in_sync)  # a 2-node cluster is not asked for 3
    assert replication_for(brokers, 4) == (4, 3)  # what the settings ask wins
    assert replication_for(brokers, 4, 4) == (4, 4)
    kafka = LocalKafka(Settings(local_dir=tmp_path), home=tmp_path / "kafka", brokers=brokers)
    props = kafka.server_properties()
    assert props["offsets.topic.replication.factor"] == str(factor)
    assert props["min.insync.replicas"] == str(in_sync)


# -- what `storemon kafka` keeps track of ----------------------------------------------------
def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return not _listening(port)


def _processes_under(folder: Path) -> list[int]:
    """The live processes whose command line names something under ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                argv = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in argv:
                found.append(int(entry.name))
    return found


class Fakes:
    """The processes a test starts, all stopped when it ends (and any broker the code under
    test left running in the test's folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, argv: list[str], ports: list[int]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", LISTENER, *argv, *map(str, ports)])
        self.procs.append(proc)
        deadline = time.monotonic() + 15
        while not all(_listening(p) for p in ports):
            assert proc.poll() is None, f"the stand-in on {ports} exited"
            assert time.monotonic() < deadline, f"the stand-in on {ports} does not listen"
            time.sleep(0.05)
        return proc

    def foreign(self, port: int) -> subprocess.Popen[bytes]:
        """Something that is no node of ours, listening on a port."""
        return self._start(["not-kafka", "-"], [port])

    def node(
        self, folder: Path, node: int, port: int, controller_port: int, pidfile: bool = True
    ) -> subprocess.Popen[bytes]:
        """A node as an earlier ``up`` left it: its config, data, and (``pidfile``) the pid
        file that version wrote, the pid alone."""
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "server.properties"
        config.write_text(
            f"process.roles=broker,controller\nnode.id={node}\n"
            f"listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}\n"
        )
        (folder / "data").mkdir(exist_ok=True)
        (folder / "data" / "meta.properties").write_text(f"node.id={node}\n")
        proc = self._start(["kafka.Kafka", str(config)], [port, controller_port])
        if pidfile:
            (folder / "broker.pid").write_text(str(proc.pid))
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        deadline = time.monotonic() + 30
        while left := _processes_under(self.folder):
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            assert time.monotonic() < deadline, f"could not stop {left}"
            time.sleep(0.1)


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[Fakes]:
    made = Fakes(tmp_path)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def port() -> int:
    """The first of 8 free ports in 26000–26999 (clients on even offsets, controllers odd),
    from a block drawn at random: other sessions may run these tests at the same time."""
    blocks = list(range(26000, 26990, 10))
    start = random.randrange(len(blocks))
    for base in blocks[start:] + blocks[:start]:
        if all(_free(p) for p in range(base, base + 8)):
            return base
    pytest.fail("no 8 free ports in 26000-26999")


def _settings(port: int) -> Settings:
    return Settings(bootstrap_servers=f"{HOST}:{port}", controller_port=port + 1)


def _earlier_layout(home: Path, fakes: Fakes, port: int, pidfile: bool = True) -> list[int]:
    """Three nodes running as an earlier ``up --brokers 3`` left them; their pids."""
    return [
        fakes.node(home / f"node-{i}", i, port + 2 * (i - 1), port + 1 + 2 * (i - 1), pidfile).pid
        for i in (1, 2, 3)
    ]


def _storemon(settings: Settings, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOREMON, "kafka", *args], capture_output=True, text=True, timeout=120, check=False,
        env=settings_env(settings.model_copy(update={"kafka_home": home})),
    )  # fmt: skip


def _exited(pid: int, fakes: Fakes, timeout_s: float = 10.0) -> bool:
    proc = next(p for p in fakes.procs if p.pid == pid)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_fresh_up_that_is_refused_has_wiped_nothing(
    tmp_path: Path, fakes: Fakes, port: int
) -> None:
    """Problem 1: `up --fresh --brokers 1` refused because its port answered, after it had
    already removed cluster.json and the data."""
    home = tmp_path / "kafka"
    layout = json.dumps({"brokers": 3, "cluster_id": new_cluster_id()})
    home.mkdir()
    (home / "cluster.json").write_text(layout)
    folders = [home, *(home / f"node-{i}" for i in (1, 2, 3))]  # an earlier 1-node run too
    for folder in folders:
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "meta.properties").write_text("node.id=1\n")
    fakes.foreign(port)

    with pytest.raises(BrokerError, match=f"something else already answers at {HOST}:{port}"):
        LocalKafka(_settings(port), home=home, brokers=1).up(fresh=True, timeout_s=30)

    assert (home / "cluster.json").read_text() == layout
    assert all((f / "data" / "meta.properties").exists() for f in folders)
    assert _processes_under(tmp_path) == []  # no broker was started either


def test_an_up_of_another_layout_refuses_while_the_earlier_one_runs(
    tmp_path: Path, fakes: Fakes, port: int
) -> None:
    """Problem 1: a node of an earlier layout that runs is checked for before anything."""
    home = tmp_path / "kafka"
    pids = _earlier_layout(home, fakes, port)

    with pytest.raises(BrokerError, match="of another layout still run here"):
        LocalKafka(_settings(port), home=home, brokers=1).up(timeout_s=30)

    assert not (home / "data").exists()  # nothing was formatted or started for it
    assert _processes_under(tmp_path) == pids


@pytest.mark.parametrize("pidfiles", [True, False], ids=["pid-files", "no-pid-files"])
def test_down_and_status_find_every_node_started_here_whatever_the_layout(
    tmp_path: Path, fakes: Fakes, port: int, pidfiles: bool
) -> None:
    """Problem 2: with three nodes running and no cluster.json (the layout it remembers is
    one node), `down` said "kafka was not running" and `status --json` listed one node with
    pid null. Without pid files the nodes are found by their command lines."""
    home = tmp_path / "kafka"
    settings = _settings(port)
    pids = _earlier_layout(home, fakes, port, pidfiles)
    # A node folder beyond them whose pid file names a live process that is no node of ours
    # (a reused pid): it must be left alone.
    impostor = fakes.foreign(port + 6)
    (home / "node-4").mkdir()
    (home / "node-4" / "broker.pid").write_text(str(impostor.pid))

    status = _storemon(settings, home, "status", "--json")
    nodes = json.loads(status.stdout)
    assert [(n["node"], n["pid"], n["port"]) for n in nodes] == [
        (1, pids[0], port), (2, pids[1], port + 2), (3, pids[2], port + 4)
    ]  # fmt: skip

    stopped = _storemon(settings, home, "down")
    assert (stopped.returncode, stopped.stdout.strip()) == (0, "kafka stopped"), stopped.stderr
    assert all(_exited(pid, fakes) for pid in pids)
    assert impostor.poll() is None
    assert not any(home.glob("node-*/broker.pid"))  # confirmed stopped, so forgotten
    assert _storemon(settings, home, "down").stdout.strip() == "kafka was not running"


def test_a_fresh_up_replaces_every_node_of_an_earlier_layout(
    tmp_path: Path, fakes: Fakes, port: int
) -> None:
    """Problems 1 and 2, as seen: three nodes still ran from an earlier `up --brokers 3`, and
    `up --fresh --brokers 1` took the first one's port for someone else's. It stops them, then
    starts one real broker, which it records until it is stopped."""
    home = tmp_path / "kafka"
    (home / "cluster.json").parent.mkdir(parents=True)
    (home / "cluster.json").write_text(json.dumps({"brokers": 3, "cluster_id": new_cluster_id()}))
    pids = _earlier_layout(home, fakes, port)
    kafka = LocalKafka(_settings(port), home=home, brokers=1)
    assert kafka.installed(), "the Kafka jars are not installed: run `storemon kafka install`"

    status = kafka.up(fresh=True, timeout_s=90)
    assert status.answers
    assert status.pid is not None
    assert all(_exited(pid, fakes) for pid in pids)
    assert not any((home / f"node-{i}" / "data").exists() for i in (1, 2, 3))  # wiped
    records = json.loads((home / "nodes.json").read_text())["nodes"]
    assert [(r["node"], r["pid"], r["port"]) for r in records] == [(1, status.pid, port)]
    assert isinstance(records[0]["started"], int)
    assert "kafka.Kafka" in records[0]["command"]
    assert [(n.node, n.pid, n.up) for n in kafka.node_status()] == [(1, status.pid, True)]

    assert LocalKafka(_settings(port), home=home).down()
    assert not (home / "nodes.json").exists()
    assert not (home / "broker.pid").exists()
    assert _processes_under(tmp_path) == []


def test_a_fresh_up_without_brokers_says_it_keeps_the_last_runs_count(
    tmp_path: Path, fakes: Fakes, port: int
) -> None:
    """Problem 3: `up --fresh` without --brokers silently made as many nodes as the last run."""
    home = tmp_path / "kafka"
    home.mkdir()
    (home / "cluster.json").write_text(json.dumps({"brokers": 3, "cluster_id": new_cluster_id()}))
    fakes.foreign(port)  # so that it refuses right after saying what it would start
    said = "using 3 brokers, as the last run made; pass --brokers N to change"

    kept = _storemon(_settings(port), home, "up", "--fresh")
    assert said in kept.stdout.splitlines()
    assert kept.returncode == 2
    assert "something else already answers" in kept.stderr

    chosen = _storemon(_settings(port), home, "up", "--fresh", "--brokers", "3")
    assert "as the last run made" not in chosen.stdout
    assert chosen.returncode == 2


def test_an_up_of_another_count_on_the_data_of_a_cluster_refuses(
    tmp_path: Path, fakes: Fakes, port: int
) -> None:
    """Problem 1: the cluster's data was made for 3 nodes; one node is not started beside it."""
    home = tmp_path / "kafka"
    (home / "node-1" / "data").mkdir(parents=True)
    (home / "node-1" / "data" / "meta.properties").write_text("node.id=1\n")
    (home / "cluster.json").write_text(json.dumps({"brokers": 3, "cluster_id": new_cluster_id()}))

    with pytest.raises(BrokerError, match="made with 3 brokers: start it with --fresh"):
        LocalKafka(_settings(port), home=home, brokers=1).up(timeout_s=30)

    assert not (home / "data").exists()
    assert _processes_under(tmp_path) == []
