"""A seeded generator of full-scale exports: real stores, synthetic hourly polls.

Store ids, business hours and time zones come from a real export (loop-2023 by default);
polls are generated about hourly per store with jitter, outages (runs of ``inactive``)
and gaps (hours with no poll). The same seed gives the same files, byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from streams.core.exports import read_hours, read_zones


class Generated(NamedTuple):
    """Where the generated exports are, and their size."""

    status: Path
    """The polls CSV."""
    hours: Path
    """The business hours CSV (copied from the source export)."""
    timezones: Path
    """The time zones CSV (copied from the source export)."""
    polls: int
    """Rows written to the polls CSV, bad ones included."""
    stores: int
    """Stores with polls."""


def generate(
    source: Path,
    out: Path,
    *,
    stores: int = 13_500,
    days: float = 9.0,
    seed: int = 2023,
    bad_rows: int = 0,
    duplicates: float = 0.0,
    end: str = "2023-01-25T18:00:00",
) -> Generated:
    """Write ``status.csv``, ``menu_hours.csv`` and ``timezones.csv`` under ``out``.

    ``duplicates`` is the share of polls sent twice at the same instant, half of them with
    the other status (docs/semantics.md §3: one observation, ``inactive`` wins). More
    ``stores`` than the source has are made of copies of its stores, ``<id>-r<k>``, with
    their hours and zone.
    """
    rng = np.random.default_rng(seed)
    hours, _ = read_hours(source / "menu_hours.csv")
    zones, _ = read_zones(source / "timezones.csv")
    ids = sorted(zones.keys() | hours.keys())
    chosen = sorted(rng.choice(len(ids), size=min(stores, len(ids)), replace=False).tolist())
    copies = [
        (ids[i % len(ids)], f"{ids[i % len(ids)]}-r{i // len(ids) + 1}")
        for i in range(max(0, stores - len(ids)))
    ]
    store_ids = np.array([ids[i] for i in chosen] + [c for _, c in copies], dtype=object)
    per_store = int(days * 24)
    end_us = int(np.datetime64(end, "us").astype(np.int64))
    start_us = end_us - per_store * 3_600_000_000
    n = len(store_ids)
    # Each store is polled at its own minute of the hour, with a few minutes of jitter.
    phase = rng.integers(0, 3_600_000_000, size=(n, 1))
    jitter = rng.normal(0, 240_000_000, size=(n, per_store)).astype(np.int64)
    ts = start_us + phase + np.arange(per_store, dtype=np.int64)[None, :] * 3_600_000_000 + jitter
    active = np.ones((n, per_store), dtype=bool)
    keep = np.ones((n, per_store), dtype=bool)
    # Outages: runs of 1–8 inactive polls; gaps: runs of 1–16 missing polls.
    for mask, count, longest, value in ((active, 4 * n, 8, False), (keep, 3 * n, 16, False)):
        rows = rng.integers(0, n, size=count)
        starts = rng.integers(0, per_store, size=count)
        lengths = rng.integers(1, longest + 1, size=count)
        for r, s, length in zip(rows.tolist(), starts.tolist(), lengths.tolist(), strict=True):
            mask[r, s : s + length] = value
    # A sprinkle of isolated inactive polls.
    active &= rng.random((n, per_store)) > 0.03
    frame = pl.DataFrame(
        {
            "store_id": np.repeat(store_ids, per_store)[keep.ravel()],
            "status": np.where(active.ravel(), "active", "inactive")[keep.ravel()],
            "ts": ts.ravel()[keep.ravel()],
        }
    )
    frame = frame.with_columns(
        pl.col("ts")
        .cast(pl.Datetime("us"))
        .dt.strftime("%Y-%m-%d %H:%M:%S%.6f UTC")
        .alias("timestamp_utc")
    ).sort("ts")
    frame = frame.select("store_id", "status", "timestamp_utc")
    if duplicates:
        twins = frame[np.flatnonzero(rng.random(len(frame)) < duplicates).tolist()]
        flip = rng.random(len(twins)) < 0.5
        other = np.where(twins["status"].to_numpy() == "active", "inactive", "active")
        twins = twins.with_columns(
            status=pl.Series(np.where(flip, other, twins["status"].to_numpy()))
        )
        frame = pl.concat([frame, twins])
        frame = frame[rng.permutation(len(frame)).tolist()]
    if bad_rows:
        frame = _with_bad_rows(frame, bad_rows, rng)
    out.mkdir(parents=True, exist_ok=True)
    status = out / "store_status.csv"
    frame.write_csv(status)
    for name in ("menu_hours.csv", "timezones.csv"):
        if not copies:
            shutil.copyfile(source / name, out / name)
            continue
        table = pl.read_csv(source / name, infer_schema=False)
        mapping = pl.DataFrame({"store_id": [b for b, _ in copies], "copy": [c for _, c in copies]})
        again = table.join(mapping, on="store_id").with_columns(store_id=pl.col("copy"))
        pl.concat([table, again.drop("copy")]).write_csv(out / name)
    return Generated(
        status,
        out / "menu_hours.csv",
        out / "timezones.csv",
        len(frame),
        len(store_ids),
    )


BAD_SAMPLES = [
    ("{store}", "unknown", "2023-01-20 10:00:00 UTC"),
    ("{store}", "active", "not a time"),
    ("{store}", "inactive", "2023-01-20 25:00:00 UTC"),
    ("", "active", "2023-01-20 10:00:00 UTC"),
]


def _with_bad_rows(frame: pl.DataFrame, count: int, rng: np.random.Generator) -> pl.DataFrame:
    stores = frame["store_id"].to_list()
    bad = []
    for i in range(count):
        store, status, stamp = BAD_SAMPLES[i % len(BAD_SAMPLES)]
        bad.append((store.format(store=stores[int(rng.integers(len(stores)))]), status, stamp))
    extra = pl.DataFrame(bad, schema=frame.schema, orient="row")
    mixed = pl.concat([frame, extra])
    order = rng.permutation(len(mixed))
    shuffled: pl.DataFrame = mixed[order.tolist()]
    return shuffled
