"""What the HTTP API takes and answers, as the OpenAPI document publishes it.

Request fields carry the very patterns the core's parsers accept (``streams/core/rows``,
``streams/core/timestamps``), so a client generator or a fuzzer sees the real rules; the
parsers, not these models, decide and give the reasons. Every status a route can answer
is declared with its body.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from fastapi import FastAPI
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from streams.core.payloads import MAX_SHIFTS
from streams.core.rows import STATUS_PATTERN, STORE_ID_TEXT_PATTERN, TIME_OF_DAY_PATTERN
from streams.core.timestamps import TIMESTAMP_PATTERN


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zone names this machine knows (read once), sorted."""
    return tuple(sorted(available_timezones()))


class PollIn(BaseModel):
    """One poll, as in the export."""

    store_id: str = Field(
        description="opaque store id: 1–128 of A–Z a–z 0–9 . _ : - (spaces around are stripped)",
        json_schema_extra={"pattern": STORE_ID_TEXT_PATTERN},
    )
    status: str = Field(
        description="active or inactive (any case)", json_schema_extra={"pattern": STATUS_PATTERN}
    )
    timestamp_utc: str = Field(
        description="'2023-01-22 12:09:39.388884 UTC' or ISO 8601 with Z or an offset; "
        "from 2000-01-01 to now plus the allowed clock skew",
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    )


def polls_body(max_items: int) -> dict[str, Any]:
    """The OpenAPI request body of ``POST /polls``: one poll or a non-empty array."""
    poll = PollIn.model_json_schema()
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        poll,
                        {"type": "array", "items": poll, "minItems": 1, "maxItems": max_items},
                    ]
                }
            }
        },
    }


class Accepted(BaseModel):
    """How many polls were written."""

    accepted: int


def _whole_number(value: object) -> object:
    """A JSON integer, as JSON Schema reads one: ``1`` or ``1.0``, never ``true`` or ``"1"``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("expected an integer")
    return value


class Shift(BaseModel):
    """One business-hours row of a weekly schedule."""

    model_config = ConfigDict(strict=True)

    day: Annotated[int, BeforeValidator(_whole_number)] = Field(
        ge=0, le=6, description="0 = Monday … 6 = Sunday"
    )
    start: str = Field(
        description="local HH:MM[:SS[.ffffff]]", json_schema_extra={"pattern": TIME_OF_DAY_PATTERN}
    )
    end: str = Field(
        description="local HH:MM[:SS[.ffffff]]; before start: overnight; equal: a whole day",
        json_schema_extra={"pattern": TIME_OF_DAY_PATTERN},
    )


class HoursIn(BaseModel):
    """A store's whole weekly schedule; an empty list means open 24×7."""

    model_config = ConfigDict(strict=True)

    shifts: list[Shift] = Field(max_length=MAX_SHIFTS)


class HoursOut(BaseModel):
    """The schedule was sent."""

    store_id: str
    shifts: int


class ZoneIn(BaseModel):
    """A store's time zone."""

    model_config = ConfigDict(strict=True)

    timezone: str = Field(
        description="an IANA name, e.g. America/New_York",
        json_schema_extra={"enum": list(zone_names())},
    )


class ZoneOut(BaseModel):
    """The zone was sent."""

    store_id: str
    timezone: str


class ReportIdIn(BaseModel):
    """Which report to get."""

    model_config = ConfigDict(strict=True)

    report_id: str = Field(description="from /trigger_report or /store/{store_id}/trigger_report/")


class Triggered(BaseModel):
    """A report was started."""

    report_id: str


class ReportState(BaseModel):
    """A report not complete yet, or failed."""

    status: Literal["Running", "Failed"]
    error: str | None = None
    behind: dict[str, int] | None = Field(
        None, description="per partition, messages written before the trigger not processed"
    )
    behind_total: int | None = Field(None, description="the sum of ``behind``")


class ReportSummary(BaseModel):
    """One report in the list."""

    report_id: str
    status: str | None
    requested_at: float | None = Field(description="when it was asked for, Unix seconds")
    report_time: str | None = Field(description="its report time N, ISO 8601")
    as_of: str | None
    store_id: str | None
    rows: int | None
    duration_s: float | None
    scheduled: bool
    consistent: bool = Field(description="whether it waited for everything before its trigger")
    month: str | None = Field(None, description="a monthly report's month (YYYY-MM)")
    partial: bool | None = Field(
        None, description="a complete monthly report: whether its month is partial"
    )
    behind: dict[str, int] | None = Field(
        description="per partition, messages written before the trigger its answer lacked"
    )
    behind_total: int | None = Field(description="the sum of ``behind`` (0: nothing behind)")
    error: str | None
    owner: str | None = Field(
        None, description="the API instance that coordinates (or coordinated) it"
    )
    url: str


