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
import numpy.typing as npt
import polars as pl

from streams.core.exceptions import HeaderError, RowError, SourceError
from streams.core.pollkeys import Keys, normalize_grouped
from streams.core.rows import (
    HOURS,
    POLLS,
    ZONES,
    HoursRow,
    Rejection,
    ZoneRow,
    map_columns,
    parse_hours,
    parse_poll,
    parse_status,
    parse_store_id,
    parse_zone,
)
from streams.core.timestamps import TimeBounds

Row = TypeVar("Row")
Value = TypeVar("Value")
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
    if not (stamps.str.len_bytes() == len("2023-01-22 12:09:39.388884 UTC")).all():
        stamps = stamps.str.strip_chars()  # a copy of every stamp: only when one needs it
    t = pl.col("t")

    def number(offset: int, length: int) -> pl.Expr:
        return t.str.slice(offset, length).cast(pl.Int64, strict=False)

    y, mo, d = number(0, 4), number(5, 2), number(8, 2)
    h, mi, s, us = number(11, 2), number(14, 2), number(17, 2), number(20, 6)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = (
        pl.when(mo == 2)
        .then(28 + leap.cast(pl.Int64))
        .when(mo.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    ok = (
        t.str.contains(_CANONICAL_TS)
        & mo.is_between(1, 12)
        & d.is_between(1, month_days)
        & (h < 24)
        & (mi < 60)
        & (s < 60)
    )
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    year = y - (mo <= 2).cast(pl.Int64)
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
    days = era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468
    epoch_us = (((days * 24 + h) * 60 + mi) * 60 + s) * 1_000_000 + us
    lazy = pl.DataFrame({"t": stamps}).lazy()
    return lazy.select(pl.when(ok.fill_null(False)).then(epoch_us).alias("ts_us")).collect()[
        "ts_us"
    ]


def group_polls(store_ids: Sequence[str], keys: Keys) -> GroupedPolls:
    """Group polls given as parallel store ids and keys, normalised like every store's
    polls (sorted, one per instant, ``inactive`` wins)."""
    names = sorted(set(store_ids))
    rank = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((rank[s] for s in store_ids), dtype=np.int64, count=len(store_ids))
    return _grouped(names, codes, keys)


def _grouped(names: list[str], codes: npt.NDArray[np.int64], keys: Keys) -> GroupedPolls:
    """Polls grouped by store, store ``codes[i]`` (an index into ``names``, sorted) having
    poll ``keys[i]``: sorted by store then key, then normalised; stores without polls left
    out."""
    if len(keys):
        base = int(keys.min())
        span = int(keys.max()) - base
        bits = max(len(names) - 1, 1).bit_length()
        shift = 62 - bits
        if span < 1 << shift:  # one int64 sort, the store in the high bits
            both = np.sort((codes << shift) | (keys - base))
            codes, keys = both >> shift, (both & ((1 << shift) - 1)) + base
        else:
            order = np.lexsort((keys, codes))
            codes, keys = codes[order], keys[order]
    counts = np.bincount(codes, minlength=len(names))
    present = np.flatnonzero(counts)
    bounds = np.zeros(len(present) + 1, dtype=np.int64)
    np.cumsum(counts[present], out=bounds[1:])
    bounds, keys = normalize_grouped(bounds, keys)
    return GroupedPolls([names[i] for i in present.tolist()], bounds, keys)


def _judged(
    column: pl.Series, judge: Callable[[str], Value]
) -> tuple[list[Value | None], npt.NDArray[np.int64]]:
    """The distinct values of a categorical column, each judged once by ``judge`` (None
    where it raises :class:`RowError`), and each row's index into them (a missing field:
    the last index, judged None)."""
    verdicts: list[Value | None] = []
    for value in column.dtype.categories.to_series().to_list():  # type: ignore[attr-defined]  # a Categorical's
        try:
            verdicts.append(judge(value))
        except RowError:
            verdicts.append(None)
    verdicts.append(None)  # a missing field
    which = column.to_physical().fill_null(len(verdicts) - 1)
    return verdicts, which.to_numpy().astype(np.int64)


def _header(path: Path) -> list[str]:
    """The first line of a CSV file, split into names."""
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            return next(csv.reader(handle), [])
    except OSError as exc:
        raise SourceError(f"{path}: cannot open polls file: {exc.strerror}") from None


class _Scan(NamedTuple):
    lines: int
    quoted: bool


def _scan(path: Path) -> _Scan:
    """Lines in a file and whether it has a quote, read a chunk at a time."""
    lines, quoted, last = 0, False, b"\n"
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(16 << 20):
                lines += chunk.count(b"\n")
                quoted = quoted or b'"' in chunk
                last = chunk[-1:]
    except OSError as exc:
        raise SourceError(f"{path}: cannot open polls file: {exc.strerror}") from None
    return _Scan(lines + (0 if last == b"\n" else 1), quoted)


def read_polls(
    path: Path, bounds: TimeBounds, *, fast: bool = True
) -> tuple[GroupedPolls, list[Rejection]]:
    """Read a polls export; bad rows come back as rejections, the good ones grouped.

    A poll outside ``bounds`` (from the future, or before 2000) is a bad row (docs/semantics.md §1).
    ``fast=False`` parses every row with the per-row parser (the reference behaviour).
    """
    scan = _scan(path)
    if scan.quoted or not fast:
        return _read_polls_slow(path, bounds)
    header = _header(path)
    if not header:
        _no_header(path)
    try:
        columns = map_columns(POLLS, header)
    except HeaderError as exc:
        raise SourceError(f"{path}:1: {exc}") from None
    # Store ids and statuses repeat: read as categories, each distinct value is judged
    # once by the rule every entrance uses; timestamps in the export's layout in bulk.
    kinds: list[pl.DataType] = [pl.String()] * len(header)
    for name in ("store_id", "status"):
        kinds[columns[name]] = pl.Categorical(pl.Categories.random())
    try:
        frame = pl.read_csv(
            path, infer_schema=False, truncate_ragged_lines=True, has_header=True,
            schema_overrides=kinds,
        )  # fmt: skip
    except pl.exceptions.PolarsError:
        return _read_polls_slow(path, bounds)
    if scan.lines != len(frame) + 1 or len(frame.columns) != len(header):
        return _read_polls_slow(path, bounds)  # a blank line: line numbers would be off
    names = list(frame.columns)
    ids, id_of_row = _judged(frame[names[columns["store_id"]]], parse_store_id)
    statuses, status_of_row = _judged(frame[names[columns["status"]]], parse_status)
    ts_us = canonical_epoch_us(frame[names[columns["timestamp_utc"]]])
    in_bounds = ts_us.is_between(bounds.lo_us, bounds.hi_us).fill_null(False).to_numpy()
    ts = ts_us.fill_null(0).to_numpy().astype(np.int64)
    del frame, ts_us
    store_names = sorted({i for i in ids if i is not None})
    rank = {name: i for i, name in enumerate(store_names)}
    code_of = np.array([rank[i] if i is not None else -1 for i in ids], dtype=np.int64)
    active_of = np.array([-1 if v is None else int(v) for v in statuses], dtype=np.int64)
    codes, active = code_of[id_of_row], active_of[status_of_row]
    del id_of_row, status_of_row
    # Rows this filter does not pass go through ``parse_poll``, which accepts them or
    # says why not: the filter only picks the rows that need no second look.
    good = in_bounds & (codes >= 0) & (active >= 0)
    keys = ts[good] * 2 + active[good]
    codes = codes[good]
    rejected: list[Rejection] = []
    extra_ids: list[str] = []
    extra_keys: list[int] = []
    others = np.flatnonzero(~good)
    del ts, active, in_bounds, good
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
    if extra_ids:  # a store first seen here goes to the end, then every code is re-ranked
        for store_id in extra_ids:
            if store_id not in rank:
                rank[store_id] = len(store_names)
                store_names.append(store_id)
        order = sorted(range(len(store_names)), key=store_names.__getitem__)
        new_code = np.empty(len(store_names), dtype=np.int64)
        new_code[order] = np.arange(len(store_names))
        extra = np.array([rank[s] for s in extra_ids], dtype=np.int64)
        codes = new_code[np.concatenate((codes, extra))]
        keys = np.concatenate((keys, np.array(extra_keys, dtype=np.int64)))
        store_names = [store_names[i] for i in order]
    return _grouped(store_names, codes, keys), rejected


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
