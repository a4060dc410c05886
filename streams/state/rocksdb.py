"""Faust's RocksDB store, less a full garbage collection at every rebalance.

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
