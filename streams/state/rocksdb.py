"""Faust's RocksDB store, less a full garbage collection at every rebalance, and with a
persisted changelog offset that never passes another writer's records.

Faust's ``revoke_partitions`` runs ``gc.collect()`` each time, for every table, even when
nothing is revoked. In a worker holding 135,000 stores (their index, timelines and alert
states: millions of objects) that is about half a second per table, spent while the
partitions of a lost worker wait for their new owner (``python -m bench.scale``, failover).
The collection frees nothing a reference count would not: Faust no longer closes the
databases it drops, it only lets go of them.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.stores import rocksdb
from faust.types import TP

log = logging.getLogger(__name__)


def persisted_after(current: int | None, first: int, last: int) -> int | None:
    """The offset a database holds everything up to, after our records ``first``..``last``
    were written: ``last`` when they follow on from ``current`` (None: nothing yet), else
    ``current`` (another writer's records lie between, unread here)."""
    expected = 0 if current is None else current + 1
    if first == expected:
        return last
    return current


class Store(rocksdb.Store):
    """The RocksDB store of this app's tables."""

    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        """Let go of the databases of partitions this worker no longer serves."""
        for tp in tps:
            if (
                tp.topic in table.changelog_topic.topics
                and self._dbs.pop(tp.partition, None) is not None
            ):
                log.info("let go of the %s database of partition %d", table.name, tp.partition)

    def own_write_acknowledged(self, tp: TP, first: int, last: int) -> None:
        """Our changelog records ``first``..``last`` of ``tp`` are written: the offset this
        database holds everything up to moves to ``last``, but only when they follow on
        from it. A gap means another worker wrote to the partition in between (this one
        had lost it without knowing: frozen past its session, then thawed); the offset
        then stays, so that the next restore reads those records too (Faust would move
        it past them, and they would never be applied here)."""
        current = self.persisted_offset(tp)
        moved = persisted_after(current, first, last)
        if moved != current and moved is not None:
            self.set_persisted_offset(tp, moved)
        elif first > (expected := 0 if current is None else current + 1):
            log.warning(
                "%s partition %d: records %d..%d were written by another worker before ours "
                "(at %d): this copy reads them at its next restore",
                tp.topic, tp.partition, expected, first - 1, first,
            )  # fmt: skip
