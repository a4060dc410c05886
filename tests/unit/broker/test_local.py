"""The local broker's pieces that need no broker."""

from __future__ import annotations

from streams.broker.local import new_cluster_id


def test_cluster_ids_never_begin_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(5_000)}
    assert len(ids) == 5_000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    # About one id in 64 would begin with "-": 5,000 draws meet some, and all were redrawn.
