"""Each store's profile bytes in memory, read from the ``profiles`` table once and kept
current by every profile write and changelog record; cleared when partitions go."""

from __future__ import annotations

from collections.abc import Callable


class ProfileIndex:
    """Profile bytes by store (bounded by the stores of the partitions held)."""

    def __init__(self) -> None:
        self._profiles: dict[bytes, bytes | None] = {}

    def get(self, store: bytes, read: Callable[[bytes], bytes | None]) -> bytes | None:
        """The store's profile bytes (``read`` from the table on a miss)."""
        try:
            return self._profiles[store]
        except KeyError:
            value = self._profiles[store] = read(store)
            return value

    def put(self, store: bytes, profile_bytes: bytes | None) -> None:
        """Record a write (None: the profile was deleted)."""
        self._profiles[store] = profile_bytes

    def clear(self) -> None:
        """Forget everything."""
        self._profiles.clear()
