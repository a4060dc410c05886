"""The progress watchdog's rule: a partition with lag whose position does not move is
stalled, and the worker heals it by steps, each tried for one more interval.

A partition's position is the lower of the next offset its owner will process and the
group's committed offset. Both must move: a fetch that stopped stops the first, and a
commit that waits for an acknowledgement that will never come (a message the engine
skipped inside a partition it still reads) stops the second while processing goes on.
Either way the operator's lag (``storemon lag``, from the commits) does not fall.

Pure: the worker's shell feeds it what it measured (its own processed offsets, the log end
offsets) and carries out the steps it returns. Its cost per check grows with the
partitions a worker owns, never with the stores.

Steps, for a partition stalled ``stall_after_s`` seconds, then each further interval:

1. ``RESUME``: log and count the stall, resume the partition and seek it to its position
   (the engine may have left it paused, lost its fetch position, or skipped a message its
   commits wait for; what is read again is applied idempotently);
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
    committed: int | None = None
    """The group's committed offset (not below the log start); None: not known, taken as
    ``processed``."""

    @property
    def position(self) -> int:
        """Where the partition is: everything before it is processed and committed."""
        return self.processed if self.committed is None else min(self.processed, self.committed)

    @property
    def lag(self) -> int:
        """Messages written and not yet both processed and committed."""
        return max(0, self.end - self.position)


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
    """How long its position has not moved while it had lag."""
    committed: int | None = None
    """The group's committed offset, if known."""

    @property
    def position(self) -> int:
        """Where the partition is sought back to when it is resumed."""
        return self.processed if self.committed is None else min(self.processed, self.committed)


class Heal(NamedTuple):
    """A step to carry out for some stalled partitions."""

    step: str
    """``resume``, ``rejoin`` or ``exit``."""
    stalled: list[Stalled]
    """The partitions it is for."""


@dataclass
class _Track:
    position: int
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
            if track is None or offsets.lag == 0 or offsets.position > track.position:
                self._tracks[key] = _Track(offsets.position, now)
                continue
            stalled_s = now - track.since
            if track.step < len(STEPS) and stalled_s >= self.stall_after_s * (track.step + 1):
                due.setdefault(track.step, []).append(
                    Stalled(
                        key[0],
                        key[1],
                        offsets.processed,
                        offsets.end,
                        stalled_s,
                        offsets.committed,
                    )
                )
                track.step += 1
        return [Heal(STEPS[step], due[step]) for step in sorted(due)]

    def paused(self, seconds: float) -> None:
        """The worker was not ready (recovering, rebalancing) for ``seconds``: partitions do
        not move then, so that time is not counted as stalled. The steps taken are kept,
        so a stall that a rejoin did not heal goes on to the next step."""
        for track in self._tracks.values():
            track.since += seconds

    def stalled(self, now: float) -> list[tuple[Key, float]]:
        """Partitions stalled now (at least one step taken), with for how long."""
        return sorted((k, now - t.since) for k, t in self._tracks.items() if t.step > 0)


def behind(ends: Mapping[str, int], processed: Mapping[str, int] | None) -> int:
    """Messages of one partition's source topics written before ``ends`` were read and not
    processed by its owner when it answered (``processed``: per topic, the next offset to
    process; None when the owner did not say, which counts as nothing processed)."""
    done = processed or {}
    return sum(max(0, end - done.get(topic, 0)) for topic, end in ends.items())


@dataclass
class Continuity:
    """Per partition of a topic whose offsets have no holes (not compacted, not
    transactional), the next offset expected. A message past it means the engine skipped
    the ones between: Faust takes an offset jump for compaction and commits past it, so
    nothing else would notice them lost.

    After a jump backwards (a seek, a new assignment) the count starts again from there.
    A skipped range is asked back once; if the same range is skipped again (the log no
    longer holds it: retention), it is let go.
    """

    _next: dict[int, int] = field(default_factory=dict)
    _asked: dict[int, int] = field(default_factory=dict)

    def see(self, partition: int, offset: int) -> int | None:
        """A message at ``offset`` of ``partition``; the offset to read again from when
        messages before it were skipped, else None."""
        expected = self._next.get(partition)
        self._next[partition] = offset + 1
        if expected is None or offset <= expected:
            return None
        if self._asked.get(partition) == expected:
            return None
        self._asked[partition] = expected
        return expected

    def forget(self) -> None:
        """Partitions move (a rebalance): what comes next starts afresh."""
        self._next.clear()

    def knows(self, partition: int) -> bool:
        """Whether an offset is expected next for ``partition``."""
        return partition in self._next

    def expect(self, partition: int, offset: int) -> None:
        """Start counting ``partition`` at ``offset`` (where it was sought: the group's
        commit), so that even its first message after a rebalance is checked."""
        self._next.setdefault(partition, offset)


@dataclass
class _Reread:
    first: int
    seen: int
    tried_at: float | None = None
    tries: int = 0
    sought: bool = False
    """The last rewind was made (not failed)."""


@dataclass
class Rereads:
    """Partitions to read again from an offset (messages the engine skipped), asked for
    until the re-read is seen to begin.

    A rewind is asked again every ``retry_s`` while the engine has handed on no message read
    again: it can undo one (a seek of its own, a fetch put back, a broker away while it was
    sought). An agent may take longer to show the first (it works through what was handed
    on before): the shell tells which it was (``taken``, ``saw``). After ``tries`` it is
    given up, and left to the watchdog (the commits stop at the hole, so the partition
    stalls). Bounded by the partitions owned: one entry each, the lowest offset asked.
    """

    retry_s: float
    tries: int = 20
    _pending: dict[Key, _Reread] = field(default_factory=dict)

    def ask(self, key: Key, first: int, seen: int) -> None:
        """Read ``key`` again from ``first``: ``seen`` came when ``first`` was expected."""
        held = self._pending.get(key)
        if held is None:
            self._pending[key] = _Reread(first, seen)
        elif first < held.first:
            held.first = first

    def saw(self, key: Key, offset: int) -> None:
        """A message at ``offset`` of ``key`` was processed: an offset below the one that
        showed the hole means the re-read began."""
        held = self._pending.get(key)
        if held is not None and held.sought and offset < held.seen:
            del self._pending[key]

    def asked(self) -> list[Key]:
        """The partitions sought back and not yet seen read again."""
        return [key for key, held in self._pending.items() if held.sought]

    def taken(self, key: Key) -> None:
        """The engine handed on a message read again: the re-read began."""
        self._pending.pop(key, None)

    def due(self, now: float) -> tuple[dict[Key, int], list[Key]]:
        """The rewinds to make now (partition → offset), counted as tried; and those given
        up (tried ``tries`` times without the re-read beginning), forgotten."""
        rewind: dict[Key, int] = {}
        given_up: list[Key] = []
        for key, held in list(self._pending.items()):
            if held.tried_at is not None and now - held.tried_at < self.retry_s:
                continue
            if held.tries >= self.tries:
                given_up.append(key)
                del self._pending[key]
                continue
            held.tried_at, held.tries, held.sought = now, held.tries + 1, True
            rewind[key] = held.first
        return rewind, given_up

    def failed(self, keys: list[Key]) -> None:
        """The rewinds of ``keys`` could not be made: asked again after ``retry_s``."""
        for key in keys:
            held = self._pending.get(key)
            if held is not None:
                held.sought = False

    def keep(self, owned: set[Key]) -> None:
        """Forget partitions no longer owned (their new owner starts from the commit, which
        the hole held back)."""
        for key in self._pending.keys() - owned:
            del self._pending[key]

    def __bool__(self) -> bool:
        return bool(self._pending)
