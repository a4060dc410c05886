"""Topic payloads: JSON in, validated values out, and back (docs/schemas/ has the schemas).

Every decoder raises :class:`PayloadError` with a reason a producer can act on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

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


def _load(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object, got {type(value).__name__}")
    return value


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
    value = _load(data)
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


def encode_hours(store_id: str, shifts: Iterable[Shift]) -> bytes:
    """A store's whole weekly schedule; an empty list means open 24×7."""
    items = [{"day": d, "start": _format_time(s), "end": _format_time(e)} for d, s, e in shifts]
    return json.dumps({"store_id": store_id, "shifts": items}).encode()


def decode_hours(data: bytes) -> tuple[str, tuple[Shift, ...]]:
    """A store-hours message: the store and its whole schedule."""
    value = _load(data)
    store_id = _store_id(value)
    shifts = value.get("shifts")
    if not isinstance(shifts, list):
        raise PayloadError("'shifts' is missing or not a list of {day, start, end}")
    out: set[Shift] = set()
    for i, item in enumerate(shifts):
        if not isinstance(item, dict):
            raise PayloadError(f"shifts[{i}] is not an object with day, start and end")
        day = item.get("day")
        if type(day) is not int or not 0 <= day <= 6:
            raise PayloadError(f"shifts[{i}].day = {day!r}: expected 0 (Monday) to 6 (Sunday)")
        try:
            start = parse_time_of_day(str(item.get("start", "")))
            end = parse_time_of_day(str(item.get("end", "")))
        except RowError as exc:
            raise PayloadError(f"shifts[{i}]: {exc}") from None
        out.add((day, start, end))
    return store_id, tuple(sorted(out))


def encode_zone(store_id: str, timezone: str) -> bytes:
    """A store's time zone (an IANA name)."""
    return json.dumps({"store_id": store_id, "timezone": timezone}).encode()


def decode_zone(data: bytes) -> tuple[str, str]:
    """A store-timezone message: the store and its zone name (validity checked later)."""
    value = _load(data)
    store_id = _store_id(value)
    zone = value.get("timezone")
    if not isinstance(zone, str):
        raise PayloadError("'timezone' is missing or not a string")
    return store_id, zone.strip()


def encode_profile(profile: Profile) -> bytes:
    """A profile as stored in the profiles table."""
    return json.dumps({"shifts": [list(s) for s in profile.shifts], "zone": profile.zone}).encode()


def decode_profile(data: bytes | None) -> Profile:
    """Read what :func:`encode_profile` wrote; None (no row yet) is open 24×7, no zone."""
    if data is None:
        return Profile((), None)
    value = json.loads(data)
    shifts: Sequence[Sequence[int]] = value["shifts"]
    return Profile(tuple((int(d), int(s), int(e)) for d, s, e in shifts), value["zone"])


WATERMARK = "watermark"
ROWS = "rows"


class ReportRequest(NamedTuple):
    """Asks one partition for its newest poll time (``watermark``) or its rows at ``n_us``."""

    report_id: str
    """The report this is for."""
    phase: str
    """``watermark`` or ``rows``."""
    n_us: int | None
    """The report time, for ``rows``."""
    store_id: str | None
    """Only this store, or every store."""


class ReportPart(NamedTuple):
    """One partition's answer to a :class:`ReportRequest` (rows may come in chunks)."""

    report_id: str
    """The report this is for."""
    partition: int
    """Which partition answered."""
    phase: str
    """``watermark`` or ``rows``."""
    newest_us: int | None
    """For ``watermark``: the newest poll time in the partition, None when it has none."""
    chunk: int
    """This chunk's index, from 0."""
    chunks: int
    """How many chunks the partition's answer has."""
    rows: list[list[str]]
    """For ``rows``: the fields of each row of SPEC §4 (the header is not among them)."""


def encode_request(request: ReportRequest) -> bytes:
    """A report request as JSON."""
    return json.dumps(request._asdict()).encode()


def decode_request(data: bytes) -> ReportRequest:
    """A report request; raises :class:`PayloadError`."""
    value = _load(data)
    try:
        request = ReportRequest(**value)
    except TypeError as exc:
        raise PayloadError(f"not a report request: {exc}") from None
    if request.phase not in (WATERMARK, ROWS) or not isinstance(request.report_id, str):
        raise PayloadError(f"not a report request: phase {request.phase!r}")
    if request.phase == ROWS and type(request.n_us) is not int:
        raise PayloadError("a rows request needs an integer n_us")
    return request


def encode_part(part: ReportPart) -> bytes:
    """A report part as JSON."""
    return json.dumps(part._asdict(), separators=(",", ":")).encode()


def decode_part(data: bytes) -> ReportPart:
    """A report part; raises :class:`PayloadError`."""
    value = _load(data)
    try:
        return ReportPart(**value)
    except TypeError as exc:
        raise PayloadError(f"not a report part: {exc}") from None


def encode_dead_letter(source: str, location: str, reason: str, raw: str, at: str) -> bytes:
    """A rejected row or message, with where it came from and why."""
    return json.dumps(
        {"source": source, "location": location, "reason": reason, "raw": raw, "rejected_at": at}
    ).encode()


class WorkerStats(NamedTuple):
    """What a worker says about itself every few seconds (counters since it started)."""

    worker: str
    """Host and pid."""
    sent_at: float
    """Seconds since the epoch."""
    ready: bool
    """Tables recovered and not rebalancing."""
    partitions: list[int]
    """Polls partitions it owns."""
    polls_processed: int
    """Polls merged into the tables."""
    messages_processed: int
    """Messages of the source topics handled."""
    messages_rejected: int
    """Messages sent to the dead letters."""
    newest_processed_us: dict[str, int]
    """Per owned partition (as text), the newest poll time processed."""
    table_keys: dict[str, int]
    """Keys per table."""


def encode_stats(stats: WorkerStats) -> bytes:
    """Worker stats as JSON."""
    return json.dumps(stats._asdict()).encode()


def decode_stats(data: bytes) -> WorkerStats:
    """Worker stats; raises :class:`PayloadError`."""
    try:
        return WorkerStats(**_load(data))
    except TypeError as exc:
        raise PayloadError(f"not worker stats: {exc}") from None
