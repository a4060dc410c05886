"""A three-node local cluster (``storemon kafka up --brokers 3``): topics replicated three
times with ``min.insync.replicas`` 2, a broker killed mid-replay with nothing lost or
counted twice and no process restarted, its replicas caught up once it is back, and a
topic that exists with weaker settings reported, not recreated."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from replay.synthetic import generate
from storemon.localkafka import LocalKafka
from storemon.processes import STOREMON, settings_env
from streams import kafka
from streams.settings import ROOT, Settings
from streams.topics import Replicated, describe_replication, topics_for
from tests.integration.conftest import Stack, assert_same_report, offline_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

PORT = int(os.environ.get("STOREMON_TEST_CLUSTER_PORT", "23092"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{PORT}", controller_port=PORT + 1, local_dir=ROOT / ".local"
    )
    local = LocalKafka(settings, home=tmp_path_factory.mktemp("cluster"), brokers=3)
    local.up(fresh=True)
    try:
        yield local
    finally:
        local.down()


async def _replicas(settings: Settings, names: list[str]) -> dict[str, Replicated]:
    admin = kafka.admin(settings)
    await admin.start()
    try:
        return await describe_replication(admin, names)
    finally:
        await admin.close()


def test_status_lists_every_node(cluster: LocalKafka) -> None:
    got = subprocess.run(
        [STOREMON, "kafka", "status", "--json"], capture_output=True, text=True, timeout=60,
        env=settings_env(cluster.settings.model_copy(update={"kafka_home": cluster.home})),
        check=False,
    )  # fmt: skip
    nodes = json.loads(got.stdout)
    assert [(n["node"], n["port"], n["up"]) for n in nodes] == [
        (1, PORT, True), (2, PORT + 2, True), (3, PORT + 4, True)
    ]  # fmt: skip
    assert all(isinstance(n["pid"], int) for n in nodes)


def test_a_broker_killed_mid_replay_loses_nothing_and_stops_no_one(
    cluster: LocalKafka, loop_2023: Path, tmp_path: Path
) -> None:
    data = generate(loop_2023, tmp_path / "data", stores=300, days=3, seed=51, duplicates=0.01)
    files = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
    stack = Stack(cluster.bootstrap(), tmp_path)
    names = list(topics_for(stack.settings))
    weak = names[[s.name for s in names].index(f"{stack.settings.topic_prefix}.dead-letters")]
    _create_weak(stack.settings, weak.name)  # made beforehand, one replica: reported, kept
    try:
        workers = [stack.worker(f"worker-{i}") for i in (1, 2)]
        api_url = stack.start_api()
        for i in (1, 2):
            stack.wait_worker_ready(f"worker-{i}")
        pids = [p.pid for p in [*workers, stack.processes["api"]]]
        replay = stack.start(
            "replay", "replay", "--status", str(files["status"]), "--hours", str(files["hours"]),
            "--timezones", str(files["timezones"]), "--rate", "2500",
        )  # fmt: skip
        time.sleep(4)
        assert replay.poll() is None, "the replay should still be running"
        victim = cluster.nodes[1]
        cluster.kill(victim)  # kill -9 of broker 2, midway
        assert replay.wait(400) == 0, stack.log("replay")
        stack.wait_caught_up(timeout_s=300)
        assert_same_report(stack.report(), offline_csv(files))
        assert [p.pid for p in [*workers, stack.processes["api"]]] == pids
        assert all(p.poll() is None for p in [*workers, stack.processes["api"]])
        ours = [s.name for s in names]
        replicas = asyncio.run(_replicas(cluster.client_settings(), ours))
        for name in ours:
            expected = 1 if name == weak.name else 3
            assert replicas[name].factor == expected, (name, replicas[name])
            if name != weak.name:
                assert replicas[name].min_insync == 2, (name, replicas[name])
        for log in ("worker-1", "api"):
            assert f"topic {weak.name} has replication factor 1" in stack.log(log), log
        cluster.start_node(victim)  # back on its data: its replicas catch up

        def caught_up() -> bool:
            now = asyncio.run(_replicas(cluster.client_settings(), ours))
            return all(now[n].in_sync == now[n].factor for n in ours)

        deadline = time.monotonic() + 180
        while not caught_up():
            assert time.monotonic() < deadline, "the restarted broker's replicas did not catch up"
            time.sleep(2)
        assert_same_report(stack.report(), offline_csv(files))
        assert api_url
    finally:
        stack.stop_all()


def _create_weak(settings: Settings, name: str) -> None:
    async def make() -> None:
        from aiokafka.admin import NewTopic

        admin = kafka.admin(settings)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, 1, 1)])
        finally:
            await admin.close()

    asyncio.run(make())


def test_a_fetch_woken_during_a_rebalance_loses_no_partition(
    cluster: LocalKafka, loop_2023: Path, tmp_path: Path
) -> None:
    """Workers still joining, a replay under way, a broker killed: no partition is left
    unconsumed, and a consistent report equals the offline one.

    The race behind the run where two partitions were never consumed again is brought
    about on purpose (``STOREMON_FAULT_PARK_FETCH``, ``streams/faults.py``): worker 1's
    next fetch waits through the rebalance that worker 2's arrival starts, until Faust has
    paused worker 1's new partitions for recovery, as a fetch woken by new data during the
    revoke does. aiokafka then hands it the first records of every partition (an empty
    filter is "every partition"), Faust drops them, and seeks back only the partitions
    that committed: worker 1 committed nothing (it was parked from the start), so its
    partitions were lost for good. Its watchdog is kept out of it (a stall after an hour),
    so this checks the fix at the root (``streams/engine.py``), not the healing.
    """
    data = generate(loop_2023, tmp_path / "data", stores=400, days=2, seed=17, duplicates=0.01)
    files = {"status": data.status, "hours": data.hours, "timezones": data.timezones}
    park = tmp_path / "park-fetch"
    stack = Stack(cluster.bootstrap(), tmp_path)
    joining = stack.settings
    stack.settings = joining.model_copy(update={"fault_park_fetch": park, "stall_after_s": 3600.0})
    victim = cluster.nodes[2]
    try:
        stack.worker("worker-1")
        stack.wait_worker_ready("worker-1")
        park.touch()
        stack.wait_for_log("worker-1", "fault: a fetch waits through the next rebalance", 60)
        stack.settings = joining
        stack.start_api()
        replay = stack.start(
            "replay", "replay", "--status", str(files["status"]), "--hours", str(files["hours"]),
            "--timezones", str(files["timezones"]), "--rate", "20000",
        )  # fmt: skip
        time.sleep(1.5)
        stack.worker("worker-2")  # joins while the replay runs: the rebalance
        time.sleep(4)
        cluster.kill(victim)  # kill -9 of broker 3, four seconds into the rebalance
        code = replay.wait(400)
        assert code == 0, f"replay exited {code}: {stack.log('replay')[-3000:]}"
        stack.wait_for_log("worker-1", "fault: the fetch that waited returns", 120)
        stack.wait_caught_up(timeout_s=240)
        assert_same_report(stack.report(consistent="true"), offline_csv(files))
        metrics = httpx.get(f"{stack.api_url}/metrics", timeout=10).text
        assert "storemon_partition_stalls_total" in metrics
        assert all(
            line.endswith(" 0.0")
            for line in metrics.splitlines()
            if line.startswith("storemon_partition_stalls_total")
        ), "the watchdog healed a stall the engine fix should have prevented"
    finally:
        stack.stop_all()
        cluster.start_node(victim)
