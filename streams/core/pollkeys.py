"""Polls as sorted int64 keys, and their one normalisation (docs/semantics.md §3)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.int64]
"""Polls as sorted int64 keys ``ts_us * 2 + active``: at one instant ``inactive`` sorts first."""

_EMPTY: Keys = np.empty(0, dtype=np.int64)


def poll_key(ts_us: int, active: bool) -> int:
    """The sort key of one poll."""
    return ts_us * 2 + int(active)


def _winners(keys: Keys, starts: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which of ``keys`` (sorted within each store, stores starting at ``starts``) are kept:
    the first of each instant of a store. ``ts * 2 + active`` sorts ``inactive`` first, so
    the first key of an instant is the winner (docs/semantics.md §3)."""
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


def normalize_keys(keys: Keys) -> Keys:
    """One store's polls sorted, one per instant (``inactive`` wins; see
    :func:`normalize_grouped`). The result does not depend on the order polls came in."""
    if len(keys) == 0:
        return _EMPTY
    _, keys = normalize_grouped(np.array([0, len(keys)], dtype=np.int64), keys)
    return keys
