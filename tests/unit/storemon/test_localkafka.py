"""The local broker's pieces that need no broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from storemon.localkafka import LocalKafka, new_cluster_id
from streams.settings import Settings
from streams.topics import replication_for


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
