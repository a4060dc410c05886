"""A store's polls as append-only segments: the per-store state layout (pure).

Each batch of a store's polls becomes one **segment**, a key of its own in the ``polls``
table: a write touches only what changed, whatever the store's history. A live poll is
one small record (the poll is in the key; the value is empty). Reading a store concatenates
its segments; retention and merging (:func:`plan_compaction`) rewrite a store's older days
into one segment per day and drop what retention allows.

Key layout (bytes; RocksDB sorts them, so a store's segments are contiguous and in time
order of their first poll)::

    \\x01 <store id> \\x00 <first poll key, 8 bytes big-endian> [<crc32 of the value, 4 bytes>]

The value is the segment's other poll keys, 8 bytes each little-endian (empty for a single
poll). The checksum suffix keeps two different segments that start with the same poll from
overwriting each other; the same segment written twice is the same key and value, so
replays are idempotent. Store ids never contain ``\\x00`` (docs/semantics.md §1).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from streams.core.pollkeys import Keys, normalize_keys
from streams.core.schedule import Profile
from streams.core.timeline import last_observation_before
from streams.core.timestamps import US_PER_DAY
from streams.core.zones import day_start_us, local_ordinal, resolve_zone

SEGMENT = b"\x01"
"""First byte of every segment key."""
NEWEST = b"\x02newest"
"""Key of a partition's newest poll time (8 bytes big-endian, µs)."""
RETENTION_US = 14 * US_PER_DAY
"""A store keeps the polls within this of its newest poll, and one carry-in observation."""
TAIL_US = US_PER_DAY
"""Polls within this of a store's newest are left in the segments they arrived in."""
MAX_SEGMENTS = 48
"""A store with more segments than this is compacted (about two days of hourly polls)."""

_EMPTY = np.empty(0, dtype=np.int64)


def prefix(store: bytes) -> bytes:
    """The common start of every segment key of ``store``."""
    return SEGMENT + store + b"\x00"


def store_of(key: bytes) -> bytes | None:
    """The store a segment key belongs to; None for any other key."""
    if not key.startswith(SEGMENT):
        return None
    end = key.find(b"\x00", 1)
    return key[1:end] if end > 0 else None


def encode(store: bytes, keys: Keys) -> tuple[bytes, bytes]:
    """The ``(key, value)`` of a segment holding ``keys`` (sorted, one per instant)."""
    head = prefix(store) + int(keys[0]).to_bytes(8, "big")
    if len(keys) == 1:
        return head, b""
    value = keys[1:].astype("<i8", copy=False).tobytes()
    return head + zlib.crc32(value).to_bytes(4, "big"), value


def decode(key: bytes, value: bytes) -> Keys:
    """The poll keys of a segment (sorted)."""
    first = int.from_bytes(key[-12:-4] if len(key) >= 12 and value else key[-8:], "big")
    rest = np.frombuffer(value, dtype="<i8").astype(np.int64)
    return np.concatenate((np.array([first], dtype=np.int64), rest))


def merge(segments: Iterable[tuple[bytes, bytes]]) -> Keys:
    """Every poll of a store's segments, sorted, one per instant (``inactive`` wins)."""
    parts = [decode(k, v) for k, v in segments]
    if not parts:
        return _EMPTY
    return normalize_keys(np.concatenate(parts))


def kept_from(newest_us: int, profile: Profile, retention_us: int = RETENTION_US) -> int:
    """Where a store whose newest poll is ``newest_us`` keeps all its polls from: 14 days
    back, then back to the start of that local day (docs/semantics.md §8.2)."""
    zone = resolve_zone(profile.zone)[0]
    return day_start_us(zone, local_ordinal(zone, newest_us - retention_us))


def retain(keys: Keys, profile: Profile, retention_us: int = RETENTION_US) -> Keys:
    """What a store keeps of ``keys`` (sorted, one per instant): every poll within
    ``retention_us`` of the newest; the newest poll before that horizon that lies in
    business hours (carry-in: its status still reaches into the oldest window); and the
    newest poll before the horizon at all (so the store still has a row for a report time
    before its first poll in the horizon, docs/semantics.md §4). The last two are often one poll.

    The horizon is moved back to the start of its local day (in the store's zone), so that
    every day of history not yet final keeps all its polls (docs/semantics.md §8.2).
    """
    if len(keys) == 0:
        return keys
    horizon = kept_from(int(keys[-1]) >> 1, profile, retention_us)
    cut = int(np.searchsorted(keys >> 1, horizon, side="left"))
    if cut == 0:
        return keys
    carry = last_observation_before(keys[:cut], profile, horizon)
    head = sorted({int(keys[cut - 1])} | ({carry} if carry is not None else set()))
    return np.concatenate((np.array(head, dtype=np.int64), keys[cut:]))


class Compaction(NamedTuple):
    """How to rewrite one store's segments."""

    puts: dict[bytes, bytes]
    """Segments to write (new or refreshed)."""
    deletes: list[bytes]
    """Segment keys to delete: pruned or merged into a ``put``."""


def plan_compaction(
    store: bytes,
    segments: Mapping[bytes, bytes],
    profile: Profile,
    *,
    refresh: bool = False,
    retention_us: int = RETENTION_US,
) -> Compaction:
    """Seal a store's older days into one segment per UTC day and drop what retention
    allows; polls of the last ``TAIL_US`` stay in the segments they came in.

    The result holds the same retained polls (:func:`retain` of :func:`merge`). With
    ``refresh``, every retained segment is written again even if unchanged, so that the
    changelog (which deletes records by age) always holds a recent copy of it.
    """
    keys = retain(merge(segments.items()), profile, retention_us)
    if len(keys) == 0:
        return Compaction({}, list(segments))
    tail_from = (int(keys[-1]) >> 1) - TAIL_US
    wanted: dict[bytes, bytes] = {}
    sealed = keys[(keys >> 1) < tail_from]
    if len(sealed):
        days = (sealed >> 1) // US_PER_DAY
        for chunk in np.split(sealed, np.flatnonzero(np.diff(days)) + 1):
            key, value = encode(store, chunk)
            wanted[key] = value
    # Tail segments stay as they are; a segment reaching from the sealed days into the tail
    # is replaced by one segment of its tail polls.
    kept_tail: list[Keys] = []
    for key, value in segments.items():
        polls = decode(key, value)
        if int(polls[0]) >> 1 >= tail_from:
            wanted[key] = value
        elif int(polls[-1]) >> 1 >= tail_from:
            kept_tail.append(polls[(polls >> 1) >= tail_from])
    if kept_tail:
        key, value = encode(store, normalize_keys(np.concatenate(kept_tail)))
        wanted[key] = value
    puts = {k: v for k, v in wanted.items() if refresh or segments.get(k) != v}
    deletes = [k for k in segments if k not in wanted]
    return Compaction(puts, deletes)
