"""The pipeline's own messages: report requests and answers, worker stats, dead letters.

Every one is validated when read, however it got onto its topic: a strict pydantic model
(no coercion, bounded sizes, JSON parsed in Rust with a nesting limit) turns anything else
into a :class:`PayloadError` that says what was wrong, so that no message can stop the
agent or task reading it. ``docs/schemas/`` has their JSON Schemas.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from streams.core.exceptions import PayloadError, quote
from streams.core.history import month_span
from streams.core.rows import STORE_ID_PATTERN
from streams.core.timestamps import EARLIEST_US

WATERMARK = "watermark"
ROWS = "rows"
STORE = "store"
MAX_STORED_DAYS = 4_000
"""The most stored days one store view carries (``STOREMON_HISTORY_DAYS`` at most)."""
MAX_STORE_KEYS = 500_000
"""A store's retained polls sent in one answer (14 days of one poll every 3 s)."""
MAX_REQUEST_BYTES = 4_096
MAX_PART_BYTES = 32 * 1024 * 1024
MAX_STATS_BYTES = 64 * 1024
MAX_LETTER_BYTES = 64 * 1024
LATEST_US = 2**62
"""No instant in a message lies after this (year 146,000: far past any bound of
docs/semantics.md §1)."""

ReportId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
StoreId = Annotated[str, StringConstraints(pattern=STORE_ID_PATTERN)]
Instant = Annotated[int, Field(ge=EARLIEST_US, le=LATEST_US)]
RowField = Annotated[str, StringConstraints(max_length=128)]
Month = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}$")]
TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


M = TypeVar("M", bound=_Message)


class ReportRequest(_Message):
    """Asks one partition for its newest poll time (``watermark``) or its rows at ``n_us``."""

    report_id: ReportId
    """The report this is for."""
    phase: Literal["watermark", "rows", "store"]
    """``watermark``, ``rows``, or ``store`` (one store's polls and profile)."""
    n_us: Instant | None
    """The report time, for ``rows``."""
    store_id: StoreId | None
    """Only this store, or every store."""
    month: Month | None = None
    """For ``rows``: the monthly report of this month (``YYYY-MM``, docs/semantics.md §8.3)
    instead of the report's rows."""
    deadline: float = Field(ge=0, le=2**40)
    """Seconds since the epoch after which the answer is of no use: workers skip it."""


class ReportPart(_Message):
    """One partition's answer to a :class:`ReportRequest`; rows may come in chunks."""

    report_id: ReportId
    """The report this is for."""
    partition: int = Field(ge=0, le=100_000)
    """Which partition answered."""
    answer: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Which answer this chunk belongs to: a partition's new owner answers afresh, and
    only the chunks of one answer are put together."""
    phase: Literal["watermark", "rows", "store"]
    """``watermark``, ``rows`` or ``store``."""
    newest_us: Instant | None
    """For ``watermark``: the newest poll time in the partition, None when it has none."""
    chunk: int = Field(ge=0, le=1_000_000)
    """This chunk's index, from 0."""
    chunks: int = Field(ge=1, le=1_000_000)
    """How many chunks the answer has."""
    rows: list[Annotated[list[RowField], Field(min_length=5, max_length=7)]]
    """For ``rows``: the fields of each row of docs/semantics.md §4, or of §8.3 for a
    monthly report (the header is not among them)."""
    partial: bool | None = None
    """For a monthly report's ``rows``: whether the month is partial for one of the
    partition's stores (not over at the report time in its zone, or older than the history
    kept)."""
    keys: (
        Annotated[list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(max_length=MAX_STORE_KEYS)]
        | None
    )
    """For ``store``: its retained polls as sorted keys (``ts_us * 2 + active``)."""
    profile: Annotated[str, StringConstraints(max_length=200_000)] | None
    """For ``store``: its profile as the profiles table keeps it (JSON), None for none."""
    processed: dict[TopicName, Annotated[int, Field(ge=0, le=2**63 - 1)]] | None = None
    """Per source topic, the next offset of this partition its owner had to process when
    it answered (everything before it is in the answer): how current the answer is."""
    days: (
        Annotated[
            list[
                Annotated[
                    list[Annotated[int, Field(ge=0, le=2**62)]], Field(min_length=3, max_length=3)
                ]
            ],
            Field(max_length=MAX_STORED_DAYS),
        ]
        | None
    ) = None
    """For ``store``: its final days kept after their polls, oldest first, each
    ``[ordinal, business, active]`` in ticks (docs/semantics.md §8.2)."""
    days_mark: Annotated[int, Field(ge=0, le=4_000_000)] | None = None
    """For ``store``: the last local day stored (an ordinal); the polls shape every day
    after it whole. None: nothing stored yet."""


