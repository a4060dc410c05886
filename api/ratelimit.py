"""Token buckets: each principal may make ``rate`` ingestion requests a second, and up to
``burst`` at once; beyond that a request is refused (429) with how long to wait."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Buckets:
    """One bucket per principal (bounded by the tokens there are, plus ``anonymous``)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name → (tokens, at)

    def take(self, name: str) -> float:
        """Take one request's worth for ``name``: 0.0 when allowed, else the seconds to wait
        before one is (the request is not counted then)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, at = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[name] = (tokens - 1.0, now)
            return 0.0
        self._buckets[name] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after(wait_s: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