class Ready(BaseModel):
    """Readiness: ``ready``, or ``not ready`` with the reasons."""

    status: Literal["ready", "not ready"]
    reasons: list[str] = []


class Alive(BaseModel):
    """Liveness."""

    status: Literal["alive"]


class IncidentOut(BaseModel):
    """One incident (docs/semantics.md §7); times in UTC and in the store's zone."""

    start: str | None = Field(
        description="first inactive business instant; null: before the first poll kept"
    )
    end: str | None = Field(description="first active business instant after it; null: still open")
    start_local: str | None
    end_local: str | None
    downtime_s: float = Field(description="its business downtime inside [from, to), seconds")


class DayOut(BaseModel):
    """One local day of a store's history (docs/semantics.md §8)."""

    date: str = Field(description="the local date, YYYY-MM-DD")
    uptime_s: float = Field(description="active business time, seconds (to the µs)")
    downtime_s: float = Field(description="inactive business time, seconds")
    business_s: float = Field(description="business time of the day up to the report time")
    final: bool = Field(description="wholly before the 14 days of polls kept: it no longer changes")


class IncidentsOut(BaseModel):
    """A store's incidents overlapping ``[from, to)``."""

    model_config = ConfigDict(populate_by_name=True)

    store_id: str
    from_: str = Field(alias="from")
    to: str
    incidents: list[IncidentOut]


class SessionOut(BaseModel):
    """A page session was opened for this token."""

    name: str
    scopes: list[str]
    expires_in_s: float | None


class ErrorOut(BaseModel):
    """Every error: a message a person can act on, and where it helps, the details."""

    error: str
    details: list[dict[str, Any]] | None = None
    items: list[dict[str, Any]] | None = None


_WHY = {
    401: "no token, or one that is not known",
    403: "the token lacks the scope this route needs",
    404: "no such resource",
    413: "the body or the number of items is too large",
    415: "the body is not JSON (Content-Type: application/json)",
    422: "the request is invalid; the message (and items) say why",
    429: "too many requests for this token; wait for Retry-After seconds",
    503: "Kafka or the workers cannot serve this now; try again",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that can answer these error codes: JSON whatever the
    route's own media type (an HTML page's errors are JSON too)."""
    schema = {"$ref": "#/components/schemas/ErrorOut"}
    return {
        code: {"description": _WHY[code], "content": {"application/json": {"schema": schema}}}
        for code in codes
    }


SPACE = (
    r"[\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000]"
)
"""Exactly the characters Python's ``\\s`` and ``str.strip()`` take for spaces, the ones the
core's parsers strip, spelled out: readers of a pattern's ``\\s`` disagree (ECMA-262's lacks
U+001C–U+001F and U+0085 but has U+FEFF; schemathesis reads it as ASCII only)."""


def portable(pattern: str) -> str:
    """A core pattern (Python ``re``, what the parsers match) as the document publishes it:
    every ``\\s`` spelled as :data:`SPACE`, so that a client, a validator or a fuzzer,
    whatever its regex dialect, accepts exactly what the parser accepts."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i : i + 2]
            out.append((SPACE[1:-1] if in_class else SPACE) if escape == r"\s" else escape)
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def publish_patterns(node: Any) -> None:
    """Spell every ``pattern`` in a document (or part of one) with :func:`portable`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                node[key] = portable(value)
            else:
                publish_patterns(value)
    elif isinstance(node, list):
        for value in node:
            publish_patterns(value)


def extend_openapi(app: FastAPI, edit: Callable[[dict[str, Any]], None]) -> None:
    """Have ``edit`` change the app's OpenAPI document once, when it is first built; every
    pattern in it, whichever route published it, is then spelled with :func:`portable`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            edit(document)
            publish_patterns(document)
        return app.openapi_schema  # type: ignore[return-value]  # set by build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def publish_error_model(document: dict[str, Any]) -> None:
    """Put :class:`ErrorOut` in the document's components, where :func:`errors` points."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")


BODY_ERRORS = (401, 403, 413, 415, 422, 429, 503)
"""What an ingestion route (a JSON body, a token with a rate) can answer besides success."""
AUTH_ERRORS = (401, 403)
"""What any route behind a token can answer."""
