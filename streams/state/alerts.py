"""What a worker remembers for alerts: each live store's :class:`AlertState` (an LRU
bounded by ``STOREMON_ALERT_STATES``; a store evicted or never seen is read back from its
segments), how many of them are down, and when each must be looked at again (silence, or
an alert held until the store opens), one entry per store."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from streams.core.alerts import Alert, AlertState


class Due(NamedTuple):
    """A store to look at again."""

    at_us: int
    """When."""
    since_us: int
    """Its newest poll when this was set: a newer poll makes it stale."""
    held: Alert | None
    """An alert held until the store opens (None: a check for silence)."""


class AlertStates:
    """Alert states by store, and what is due when."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._states: OrderedDict[bytes, AlertState] = OrderedDict()
        self.down = 0
        """Stores among those held whose newest observation is inactive."""
        self._due: dict[bytes, Due] = {}
        self._heap: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self._states)

    def get(self, store: bytes) -> AlertState | None:
        """The store's state, if held."""
        state = self._states.get(store)
        if state is not None:
            self._states.move_to_end(store)
        return state

    def put(self, store: bytes, state: AlertState) -> None:
        """Keep the store's new state (the least recently used go past the limit)."""
        old = self._states.pop(store, None)
        self.down += _is_down(state) - _is_down(old)
        self._states[store] = state
        while len(self._states) > self.limit:
            gone, dropped = self._states.popitem(last=False)
            self.down -= _is_down(dropped)
            self._due.pop(gone, None)

    def forget(self, keep: set[int], partition_of: Callable[[bytes], int]) -> None:
        """Drop the stores whose partition is not in ``keep`` (after a rebalance)."""
        for store in [s for s in self._states if partition_of(s) not in keep]:
            self.down -= _is_down(self._states.pop(store))
            self._due.pop(store, None)

    def set_due(self, store: bytes, due: Due) -> None:
        """Look at the store again at ``due.at_us`` (replacing what was due for it)."""
        self._due[store] = due
        heapq.heappush(self._heap, (due.at_us, store))
        if len(self._heap) > 2 * len(self._due) + 1024:  # stale entries: rebuild, O(n)
            self._heap = [(d.at_us, s) for s, d in self._due.items()]
            heapq.heapify(self._heap)

    def due_of(self, store: bytes) -> Due | None:
        """What is due for the store, if anything."""
        return self._due.get(store)

    def pop_due(self, now_us: int) -> list[tuple[bytes, Due]]:
        """Every store due by ``now_us``, each once."""
        out = []
        while self._heap and self._heap[0][0] <= now_us:
            at, store = heapq.heappop(self._heap)
            due = self._due.get(store)
            if due is not None and due.at_us == at:
                del self._due[store]
                out.append((store, due))
        return out


def _is_down(state: AlertState | None) -> int:
    return int(state is not None and state.observed_us is not None and not state.active)
