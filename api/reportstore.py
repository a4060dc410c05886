"""Reports on disk: ``<id>.json`` holds the status and timings, ``<id>.csv`` the report.

An index of the records is kept in memory (read once at start-up); reports past the
retention (``STOREMON_REPORT_RETENTION``: a count, an age, or both) are deleted whenever a
new one is created, so the folder, the index and every listing stay bounded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from streams.core.report import write_csv

RUNNING, COMPLETE, FAILED = "Running", "Complete", "Failed"
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
log = logging.getLogger(__name__)


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


class ReportStore:
    """A folder of reports; every write is atomic (write a temporary file, then rename)."""

    def __init__(self, folder: Path, retention: str = "1000,30d") -> None:
        self.folder = folder
        self.retention = Retention.parse(retention)
        folder.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, dict[str, Any]] = {}
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_bytes())
                self._records[record["report_id"]] = record
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("unreadable report record %s: skipped", path)
        self.prune()

    @staticmethod
    def new_id() -> str:
        """A random, unguessable report id."""
        return secrets.token_urlsafe(18)

    @staticmethod
    def valid_id(report_id: str) -> bool:
        """Whether ``report_id`` has the form of an id (and so is safe as a file name)."""
        return bool(_ID.match(report_id))

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def _meta_path(self, report_id: str) -> Path:
        return self.folder / f"{report_id}.json"

    def csv_path(self, report_id: str) -> Path:
        """Where the report's CSV is (once complete)."""
        return self.folder / f"{report_id}.csv"

    def create(self, report_id: str, **meta: Any) -> dict[str, Any]:
        """Record a new running report (and let go of those past the retention)."""
        record = {"report_id": report_id, "status": RUNNING, "requested_at": time.time(), **meta}
        self._save(record)
        self.prune()
        return record

    def _save(self, record: dict[str, Any]) -> None:
        self._records[record["report_id"]] = record
        self._write(self._meta_path(record["report_id"]), json.dumps(record).encode())

    def get(self, report_id: str) -> dict[str, Any] | None:
        """The report's record, or None when there is no such report."""
        if not self.valid_id(report_id):
            return None
        return self._records.get(report_id)

    def update(self, report_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a report's record."""
        record = dict(self._records.get(report_id) or {"report_id": report_id})
        record.update(changes)
        self._save(record)
        return record

    def complete(
        self, report_id: str, rows: Sequence[Sequence[str]], **meta: Any
    ) -> dict[str, Any]:
        """Write the CSV (the ``csv`` module, to a temporary file renamed into place), then
        mark the report complete with its row count."""
        path = self.csv_path(report_id)
        tmp = path.with_suffix(f".csv.{os.getpid()}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as out:
            count = write_csv(out, rows)
        tmp.replace(path)
        return self.update(report_id, status=COMPLETE, csv_path=str(path), rows=count, **meta)

    def fail(self, report_id: str, error: str) -> dict[str, Any]:
        """Mark the report failed, with a message a person can act on."""
        return self.update(report_id, status=FAILED, error=error)

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest reports first."""
        ordered = sorted(self._records.values(), key=lambda r: -float(r.get("requested_at", 0)))
        return ordered[:limit]

    def __len__(self) -> int:
        return len(self._records)

    def prune(self) -> int:
        """Delete the reports past the retention (never a running one); how many went."""
        ordered = self.recent(limit=len(self._records))
        count, age = self.retention.max_count, self.retention.max_age_s
        cutoff = time.time() - age if age is not None else None
        gone = 0
        for i, record in enumerate(ordered):
            too_many = count is not None and i >= count
            too_old = cutoff is not None and float(record.get("requested_at", 0)) < cutoff
            if (too_many or too_old) and record.get("status") != RUNNING:
                report_id = record["report_id"]
                self._records.pop(report_id, None)
                for path in (self._meta_path(report_id), self.csv_path(report_id)):
                    path.unlink(missing_ok=True)
                gone += 1
        return gone

    def fail_abandoned(self) -> int:
        """Mark reports left running by a stopped API as failed; returns how many."""
        count = 0
        for record in list(self._records.values()):
            if record.get("status") == RUNNING:
                self.fail(
                    record["report_id"], "the API stopped while this report ran; trigger it again"
                )
                count += 1
        return count
