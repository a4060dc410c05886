"""The progress watchdog's rule: a partition with lag whose processed offset does not move
is stalled, and the worker heals it by steps, each tried for one more interval.

Pure: the worker's shell feeds it what it measured (its own processed offsets, the log end
offsets) and carries out the steps it returns. Its cost per check grows with the
partitions a worker owns, never with the stores.

Steps, for a partition stalled ``stall_after_s`` seconds, then each further interval:

1. ``RESUME``: log and count the stall, resume the partition and seek it to the next
   offset to process (the engine may have left it paused or its fetch position lost);
2. ``REJOIN``: leave the consumer group cleanly and join again (a new assignment);
3. ``EXIT``: exit non-zero, so that the worker's supervisor starts it afresh.

A partition that moves, however slowly, or that has nothing to read (lag 0) is healthy and
starts from step 0 again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

RESUME, REJOIN, EXIT = "resume", "rejoin", "exit"
STEPS = (RESUME, REJOIN, EXIT)

Key = tuple[str, int]
"""A topic partition: the topic's name and the partition."""


class Offsets(NamedTuple):
    """What the worker measured of one partition it owns."""

    processed: int
    """The next offset to process: one past the newest offset processed (or the group's
    committed offset when this worker has processed none of it yet)."""
    end: int
    """The log end offset."""

    @property
    def lag(self) -> int:
        """Messages written and not yet processed."""
        return max(0, self.end - self.processed)


class Stalled(NamedTuple):
    """One stalled partition, as the watchdog logs it."""

    topic: str
    """The topic."""
    partition: int
    """The partition."""
    processed: int
    """The next offset to process."""
    end: int
    """The log end offset."""
    stalled_s: float
    """How long its processed offset has not moved while it had lag."""


class Heal(NamedTuple):
    """A step to carry out for some stalled partitions."""

    step: str
    """``resume``, ``rejoin`` or ``exit``."""
    stalled: list[Stalled]
    """The partitions it is for."""


@dataclass
class _Track:
    processed: int
    since: float
    """When the partition last moved or had no lag."""
    step: int = 0
    """How many healing steps were taken since then."""


@dataclass
class ProgressWatch:
    """Per partition, since when it has made no progress, and what was tried."""

    stall_after_s: float
    """A partition with lag and no progress this long is stalled; each step is given as
    long again before the next."""
    _tracks: dict[Key, _Track] = field(default_factory=dict)

    def check(self, now: float, measured: Mapping[Key, Offsets]) -> list[Heal]:
        """Look at the partitions owned now; the steps to take, the gravest last.

        Partitions not in ``measured`` (no longer owned) are forgotten.
        """
        for key in self._tracks.keys() - measured.keys():
            del self._tracks[key]
        due: dict[int, list[Stalled]] = {}
        for key, offsets in measured.items():
            track = self._tracks.get(key)
            if track is None or offsets.lag == 0 or offsets.processed > track.processed:
                self._tracks[key] = _Track(offsets.processed, now)
                continue
            track.processed = max(track.processed, offsets.processed)
            stalled_s = now - track.since
            if track.step < len(STEPS) and stalled_s >= self.stall_after_s * (track.step + 1):
                due.setdefault(track.step, []).append(
                    Stalled(key[0], key[1], offsets.processed, offsets.end, stalled_s)
                )
                track.step += 1
        return [Heal(STEPS[step], due[step]) for step in sorted(due)]

    def stalled(self, now: float) -> list[tuple[Key, float]]:
        """Partitions stalled now (at least one step taken), with for how long."""
        return sorted((k, now - t.since) for k, t in self._tracks.items() if t.step > 0)


def behind(ends: Mapping[str, int], processed: Mapping[str, int] | None) -> int:
    """Messages of one partition's source topics written before ``ends`` were read and not
    processed by its owner when it answered (``processed``: per topic, the next offset to
    process; None when the owner did not say, which counts as nothing processed)."""
    done = processed or {}
    return sum(max(0, end - done.get(topic, 0)) for topic, end in ends.items())