class WorkerStats(_Message):
    """What a worker says about itself every few seconds (counters since it started)."""

    worker: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    """Host and pid."""
    sent_at: float
    """Seconds since the epoch."""
    ready: bool
    """Tables recovered and not rebalancing."""
    partitions: list[Annotated[int, Field(ge=0, le=100_000)]]
    """Polls partitions it owns."""
    polls_processed: int = Field(ge=0)
    """Polls merged into the tables."""
    messages_processed: int = Field(ge=0)
    """Messages of the source topics handled."""
    messages_rejected: int = Field(ge=0)
    """Messages sent to the dead letters."""
    newest_processed_us: dict[Annotated[str, StringConstraints(max_length=8)], int]
    """Per owned partition (as text), the newest poll time processed."""
    table_keys: dict[Annotated[str, StringConstraints(max_length=64)], int]
    """Counts of what the worker holds (stores, timelines, their bytes)."""
    partition_stalls: int = Field(0, ge=0)
    """Partitions the progress watchdog found stalled since the worker started."""
    messages_skipped: int = Field(0, ge=0)
    """Polls messages the engine skipped (an offset jump) and the worker read again."""
    stalled: dict[Annotated[str, StringConstraints(max_length=260)], float] = {}
    """Partitions stalled now (``topic:partition``), with for how many seconds."""


class DeadLetter(_Message):
    """A rejected row or message: where it came from and why."""

    source: Annotated[str, StringConstraints(max_length=1_000)]
    """A file path, or the topic the message was read from."""
    location: Annotated[str, StringConstraints(max_length=200)]
    """``line N`` of a file, or ``partition P offset O`` of a topic."""
    reason: Annotated[str, StringConstraints(max_length=20_000)]
    """What was wrong and what to do."""
    raw: Annotated[str, StringConstraints(max_length=20_000)]
    """The row or message as read (cut to 10,000 characters)."""
    rejected_at: Annotated[str, StringConstraints(max_length=64)]
    """When it was rejected, ISO 8601."""


class Assembly:
    """The parts of one phase of a report as they come, each partition's from one answer.

    A partition's old and new owner may both answer (a rebalance mid-report); their
    chunks carry different answer ids and are never put together, so no row is lost or
    counted twice.
    """

    def __init__(self, phase: str, partitions: list[int]) -> None:
        self.phase = phase
        self._answers: dict[int, dict[str, dict[int, ReportPart]]] = {p: {} for p in partitions}
        self._done: dict[int, list[ReportPart]] = {}

    def add(self, part: ReportPart) -> None:
        """Take one part; a stranger, a late part of another phase or one too many is left."""
        if (
            part.phase != self.phase
            or part.partition not in self._answers
            or part.partition in self._done
        ):
            return
        chunks = self._answers[part.partition].setdefault(part.answer, {})
        chunks[part.chunk] = part
        if len(chunks) == part.chunks and all(c.chunks == part.chunks for c in chunks.values()):
            self._done[part.partition] = [chunks[i] for i in sorted(chunks)]

    def missing(self) -> list[int]:
        """The partitions whose answer is not whole yet."""
        return sorted(set(self._answers) - set(self._done))

    def parts(self) -> list[ReportPart]:
        """Every whole answer's parts, by partition and chunk."""
        return [part for p in sorted(self._done) for part in self._done[p]]


def _decode(model: type[M], data: bytes, limit: int) -> M:
    if len(data) > limit:
        raise PayloadError(f"{len(data):,} bytes; a {model.__name__} has at most {limit:,}")
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PayloadError(f"not a valid {model.__name__}: {quote(problems, 500)}") from None


def decode_request(data: bytes) -> ReportRequest:
    """A report request; raises :class:`PayloadError`."""
    request = _decode(ReportRequest, data, MAX_REQUEST_BYTES)
    if request.phase == ROWS and request.n_us is None:
        raise PayloadError("not a valid ReportRequest: a rows request needs n_us")
    if request.phase == STORE and request.store_id is None:
        raise PayloadError("not a valid ReportRequest: a store request needs store_id")
    if request.month is not None:
        try:
            month_span(request.month)
        except ValueError as exc:
            raise PayloadError(f"not a valid ReportRequest: month: {exc}") from None
    return request


def decode_part(data: bytes) -> ReportPart:
    """A report part; raises :class:`PayloadError`."""
    return _decode(ReportPart, data, MAX_PART_BYTES)


def decode_stats(data: bytes) -> WorkerStats:
    """Worker stats; raises :class:`PayloadError`."""
    return _decode(WorkerStats, data, MAX_STATS_BYTES)


def decode_dead_letter(data: bytes) -> DeadLetter:
    """A dead letter; raises :class:`PayloadError`."""
    return _decode(DeadLetter, data, MAX_LETTER_BYTES)


def encode(message: _Message) -> bytes:
    """Any of these messages as JSON."""
    return message.model_dump_json().encode()


def encode_dead_letter(source: str, location: str, reason: str, raw: str, at: str) -> bytes:
    """A rejected row or message, with where it came from and why."""
    letter = DeadLetter(
        source=source[:1_000], location=location[:200], reason=reason[:20_000],
        raw=raw[:10_000], rejected_at=at[:64],
    )  # fmt: skip
    return json.dumps(letter.model_dump()).encode()
