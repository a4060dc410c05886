"""Reports on disk: ``<id>.json`` holds the status and timings, ``<id>.csv`` the report."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.core.report import write_csv

RUNNING, COMPLETE, FAILED = "Running", "Complete", "Failed"
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ReportStore:
    """A folder of reports; every write is atomic (write a temporary file, then rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

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
        """Record a new running report."""
        record = {"report_id": report_id, "status": RUNNING, "requested_at": time.time(), **meta}
        self._write(self._meta_path(report_id), json.dumps(record).encode())
        return record

    def get(self, report_id: str) -> dict[str, Any] | None:
        """The report's record, or None when there is no such report."""
        if not self.valid_id(report_id):
            return None
        try:
            record: dict[str, Any] = json.loads(self._meta_path(report_id).read_bytes())
        except FileNotFoundError:
            return None
        return record

    def update(self, report_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a report's record."""
        record = self.get(report_id) or {"report_id": report_id}
        record.update(changes)
        self._write(self._meta_path(report_id), json.dumps(record).encode())
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
        records = []
        for path in self.folder.glob("*.json"):
            try:
                records.append(json.loads(path.read_bytes()))
            except (OSError, ValueError):
                continue
        records.sort(key=lambda r: r.get("requested_at", 0), reverse=True)
        return records[:limit]

    def fail_abandoned(self) -> int:
        """Mark reports left running by a stopped API as failed; returns how many."""
        count = 0
        for record in self.recent(limit=10_000):
            if record.get("status") == RUNNING:
                self.fail(
                    record["report_id"], "the API stopped while this report ran; trigger it again"
                )
                count += 1
        return count
