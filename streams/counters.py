"""This worker's counters since it started: written by the agents, read by the stats agent.

They live below ``agents/`` so that the agents share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Counters:
    """Counters since this worker started."""

    polls: int = 0
    messages: int = 0
    rejected: int = 0
    stale: int = 0
    """Hours or zone updates older than what the store has (ignored)."""
    alerts_sent: int = 0
    """Alerts this worker sent."""
    newest_us: dict[int, int] = field(default_factory=dict)
    """Per polls partition, the newest poll time processed."""
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per source topic partition, one past the newest offset this worker processed."""
    stalls: int = 0
    """Partitions the progress watchdog found stalled."""
    skipped: int = 0
    """Source messages the engine skipped and this worker read again (``agents/rereads.py``)."""

    floors: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per source topic partition, an offset processed up to before this worker looked:
    the group's committed offset, or the log's start (the progress watchdog keeps it)."""

    starts: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per source topic partition, the log's start offset, when the watchdog last looked."""

    def floor(self, topic: str, partition: int, offset: int) -> None:
        """Everything before ``offset`` is processed, by this worker or an earlier owner."""
        self.floors[(topic, partition)] = offset

    def next_offset(self, topic: str, partition: int) -> int:
        """The next offset of ``topic``'s ``partition`` to process, as far as known here."""
        key = (topic, partition)
        return max(self.next_offsets.get(key, 0), self.floors.get(key, 0))

    def done(self, topic: str, partition: int, offset: int) -> None:
        """A message of ``topic`` at ``offset`` is processed (its effects are written)."""
        key = (topic, partition)
        if offset >= self.next_offsets.get(key, 0):
            self.next_offsets[key] = offset + 1

    def processed(self, partition: int, polls: int, newest_us: int) -> None:
        """Count one message of ``polls`` polls, the newest at ``newest_us``."""
        self.polls += polls
        self.messages += 1
        if newest_us > self.newest_us.get(partition, -(2**62)):
            self.newest_us[partition] = newest_us


counters = Counters()
