"""The CSV exports read into validated rows, with every bad row kept as a rejection.

Polls files are large (millions of rows), so a vectorized fast path (polars) reads the
export's usual layout, and any row it does not accept whole goes through the same per-row
parser as everything else, which either accepts it (e.g. an ISO 8601 timestamp) or says
why not. The result is the same as parsing every row one by one; a test checks that.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import polars as pl

from streams.core.exceptions import HeaderError, RowError, SourceError
from streams.core.pollkeys import Keys, normalize_grouped
from streams.core.rows import (
    HOURS,
    POLLS,
    STORE_ID_PATTERN,
    ZONES,
    HoursRow,
    Rejection,
    ZoneRow,
    map_columns,
    parse_hours,
    parse_poll,
    parse_zone,
)
from streams.core.timestamps import TimeBounds

Row = TypeVar("Row")
_CANONICAL_TS = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6} UTC$"


class GroupedPolls(NamedTuple):
    """Valid polls grouped by store: store ``i``'s keys are ``keys[bounds[i]:bounds[i+1]]``."""

    store_ids: list[str]
    """Store ids, sorted."""
    bounds: np.ndarray
    """Offsets into ``keys``, one more than there are stores."""
    keys: Keys
    """Poll keys (``ts_us * 2 + active``), sorted within each store."""

    def __len__(self) -> int:
        return len(self.keys)

    def keys_of(self, index: int) -> Keys:
        """The poll keys of store ``index``."""
        return self.keys[self.bounds[index] : self.bounds[index + 1]]

    def items(self) -> Iterator[tuple[str, Keys]]:
        """``(store_id, keys)`` for every store."""
        for index, store_id in enumerate(self.store_ids):
            yield store_id, self.keys_of(index)

    def only(self, store_id: str) -> GroupedPolls:
        """The polls of one store (none if it has none)."""
        if store_id not in self.store_ids:
            return GroupedPolls([], np.zeros(1, dtype=np.int64), self.keys[:0])
        index = self.store_ids.index(store_id)
        keys = self.keys_of(index)
        return GroupedPolls([store_id], np.array([0, len(keys)], dtype=np.int64), keys)

    @property
    def newest_us(self) -> int | None:
        """The largest poll timestamp, or None when there are no polls."""
        return int(self.keys.max()) >> 1 if len(self.keys) else None


