"""Report records, shared by every API instance: each record (status, times, options,
rows, timings, how far behind each partition was, the error, where its file is) is
written to the compacted topic ``storemon.reports`` keyed by report id, and every
instance keeps an index of them in memory, read from that topic at start-up and kept
current (``api/reportlog.py``). The files themselves are in a store every instance
reaches (``api/reportfiles.py``).

The index is bounded by the report retention (``STOREMON_REPORT_RETENTION``: a count, an
age, or both): whenever an instance creates a report, the reports past it are let go,
their files deleted and a tombstone written, so every instance's index shrinks with it.

No report is orphaned: the instance that triggers a report coordinates it and keeps its
record's ``alive_at`` fresh (every ``HEARTBEAT_S``) while it runs. Every instance looks
at the running reports it knows; one whose owner has not been heard from for
``orphan_after_s`` is marked failed, with a reason that says to trigger it again. An
instance starting up never fails another live instance's reports: those stay fresh.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from api.reportfiles import ReportFiles
from streams.core.report import COLUMNS

RUNNING, COMPLETE, FAILED = "Running", "Complete", "Failed"
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
HEARTBEAT_S = 2.0
"""How often an instance says that its running reports are still running."""
log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any] | None], Awaitable[None]]
"""Writes a record (or a tombstone, None) to the reports topic; raises when Kafka does
not take it."""


class Retention(NamedTuple):
    """How many reports to keep, and for how long."""

    max_count: int | None
    """Keep the newest this many (None: no limit by count)."""
    max_age_s: float | None
    """Keep those requested less than this long ago (None: no limit by age)."""

    @classmethod
    def parse(cls, text: str) -> Retention:
        """``"1000"``, ``"30d"``, ``"12h"``, or both: ``"1000,30d"``."""
        count: int | None = None
        age: float | None = None
        for part in (p.strip() for p in text.split(",") if p.strip()):
            match = re.fullmatch(r"(\d+)([smhd]?)", part)
            if match is None:
                raise ValueError(
                    f"report retention {part!r}: expected a count (1000), an age (30d, 12h, "
                    "90m, 3600s), or both separated by a comma"
                )
            if match[2]:
                age = int(match[1]) * _UNITS[match[2]]
            else:
                count = int(match[1])
        return cls(count, age)


async def _nowhere(_report_id: str, _record: dict[str, Any] | None) -> None:
    """No reports topic (a store of one process, in tests)."""


async def _in_step() -> None:
    """No reports topic: the index is always current."""


class ReportStore:
    """The index of report records, and the one way to change them."""

    def __init__(
        self,
        files: ReportFiles,
        retention: str = "1000,30d",
        publish: Publish = _nowhere,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.files = files
        self.retention = Retention.parse(retention)
        self.publish = publish
        self.sync: Callable[[], Awaitable[None]] = _in_step
        """Waits until the index holds every record written so far (any instance's)."""
        self.owner = owner or secrets.token_hex(6)
        """This instance, as the records it coordinates name it."""
        self.clock = clock
        self._records: dict[str, dict[str, Any]] = {}
        self.running: set[str] = set()
        """Ids of the running reports (of any instance)."""
        self.last_scheduled_at: float | None = None
        """When the newest scheduled report was requested, by any instance."""

    @staticmethod
    def new_id() -> str:
        """A random, unguessable report id."""
        return secrets.token_urlsafe(18)

    @staticmethod
    def valid_id(report_id: str) -> bool:
        """Whether ``report_id`` has the form of an id (and so is safe as a file name)."""
        return bool(_ID.match(report_id))

    # -- the index ------------------------------------------------------------------------

    def apply(self, report_id: str, record: dict[str, Any] | None) -> None:
        """A record read from the reports topic (None: a tombstone). A newer version
        already here (this instance's own write, read back later) is kept."""
        if record is None:
            self._records.pop(report_id, None)
            self.running.discard(report_id)
            return
        here = self._records.get(report_id)
        if here is not None and int(here.get("version", 0)) > int(record.get("version", 0)):
            return
        self._index(record)
        self._bound()

    def _index(self, record: dict[str, Any]) -> None:
        report_id = record["report_id"]
        self._records[report_id] = record
        if record.get("status") == RUNNING:
            self.running.add(report_id)
        else:
            self.running.discard(report_id)
        if record.get("scheduled"):
            at = float(record.get("requested_at", 0))
            self.last_scheduled_at = max(self.last_scheduled_at or at, at)

    def get(self, report_id: str) -> dict[str, Any] | None:
        """The report's record, or None when there is no such report."""
        if not self.valid_id(report_id):
            return None
        return self._records.get(report_id)

    async def find(self, report_id: str) -> dict[str, Any] | None:
        """The report's record; when it is not known here yet, once the index has caught
        up with the reports topic (another instance may have triggered it just now)."""
        record = self.get(report_id)
        if record is None and self.valid_id(report_id):
            await self.sync()
            record = self.get(report_id)
        return record

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest reports first."""
        ordered = sorted(self._records.values(), key=lambda r: -float(r.get("requested_at", 0)))
        return ordered[:limit]

    def __len__(self) -> int:
        return len(self._records)

    def _past_retention(self) -> list[str]:
        """Ids of the reports past the retention (never a running one)."""
        ordered = self.recent(limit=len(self._records))
        count, age = self.retention.max_count, self.retention.max_age_s
        cutoff = self.clock() - age if age is not None else None
        gone = []
        for i, record in enumerate(ordered):
            too_many = count is not None and i >= count
            too_old = cutoff is not None and float(record.get("requested_at", 0)) < cutoff
            if (too_many or too_old) and record.get("status") != RUNNING:
                gone.append(record["report_id"])
        return gone

    def _bound(self) -> None:
        """Keep the index within the retention (as read; tombstones come from whoever
        creates reports), with some slack so that it is not sorted at every record."""
        count = self.retention.max_count
        if count is not None and len(self._records) > count + max(16, count // 10):
            for report_id in self._past_retention():
                self._records.pop(report_id, None)

    # -- changes, written to the topic ----------------------------------------------------

    async def _save(self, record: dict[str, Any]) -> dict[str, Any]:
        """Index the change here at once (so that changes made here keep their order),
        then write it; a write Kafka refuses is taken back out of the index, so that this
        instance never shows a report no other instance knows of."""
        report_id = record["report_id"]
        before, last_before = self._records.get(report_id), self.last_scheduled_at
        record["version"] = time.time_ns()
        self._index(record)
        try:
            await self.publish(report_id, record)
        except BaseException:
            if self._records.get(report_id) is record:  # nothing newer was indexed since
                self._records.pop(report_id, None)
                self.running.discard(report_id)
                self.last_scheduled_at = last_before
                if before is not None:
                    self._index(before)
            raise
        return record

    async def create(self, report_id: str, **meta: Any) -> dict[str, Any]:
        """Record a new running report, coordinated here (and let go of those past the
        retention)."""
        now = self.clock()
        record = {
            "report_id": report_id, "status": RUNNING, "requested_at": now,
            "owner": self.owner, "alive_at": now, **meta,
        }  # fmt: skip
        await self._save(record)
        await self.prune()
        return record

    async def update(self, report_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a report's record."""
        record = dict(self._records.get(report_id) or {"report_id": report_id})
        record.update(changes)
        return await self._save(record)

    async def complete(
        self,
        report_id: str,
        rows: Sequence[Sequence[str]],
        columns: Sequence[str] = COLUMNS,
        **meta: Any,
    ) -> dict[str, Any]:
        """Write the CSV (under the header ``columns``) to the file store, then mark the
        report complete with its row count and where its file is."""
        location, count = await self.files.write(report_id, rows, columns)
        return await self.update(report_id, status=COMPLETE, csv_path=location, rows=count, **meta)

    async def fail(self, report_id: str, error: str) -> dict[str, Any]:
        """Mark the report failed, with a message a person can act on."""
        return await self.update(report_id, status=FAILED, error=error)

    async def prune(self) -> int:
        """Let go of the reports past the retention: file, tombstone; how many went."""
        gone = self._past_retention()
        for report_id in gone:
            self._records.pop(report_id, None)
            try:
                await self.files.delete(report_id)
            except Exception as exc:  # a file left behind is not worth failing a report for
                log.warning("report %s: its file was not deleted: %s", report_id, exc)
            await self.publish(report_id, None)
        return len(gone)

    # -- liveness -------------------------------------------------------------------------

    async def heartbeat(self, mine: set[str]) -> None:
        """Say that this instance's running reports ``mine`` still run."""
        now = self.clock()
        for report_id in sorted(mine & self.running):
            await self.update(report_id, alive_at=now)

    def orphans(
        self, orphan_after_s: float, mine: set[str] | frozenset[str] = frozenset()
    ) -> list[str]:
        """Running reports not heard from for ``orphan_after_s``: of other instances, and of
        this one when it no longer runs them (``mine``: those it runs; for example a record
        Kafka took although the write timed out here)."""
        cutoff = self.clock() - orphan_after_s
        return sorted(
            report_id
            for report_id in self.running
            if (r := self._records.get(report_id)) is not None
            and (r.get("owner") != self.owner or report_id not in mine)
            and float(r.get("alive_at", r.get("requested_at", 0))) < cutoff
        )

    async def fail_orphans(
        self, orphan_after_s: float, mine: set[str] | frozenset[str] = frozenset()
    ) -> list[str]:
        """Mark the orphans failed; their ids."""
        gone = self.orphans(orphan_after_s, mine)
        for report_id in gone:
            owner = self._records[report_id].get("owner", "?")
            await self.fail(
                report_id,
                f"the API instance that ran this report ({owner}) stopped before it was "
                f"done (not heard from for {orphan_after_s:.0f} s); trigger it again",
            )
        return gone
