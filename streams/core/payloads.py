"""Topic payloads: JSON in, validated values out, and back (docs/schemas/ has the schemas).

Every decoder raises :class:`PayloadError` with a reason a producer can act on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import orjson

from streams.core.exceptions import PayloadError, RowError, TimestampError, quote
from streams.core.pollkeys import Keys
from streams.core.rows import parse_poll_fields, parse_store_id, parse_time_of_day
from streams.core.schedule import Profile, Shift
from streams.core.timestamps import TimeBounds

MAX_POLLS_PER_MESSAGE = 10_000


class PollBatch(NamedTuple):
    """Polls of one store from one message."""

    store_id: str
    """The store every poll is of."""
    keys: Keys
    """The valid polls' keys, ``ts_us * 2 + active``, in message order."""
    rejected: list[str]
    """Why each invalid poll of a batch was left out (the valid ones are kept)."""


MAX_POLLS_BYTES = 1024 * 1024
"""A polls message is at most this long (10,000 polls take about 400 kB)."""
MAX_PROFILE_BYTES = 64 * 1024
"""An hours or zone message is at most this long."""


def load_json(data: bytes) -> Any:
    """JSON from bytes, wherever they come from (a message, an HTTP body); anything that is
    not usable JSON (invalid, invalid UTF-8, nested over 1,024 levels, a number out of
    range) is a :class:`PayloadError` saying why."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {quote(str(exc), 200)}") from None


def _load(data: bytes, limit: int) -> dict[str, Any]:
    """A JSON object from a message, or :class:`PayloadError` whatever is wrong with it."""
    if len(data) > limit:
        raise PayloadError(f"the message is {len(data):,} bytes; at most {limit:,} are read")
    value = load_json(data)
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _version(value: dict[str, Any]) -> int | None:
    version = value.get("version")
    if version is None:
        return None
    if type(version) is not int or not 0 <= version <= 2**62:
        raise PayloadError(
            f"'version' = {quote(version)}: expected microseconds since the epoch (an integer)"
        )
    return version


def _store_id(value: dict[str, Any]) -> str:
    try:
        return parse_store_id(value.get("store_id"))
    except RowError as exc:
        raise PayloadError(str(exc)) from None


def decode_polls(data: bytes, bounds: TimeBounds) -> PollBatch:
    """A polls-topic message: one poll, or a batch of one store's polls.

    A single poll that is invalid makes the message invalid (:class:`PayloadError`). In a
    batch, each invalid poll is left out with its reason and the valid ones are kept.
    """
    value = _load(data, MAX_POLLS_BYTES)
    if "polls" not in value:
        try:
            poll = parse_poll_fields(
                value.get("store_id"), value.get("status"), value.get("timestamp_utc"), bounds
            )
        except RowError as exc:
            raise PayloadError(str(exc)) from None
        key = poll.ts_us * 2 + poll.active
        return PollBatch(poll.store_id, np.array([key], dtype=np.int64), [])
    store_id = _store_id(value)
    polls = value["polls"]
    if not isinstance(polls, list) or not polls:
        raise PayloadError("'polls' must be a non-empty list of [timestamp_us, status]")
    if len(polls) > MAX_POLLS_PER_MESSAGE:
        raise PayloadError(f"{len(polls)} polls in one message; at most {MAX_POLLS_PER_MESSAGE}")
    keys = np.empty(len(polls), dtype=np.int64)
    good = np.ones(len(polls), dtype=bool)
    rejected: list[str] = []
    statuses = {"active": 1, "inactive": 0}
    for i, item in enumerate(polls):
        try:
            ts_us, status = item
            if type(ts_us) is not int or not isinstance(status, str):
                raise TypeError
            keys[i] = bounds.check(ts_us) * 2 + statuses[status.lower()]
        except TimestampError as exc:
            good[i] = False
            rejected.append(f"polls[{i}]: {exc}")
        except (TypeError, ValueError, KeyError, OverflowError):
            good[i] = False
            rejected.append(
                f"polls[{i}] = {quote(item)}: expected [timestamp in µs since the epoch, "
                "'active' or 'inactive']"
            )
    return PollBatch(store_id, keys if good.all() else keys[good], rejected)


def encode_polls(store_id: str, keys: Keys) -> bytes:
    """One message holding polls of one store (the batch form)."""
    polls = [[int(k) >> 1, "active" if k & 1 else "inactive"] for k in keys.tolist()]
    return json.dumps({"store_id": store_id, "polls": polls}, separators=(",", ":")).encode()


def encode_poll(store_id: str, status: str, timestamp_utc: str) -> bytes:
    """One message holding one poll (the single form)."""
    return json.dumps(
        {"store_id": store_id, "status": status, "timestamp_utc": timestamp_utc}
    ).encode()


def _format_time(us: int) -> str:
    seconds, micro = divmod(us, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text + (f".{micro:06d}" if micro else "")


class Update(NamedTuple):
    """A store's new schedule or zone, from an hours or zones message."""

    store_id: str
    """The store."""
    value: Any
    """The whole weekly schedule (a tuple of shifts), or the zone name."""
    version: int | None
    """The producer's time of the update (µs), when the message says; a store keeps the
    newest version of each, whatever order the updates arrive in."""


def encode_hours(store_id: str, shifts: Iterable[Shift], version: int | None = None) -> bytes:
    """A store's whole weekly schedule; an empty list means open 24×7."""
    items = [{"day": d, "start": _format_time(s), "end": _format_time(e)} for d, s, e in shifts]
    return _encode_profile({"store_id": store_id, "shifts": items}, version)