def canonical_epoch_us(stamps: pl.Series) -> pl.Series:
    """Epoch microseconds of timestamps in the export's exact layout, else null.

    The layout is ``YYYY-MM-DD HH:MM:SS.ffffff UTC`` (surrounding spaces allowed). Other
    forms, and impossible dates or times, come out null for the per-row parser to judge.
    """
    parts = {"y": (0, 4), "mo": (5, 2), "d": (8, 2), "h": (11, 2), "mi": (14, 2), "s": (17, 2)}
    t = pl.col("t")
    frame = pl.DataFrame({"t": stamps.str.strip_chars()}).with_columns(
        ok=t.str.contains(_CANONICAL_TS).fill_null(False),
        us=t.str.slice(20, 6).cast(pl.Int32, strict=False),
        **{k: t.str.slice(o, n).cast(pl.Int32, strict=False) for k, (o, n) in parts.items()},
    )
    y, mo, d = pl.col("y"), pl.col("mo"), pl.col("d")
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = (
        pl.when(mo == 2)
        .then(28 + leap.cast(pl.Int32))
        .when(mo.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    frame = frame.with_columns(
        ok=(
            pl.col("ok")
            & mo.is_between(1, 12)
            & d.is_between(1, month_days)
            & (pl.col("h") < 24)
            & (pl.col("mi") < 60)
            & (pl.col("s") < 60)
        ).fill_null(False)
    ).with_columns(
        pl.when(pl.col("ok")).then(pl.col("d")).otherwise(pl.lit(1, pl.Int32)).alias("d"),
        pl.when(pl.col("ok")).then(pl.col("mo")).otherwise(pl.lit(1, pl.Int32)).alias("mo"),
    )
    moment = pl.datetime(
        pl.col("y").fill_null(1970),
        pl.col("mo"),
        pl.col("d"),
        pl.col("h").fill_null(0).clip(0, 23),
        pl.col("mi").fill_null(0).clip(0, 59),
        pl.col("s").fill_null(0).clip(0, 59),
        pl.col("us").fill_null(0),
        time_unit="us",
    )
    result = frame.select(
        pl.when(pl.col("ok")).then(moment.dt.epoch("us")).otherwise(None).alias("ts_us")
    )
    return result["ts_us"]


def group_polls(store_ids: Sequence[str] | pl.Series, keys: Keys) -> GroupedPolls:
    """Group polls given as parallel store ids and keys, normalised like every store's
    polls (sorted, one per instant, ``inactive`` wins)."""
    # Sorting millions of strings is slow: group first, then sort the groups.
    groups = (
        pl.DataFrame(
            {"store_id": store_ids, "key": keys}, schema={"store_id": pl.String, "key": pl.Int64}
        )
        .group_by("store_id")
        .agg(pl.col("key").sort())
        .sort("store_id")
    )
    bounds = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(groups["key"].list.len().to_numpy(), out=bounds[1:])
    flat = groups["key"].explode().to_numpy().astype(np.int64)
    bounds, flat = normalize_grouped(bounds, flat)
    return GroupedPolls(groups["store_id"].to_list(), bounds, flat)


def read_polls(
    path: Path, bounds: TimeBounds, *, fast: bool = True
) -> tuple[GroupedPolls, list[Rejection]]:
    """Read a polls export; bad rows come back as rejections, the good ones grouped.

    A poll outside ``bounds`` (from the future, or before 2000) is a bad row (SPEC §1).
    ``fast=False`` parses every row with the per-row parser (the reference behaviour).
    """
    data = _read_bytes(path)
    if b'"' in data or not fast:
        return _read_polls_slow(path, bounds)
    newlines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    del data  # polars reads the file itself; holding both doubles the peak memory
    try:
        frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True, has_header=True)
    except pl.exceptions.PolarsError:
        return _read_polls_slow(path, bounds)
    if newlines != len(frame) + 1:  # a row spanning lines: line numbers would be off
        return _read_polls_slow(path, bounds)
    if not frame.columns:
        _no_header(path)
    try:
        columns = map_columns(POLLS, frame.columns)
    except HeaderError as exc:
        raise SourceError(f"{path}:1: {exc}") from None
    names = list(frame.columns)
    store = frame[names[columns["store_id"]]].str.strip_chars()
    status = frame[names[columns["status"]]].str.strip_chars().str.to_lowercase()
    ts_us = canonical_epoch_us(frame[names[columns["timestamp_utc"]]])
    # Rows this filter does not pass go through ``parse_poll``, which accepts them or
    # says why not: the filter only picks the rows that need no second look.
    good = (
        ts_us.is_between(bounds.lo_us, bounds.hi_us).fill_null(False)
        & status.is_in(["active", "inactive"]).fill_null(False)
        & store.str.contains(STORE_ID_PATTERN).fill_null(False)
    )
    good_np = good.to_numpy()
    keys = ts_us.filter(good).to_numpy().astype(np.int64) * 2 + (
        status.filter(good) == "active"
    ).to_numpy().astype(np.int64)
    good_ids = store.filter(good)
    del frame, store, status, ts_us, good
    rejected: list[Rejection] = []
    extra_ids: list[str] = []
    extra_keys: list[int] = []
    others = np.flatnonzero(~good_np)
    if len(others):
        lines = _read_bytes(path).decode("utf-8", errors="replace").lstrip("\ufeff").split("\n")
        for index in others.tolist():
            line_no = index + 2
            text = lines[line_no - 1].rstrip("\r")
            fields = next(csv.reader([text]), [])
            if not any(f.strip() for f in fields):
                continue  # a blank line is not a row
            try:
                poll = parse_poll(fields, columns, bounds)
            except RowError as exc:
                rejected.append(Rejection(str(path), line_no, str(exc), text[:10_000]))
                continue
            extra_ids.append(poll.store_id)
            extra_keys.append(poll.ts_us * 2 + int(poll.active))
    if extra_ids:
        good_ids = pl.concat([good_ids, pl.Series(extra_ids, dtype=pl.String)])
        keys = np.concatenate((keys, np.array(extra_keys, dtype=np.int64)))
    return group_polls(good_ids, keys), rejected


def _read_polls_slow(path: Path, bounds: TimeBounds) -> tuple[GroupedPolls, list[Rejection]]:
    ids: list[str] = []
    keys: list[int] = []
    rejected: list[Rejection] = []
    for item in read_rows(path, POLLS, partial(parse_poll, bounds=bounds)):
        if isinstance(item, Rejection):
            rejected.append(item)
        else:
            ids.append(item.store_id)
            keys.append(item.ts_us * 2 + int(item.active))
    return group_polls(ids, np.array(keys, dtype=np.int64)), rejected


def read_hours(path: Path) -> tuple[dict[str, list[HoursRow]], list[Rejection]]:
    """Read a business-hours export: each store's rows, and the rejected rows."""
    hours: dict[str, list[HoursRow]] = {}
    rejected: list[Rejection] = []
    for item in read_rows(path, HOURS, parse_hours):
        if isinstance(item, Rejection):
            rejected.append(item)
        else:
            hours.setdefault(item.store_id, []).append(item)
    return hours, rejected


def read_zones(path: Path) -> tuple[dict[str, str], list[Rejection]]:
    """Read a time-zones export: each store's zone (the last row read wins)."""
    zones: dict[str, str] = {}
    rejected: list[Rejection] = []
    for item in read_rows(path, ZONES, parse_zone):
        if isinstance(item, Rejection):
            rejected.append(item)
        else:
            zones[item.store_id] = item.timezone
    return zones, rejected


def read_rows(
    path: Path, kind: str, parse: Callable[[Sequence[str], dict[str, int]], Row]
) -> Iterator[Row | Rejection]:
    """Parse every row of a CSV export, yielding the row or its rejection.

    The header may come in any order, with ``dayOfWeek`` or ``day`` and a UTF-8 BOM.
    Blank lines are skipped. Line numbers count physical lines, the header being line 1.
    """
    try:
        handle = open(path, newline="", encoding="utf-8-sig", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise SourceError(f"{path}: cannot open {kind} file: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            _no_header(path)
        try:
            columns = map_columns(kind, header or [])
        except HeaderError as exc:
            raise SourceError(f"{path}:1: {exc}") from None
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            try:
                yield parse(fields, columns)
            except RowError as exc:
                raw = ",".join(fields)
                yield Rejection(str(path), reader.line_num, str(exc), raw[:10_000])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot open polls file: {exc.strerror}") from None


def _no_header(path: Path) -> dict[str, int]:
    raise SourceError(f"{path}: the file is empty: expected a header line first")


__all__ = [
    "GroupedPolls",
    "HoursRow",
    "Rejection",
    "SourceError",
    "ZoneRow",
    "group_polls",
    "read_hours",
    "read_polls",
    "read_rows",
    "read_zones",
]
