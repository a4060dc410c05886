"""Consumer health over a sliding window of samples, evaluated like Burrow's rules.

Per partition, from the window's samples (oldest first):

- ``ERR``: the committed offset went backwards, or lies past the log end.
- ``OK``: the lag was zero at some sample, or it did not grow from first to last sample
  while the group committed.
- ``STOP``: lag throughout, the committed offset never moved, and the group has no member
  (nobody consumes).
- ``STALL``: lag throughout, the committed offset never moved, but members are there
  (consumers alive, not progressing).
- ``WARN``: the group commits, but the lag grew at every step (falling behind).

A group's status is the worst of its partitions'.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

OK, WARN, STALL, STOP, ERR = "OK", "WARN", "STALL", "STOP", "ERR"
STATUSES = (OK, WARN, STALL, STOP, ERR)
_RANK = {s: i for i, s in enumerate(STATUSES)}


class Sample(NamedTuple):
    """One look at one partition."""

    at: float
    """When, in seconds (any monotonic clock)."""
    end: int
    """Log end offset."""
    committed: int | None
    """The group's committed offset; None when it never committed."""

    @property
    def lag(self) -> int:
        """Messages behind."""
        return self.end - (self.committed or 0)


def partition_status(window: Sequence[Sample], has_members: bool) -> str:
    """The status of one partition from its window of samples, oldest first."""
    if not window:
        return OK
    offsets = [s.committed or 0 for s in window]
    if any(b < a for a, b in pairwise(offsets)):
        return ERR
    if any((s.committed or 0) > s.end for s in window):
        return ERR
    lags = [s.lag for s in window]
    if min(lags) == 0:
        return OK
    if offsets[0] == offsets[-1] and len(window) > 1:
        return STALL if has_members else STOP
    if len(window) > 2 and all(b > a for a, b in pairwise(lags)):
        return WARN
    return OK


def worst(statuses: Sequence[str]) -> str:
    """The most severe of several statuses (OK for none)."""
    return max(statuses, key=_RANK.__getitem__, default=OK)