def _encode_profile(value: dict[str, Any], version: int | None) -> bytes:
    """A profile message, with the producer's version when it gives one."""
    if version is not None:
        value["version"] = version
    return json.dumps(value).encode()


MAX_SHIFTS = 1_000


def decode_hours(data: bytes) -> Update:
    """A store-hours message: the store and its whole schedule."""
    value = _load(data, MAX_PROFILE_BYTES)
    store_id = _store_id(value)
    shifts = value.get("shifts")
    if not isinstance(shifts, list):
        raise PayloadError("'shifts' is missing or not a list of {day, start, end}")
    if len(shifts) > MAX_SHIFTS:
        raise PayloadError(f"{len(shifts):,} shifts; a week has at most {MAX_SHIFTS:,}")
    out: set[Shift] = set()
    for i, item in enumerate(shifts):
        if not isinstance(item, dict):
            raise PayloadError(f"shifts[{i}] is not an object with day, start and end")
        day = item.get("day")
        if type(day) is not int or not 0 <= day <= 6:
            raise PayloadError(f"shifts[{i}].day = {quote(day)}: expected 0 (Monday) to 6 (Sunday)")
        start, end = item.get("start"), item.get("end")
        if not isinstance(start, str) or not isinstance(end, str):
            raise PayloadError(f"shifts[{i}]: start and end must be strings like '09:00'")
        try:
            out.add((day, parse_time_of_day(start), parse_time_of_day(end)))
        except RowError as exc:
            raise PayloadError(f"shifts[{i}]: {exc}") from None
    return Update(store_id, tuple(sorted(out)), _version(value))


def encode_zone(store_id: str, timezone: str, version: int | None = None) -> bytes:
    """A store's time zone (an IANA name)."""
    return _encode_profile({"store_id": store_id, "timezone": timezone}, version)


MAX_ZONE_CHARS = 256


def decode_zone(data: bytes) -> Update:
    """A store-timezone message: the store and its zone name (validity checked later)."""
    value = _load(data, MAX_PROFILE_BYTES)
    store_id = _store_id(value)
    zone = value.get("timezone")
    if not isinstance(zone, str) or len(zone) > MAX_ZONE_CHARS:
        raise PayloadError(f"'timezone' is missing or not a name of at most {MAX_ZONE_CHARS}")
    return Update(store_id, zone.strip(), _version(value))


class StoredProfile(NamedTuple):
    """A store's profile as the profiles table keeps it: with the version of each part."""

    profile: Profile
    """The schedule and the zone."""
    hours_version: int
    """The version of the schedule (0: none given)."""
    zone_version: int
    """The version of the zone (0: none given)."""


EMPTY_PROFILE = StoredProfile(Profile((), None), 0, 0)


def with_hours(
    stored: StoredProfile, shifts: tuple[Shift, ...], version: int
) -> StoredProfile | None:
    """The profile with a new schedule, or None when ``version`` is older than the one it
    has (a stale update, e.g. forwarded after a newer one arrived; the same version again
    is a replay and changes nothing)."""
    if version < stored.hours_version:
        return None
    return StoredProfile(stored.profile._replace(shifts=shifts), version, stored.zone_version)


def with_zone(stored: StoredProfile, zone: str, version: int) -> StoredProfile | None:
    """The profile with a new zone, or None when ``version`` is older (see :func:`with_hours`)."""
    if version < stored.zone_version:
        return None
    return StoredProfile(stored.profile._replace(zone=zone), stored.hours_version, version)


def merge_stored(current: StoredProfile, incoming: StoredProfile) -> StoredProfile:
    """Two records of one store's profile made one, each part from the newer version.

    A changelog may hold a record written by a worker that had lost the partition without
    knowing it yet (frozen past its session, then thawed): it read the profile it had and
    changed one part, so its other part can be older than what the new owner wrote before
    it. Applying changelog records through this, a replica keeps each part's newest
    version whatever the order (the same version again is the same update: the incoming
    one is kept)."""
    hours, hours_version = current.profile.shifts, current.hours_version
    if incoming.hours_version >= current.hours_version:
        hours, hours_version = incoming.profile.shifts, incoming.hours_version
    zone, zone_version = current.profile.zone, current.zone_version
    if incoming.zone_version >= current.zone_version:
        zone, zone_version = incoming.profile.zone, incoming.zone_version
    return StoredProfile(Profile(hours, zone), hours_version, zone_version)


def encode_profile(stored: StoredProfile) -> bytes:
    """A profile as stored in the profiles table."""
    profile = stored.profile
    return json.dumps(
        {
            "shifts": [list(s) for s in profile.shifts],
            "zone": profile.zone,
            "hours_version": stored.hours_version,
            "zone_version": stored.zone_version,
        }
    ).encode()


def decode_stored_profile(data: bytes | None) -> StoredProfile:
    """Read what :func:`encode_profile` wrote; None (no row yet) is open 24×7, no zone."""
    if data is None:
        return EMPTY_PROFILE
    value = json.loads(data)
    shifts: Sequence[Sequence[int]] = value["shifts"]
    profile = Profile(tuple((int(d), int(s), int(e)) for d, s, e in shifts), value["zone"])
    return StoredProfile(profile, value.get("hours_version", 0), value.get("zone_version", 0))


@lru_cache(maxsize=16_384)
def decode_profile(data: bytes | None) -> Profile:
    """The profile (schedule and zone) of what :func:`encode_profile` wrote (cached: stores
    share schedules, and a live poll's store asks for its own again and again)."""
    return decode_stored_profile(data).profile
