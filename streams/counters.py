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

    def processed(self, partition: int, polls: int, newest_us: int) -> None:
        """Count one message of ``polls`` polls, the newest at ``newest_us``."""
        self.polls += polls
        self.messages += 1
        if newest_us > self.newest_us.get(partition, -(2**62)):
            self.newest_us[partition] = newest_us


counters = Counters()
