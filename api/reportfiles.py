"""Where report files live, behind one small interface that every API instance reaches:
a local folder (the default: one machine, or a volume the instances share) or
S3-compatible object storage (``STOREMON_REPORTS_URL=s3://bucket/prefix``).

A report is written once (a temporary file, then renamed into place or uploaded), read as
a stream of chunks (never whole into memory), and deleted when the retention lets it go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from streams.core.report import COLUMNS, write_csv
from streams.settings import Settings

CHUNK = 256 * 1024


class ReportFiles(Protocol):
    """The report files' store."""

    async def start(self) -> None:
        """Connect (object storage) or make the folder."""

    async def stop(self) -> None:
        """Let go of the connection."""

    async def write(
        self, report_id: str, rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS
    ) -> tuple[str, int]:
        """Write the report's CSV (``columns``: its header); where it is, and how many rows
        it has."""

    def read(self, report_id: str) -> AsyncIterator[bytes]:
        """The CSV, chunk by chunk."""

    async def delete(self, report_id: str) -> None:
        """Delete the report's file, if there is one."""


def _write_local(path: Path, rows: Sequence[Sequence[str]], columns: Sequence[str]) -> int:
    tmp = path.with_suffix(f".csv.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as out:
        count = write_csv(out, rows, columns)
    tmp.replace(path)
    return count


class FolderFiles:
    """Report files in a folder: ``<id>.csv``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def start(self) -> None:
        """Make the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        """Nothing to let go of."""

    def path(self, report_id: str) -> Path:
        """Where the report's CSV is."""
        return self.folder / f"{report_id}.csv"

    async def write(
        self, report_id: str, rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS
    ) -> tuple[str, int]:
        """Write to a temporary file and rename it into place (off the event loop)."""
        path = self.path(report_id)
        count = await asyncio.to_thread(_write_local, path, rows, columns)
        return str(path), count

    async def read(self, report_id: str) -> AsyncIterator[bytes]:
        """The file, chunk by chunk, each read off the event loop."""
        handle = await asyncio.to_thread(self.path(report_id).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, report_id: str) -> None:
        """Delete the file."""
        self.path(report_id).unlink(missing_ok=True)


class S3Files:
    """Report files in S3-compatible object storage: ``s3://bucket/prefix/<id>.csv``.

    aiobotocore is the client; the bucket is made at start-up when it does not exist.
    """

    def __init__(self, settings: Settings) -> None:
        url = urlparse(settings.reports_url or "")
        if url.scheme != "s3" or not url.netloc:
            raise ValueError(
                f"STOREMON_REPORTS_URL {settings.reports_url!r}: expected s3://bucket/prefix"
            )
        self.bucket = url.netloc
        self.prefix = url.path.strip("/")
        self.settings = settings
        self._exit: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    def key(self, report_id: str) -> str:
        """The object's key."""
        return f"{self.prefix}/{report_id}.csv" if self.prefix else f"{report_id}.csv"

    async def start(self) -> None:
        """Connect; make the bucket when it is missing."""
        from aiobotocore.session import get_session
        from botocore.config import Config
        from botocore.exceptions import ClientError

        s = self.settings
        stack = contextlib.AsyncExitStack()
        self._client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=s.s3_endpoint_url,
                region_name=s.s3_region,
                aws_access_key_id=s.s3_access_key_id,
                aws_secret_access_key=(
                    s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
                ),
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                    # Checksums only where the operation needs them: botocore's default
                    # (a CRC on every upload, sent as a trailer) is AWS's and not every
                    # S3-compatible server's.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        )
        self._exit = stack
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            with contextlib.suppress(ClientError):  # made meanwhile by another instance
                await self._client.create_bucket(Bucket=self.bucket)

    async def stop(self) -> None:
        """Close the client."""
        if self._exit is not None:
            await self._exit.aclose()
            self._exit = self._client = None

    async def write(
        self, report_id: str, rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS
    ) -> tuple[str, int]:
        """Write to a temporary file, then upload it (streamed from the file)."""
        with tempfile.TemporaryDirectory(prefix="storemon-report-") as folder:
            path = Path(folder) / f"{report_id}.csv"
            count = await asyncio.to_thread(_write_local, path, rows, columns)
            handle = await asyncio.to_thread(path.open, "rb")
            try:
                await self._client.put_object(
                    Bucket=self.bucket, Key=self.key(report_id), Body=handle,
                    ContentType="text/csv", ContentLength=path.stat().st_size,
                )  # fmt: skip
            finally:
                handle.close()
        return f"s3://{self.bucket}/{self.key(report_id)}", count

    async def read(self, report_id: str) -> AsyncIterator[bytes]:
        """The object's body, chunk by chunk."""
        got = await self._client.get_object(Bucket=self.bucket, Key=self.key(report_id))
        async with got["Body"] as body:
            while chunk := await body.read(CHUNK):
                yield chunk

    async def delete(self, report_id: str) -> None:
        """Delete the object."""
        await self._client.delete_object(Bucket=self.bucket, Key=self.key(report_id))


def describe(settings: Settings) -> str:
    """Where the settings put report files, as the log says it."""
    return settings.reports_url or str(settings.reports_dir)


def report_files(settings: Settings) -> ReportFiles:
    """The store the settings name: S3 when ``reports_url`` is an s3:// URL, else the
    reports folder."""
    if settings.reports_url:
        return S3Files(settings)
    return FolderFiles(settings.reports_dir)


async def only_rows(
    chunks: AsyncIterator[bytes], keep: Callable[[str], bool]
) -> AsyncIterator[bytes]:
    """A report's CSV with only the rows whose store ``keep`` lets through (and the header):
    a tenant's view of a report. A store id holds no comma or quote (docs/semantics.md §1),
    so a row's first field is the text before its first comma."""
    rest = b""
    header = True
    async for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        kept = []
        for line in lines:
            if header or keep(line.split(b",", 1)[0].decode("utf-8", "replace")):
                kept.append(line + b"\n")
            header = False
        if kept:
            yield b"".join(kept)
    if rest and (header or keep(rest.split(b",", 1)[0].decode("utf-8", "replace"))):
        yield rest
