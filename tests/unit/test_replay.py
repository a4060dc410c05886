"""The replay's pacing: every poll sent once, grouped per store, in time order."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import numpy as np

from replay.producer import _send_fast, _send_paced
from streams.core.exports import group_polls

HOUR = 3_600_000_000


def _polls() -> tuple[object, int]:
    rng = np.random.default_rng(3)
    ids, keys = [], []
    for store in ("a", "b", "c"):
        for t in rng.integers(0, 48 * HOUR, size=40).tolist():
            ids.append(store)
            keys.append(t * 2 + int(rng.integers(0, 2)))
    return group_polls(ids, np.array(keys, dtype=np.int64)), len(keys)


def test_paced_by_the_data_sends_everything_once_in_time_order() -> None:
    polls, total = _polls()
    sent: list[tuple[str, list[int]]] = []
    ticks: list[int] = []
    tick = [0, -1.0]

    async def send(store_id: str, keys: np.ndarray) -> None:
        now = asyncio.get_running_loop().time()
        if now - tick[1] > 0.05:  # the replay sleeps 0.1 s between ticks
            tick[0] += 1
            tick[1] = now
        sent.append((store_id, keys.tolist()))
        ticks.append(tick[0])

    # 48 hours of data at 10^6× its pace: about 0.2 s.
    messages = asyncio.run(_send_paced(polls, send, rate=None, speed=1e6))  # type: ignore[arg-type]
    assert messages == len(sent)
    assert sorted(k for _, keys in sent for k in keys) == sorted(polls.keys.tolist())  # type: ignore[attr-defined]
    assert sum(len(k) for _, k in sent) == total
    assert len(set(ticks)) > 1  # spread over several ticks, not one burst
    by_tick: dict[int, list[int]] = {}
    for (_store, keys), t in zip(sent, ticks, strict=True):
        by_tick.setdefault(t, []).extend(k >> 1 for k in keys)
    order = sorted(by_tick)
    for earlier, later in pairwise(order):
        assert max(by_tick[earlier]) <= min(by_tick[later])  # time order across ticks
    for t in order:  # within a tick: one message per store
        stores = [s for (s, _), tt in zip(sent, ticks, strict=True) if tt == t]
        assert len(stores) == len(set(stores))


def test_paced_by_rate_and_fast_send_everything() -> None:
    polls, total = _polls()
    counted: list[int] = []

    async def send(store_id: str, keys: np.ndarray) -> None:
        counted.append(len(keys))

    asyncio.run(_send_paced(polls, send, rate=600.0, speed=None))  # type: ignore[arg-type]
    assert sum(counted) == total
    counted.clear()
    assert asyncio.run(_send_fast(polls, send)) == 3  # type: ignore[arg-type]
    assert sum(counted) == total
