"""A store's retained polls: sorted, deduplicated, bounded, compact on disk."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from streams.core.timestamps import US_PER_DAY

Keys = npt.NDArray[np.int64]
"""Polls as sorted int64 keys ``ts_us * 2 + active``: at one instant ``inactive`` sorts first."""

RETENTION_US = 14 * US_PER_DAY
"""Polls older than the store's newest poll minus this are dropped (all but the carry-in)."""

_FORMAT = 1
_EMPTY: Keys = np.empty(0, dtype=np.int64)


def poll_key(ts_us: int, active: bool) -> int:
    """The sort key of one poll."""
    return ts_us * 2 + int(active)


def _winners(keys: Keys, starts: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which of ``keys`` (sorted within each store, stores starting at ``starts``) are kept:
    the first of each instant of a store. ``ts * 2 + active`` sorts ``inactive`` first, so
    the first key of an instant is the winner (SPEC §3)."""
    ts = keys >> 1
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(ts[1:], ts[:-1], out=first[1:])
    first[starts] = True  # a store's first poll never collides with the store before
    return first


def normalize_grouped(
    bounds: npt.NDArray[np.int64], keys: Keys
) -> tuple[npt.NDArray[np.int64], Keys]:
    """Several stores' polls, store ``i`` being ``keys[bounds[i]:bounds[i+1]]``: each
    store's keys sorted, one poll per instant (``inactive`` wins). The one normalisation of
    polls: :func:`normalize_keys` is the same for one store; the offline report and the
    replay use this."""
    if len(keys) == 0:
        return bounds, _EMPTY
    sizes = np.diff(bounds)
    starts = bounds[:-1][sizes > 0]
    owner = np.repeat(np.arange(len(sizes)), sizes)
    step_ok = np.diff(keys) >= 0
    step_ok[starts[1:] - 1] = True  # a new store may start lower
    if not step_ok.all():
        keys = keys[np.lexsort((keys, owner))]
    kept = _winners(keys, starts)
    if kept.all():
        return bounds, keys
    new_bounds = np.zeros_like(bounds)
    np.cumsum(np.bincount(owner[kept], minlength=len(sizes)), out=new_bounds[1:])
    return new_bounds, keys[kept]


def normalize_keys(keys: Keys, retention_us: int | None = RETENTION_US) -> Keys:
    """One store's polls sorted, one per instant (``inactive`` wins; see
    :func:`normalize_grouped`), then what retention allows.

    Kept: every poll within ``retention_us`` of the newest one, and the newest poll before
    that horizon, whose status still reaches into the oldest window (carry-in). The result
    does not depend on the order in which polls arrived. ``None`` keeps everything.
    """
    if len(keys) == 0:
        return _EMPTY
    _, keys = normalize_grouped(np.array([0, len(keys)], dtype=np.int64), keys)
    if retention_us is None:
        return keys
    ts = keys >> 1
    horizon = int(ts[-1]) - retention_us
    cut = int(np.searchsorted(ts, horizon, side="left"))
    if cut > 1:
        keys = keys[cut - 1 :]
    return keys


class PollLog:
    """The retained polls of one store; add in any order, read sorted.

    Adding is O(1); the sort, deduplication and pruning happen once, when the keys are
    next read. Equal sets of polls give equal logs whatever the order they came in.
    """

    __slots__ = ("_keys", "_pending")

    def __init__(self, keys: Keys | None = None) -> None:
        self._keys: Keys = _EMPTY if keys is None else normalize_keys(keys)
        self._pending: list[int] = []

    def add(self, ts_us: int, active: bool) -> None:
        """Record one poll."""
        self._pending.append(ts_us * 2 + int(active))

    def add_many(self, polls: Iterable[tuple[int, bool]]) -> None:
        """Record several ``(ts_us, active)`` polls."""
        self._pending.extend(ts * 2 + int(active) for ts, active in polls)

    def add_keys(self, keys: Keys) -> None:
        """Record polls given as keys (see :data:`Keys`), e.g. from another log."""
        self._keys = normalize_keys(np.concatenate((self.keys, keys)))

    @property
    def keys(self) -> Keys:
        """The retained polls as sorted keys."""
        if self._pending:
            pending = np.fromiter(self._pending, dtype=np.int64, count=len(self._pending))
            self._pending = []
            self._keys = normalize_keys(np.concatenate((self._keys, pending)))
        return self._keys

    def __len__(self) -> int:
        return len(self.keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PollLog) and np.array_equal(self.keys, other.keys)

    def __hash__(self) -> int:  # mutable: not hashable, like a list
        raise TypeError("PollLog is mutable and not hashable")

    def to_bytes(self) -> bytes:
        """A compact binary form: one format byte, then 8 bytes a poll (little-endian)."""
        return bytes((_FORMAT,)) + self.keys.astype("<i8", copy=False).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PollLog:
        """Read what :meth:`to_bytes` wrote."""
        if not data or data[0] != _FORMAT or (len(data) - 1) % 8:
            raise ValueError(f"not a poll log (format byte {data[:1]!r}, {len(data)} bytes)")
        log = cls()
        log._keys = np.frombuffer(data, dtype="<i8", offset=1).astype(np.int64)
        return log
