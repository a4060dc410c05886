"""Live ingestion: polls, hours and zones pushed over HTTP into the same topics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.body import read_json
from api.coordinator import KafkaUnavailableError
from api.deps import CoordinatorDep, StoreIdDep
from api.errors import ApiError, SafeJSONResponse
from streams.core.exceptions import PayloadError, RowError, quote
from streams.core.payloads import decode_hours, encode_hours, encode_zone
from streams.core.pollkeys import poll_key
from streams.core.rows import parse_poll_fields
from streams.core.timestamps import TimeBounds
from streams.core.zones import resolve_zone

router = APIRouter(tags=["ingestion"])


class PollIn(BaseModel):
    """One poll, as in the export."""

    store_id: str = Field(description="opaque store id: 1–128 of A–Z a–z 0–9 . _ : -")
    status: str = Field(description="active or inactive (any case)")
    timestamp_utc: str = Field(description="'2023-01-22 12:09:39.388884 UTC' or ISO 8601")


class Accepted(BaseModel):
    """How many polls were written."""

    accepted: int


class Shift(BaseModel):
    """One business-hours row of a weekly schedule."""

    day: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start: str = Field(description="local HH:MM[:SS]")
    end: str = Field(description="local HH:MM[:SS]; before start: overnight; equal: 24 h")


class HoursIn(BaseModel):
    """A store's whole weekly schedule; an empty list means open 24×7."""

    shifts: list[Shift]


class ZoneIn(BaseModel):
    """A store's time zone."""

    timezone: str = Field(description="IANA name, e.g. America/New_York")


@asynccontextmanager
async def _kafka_errors() -> AsyncIterator[None]:
    """Kafka not acknowledging is a 503 the client can retry (a poll twice counts once)."""
    try:
        yield
    except KafkaUnavailableError as exc:
        raise ApiError(503, f"{exc}; nothing was written") from None
    except KafkaError as exc:
        raise ApiError(
            503, f"Kafka did not acknowledge the write ({exc}); send the whole request again"
        ) from None


def _validate_polls(
    items: list[Any], bounds: TimeBounds
) -> tuple[dict[str, list[int]], list[dict[str, Any]]]:
    by_store: dict[str, list[int]] = {}
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise RowError(f"item is a {type(item).__name__}, not a poll object")
            poll = parse_poll_fields(
                item.get("store_id"), item.get("status"), item.get("timestamp_utc"), bounds
            )
        except RowError as exc:
            problems.append({"index": index, "reason": str(exc)})
            continue
        by_store.setdefault(poll.store_id, []).append(poll_key(poll.ts_us, poll.active))
    return by_store, problems


@router.post(
    "/polls",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/PollIn"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/PollIn"}},
                        ]
                    }
                }
            },
        }
    },
    responses={
        413: {"description": "body too large"},
        422: {"description": "a reason per bad item"},
    },
)
async def post_polls(request: Request, coordinator: CoordinatorDep) -> Accepted:
    """Write one poll or an array of polls; all of them, or none when any is invalid."""
    settings = coordinator.settings
    body = await read_json(request)
    items = body if isinstance(body, list) else [body]
    if len(items) > settings.max_polls_per_request:
        raise ApiError(
            413, f"{len(items):,} polls in one request; at most {settings.max_polls_per_request:,}"
        )
    if not items:
        raise ApiError(422, "no polls: send one poll object or a non-empty array of them")
    by_store, problems = _validate_polls(items, settings.time_bounds())
    if problems:
        return SafeJSONResponse(  # type: ignore[return-value]  # the 422 carries reasons, not Accepted
            {
                "error": f"{len(problems)} of {len(items)} polls are invalid; nothing was written",
                "items": problems,
            },
            status_code=422,
        )
    async with _kafka_errors():
        await coordinator.send_polls(by_store)
    return Accepted(accepted=len(items))


@router.put("/stores/{store_id}/hours", status_code=202)
async def put_hours(
    store_id: StoreIdDep, hours: HoursIn, coordinator: CoordinatorDep
) -> dict[str, Any]:
    """Replace the store's weekly schedule, whole."""
    payload = {"store_id": store_id, "shifts": [s.model_dump() for s in hours.shifts]}
    try:
        update = decode_hours(json.dumps(payload).encode())
    except PayloadError as exc:
        raise ApiError(422, str(exc)) from None
    # Stamped with the time it was received: of two updates, the later one wins.
    value = encode_hours(store_id, update.value, version=time.time_ns() // 1000)
    async with _kafka_errors():
        await coordinator.send(coordinator.topics.hours.name, store_id, value)
    return {"store_id": store_id, "shifts": len(update.value)}


@router.put("/stores/{store_id}/timezone", status_code=202)
async def put_timezone(
    store_id: StoreIdDep, zone: ZoneIn, coordinator: CoordinatorDep
) -> dict[str, Any]:
    """Replace the store's time zone; an unknown IANA name is refused."""
    name = zone.timezone.strip()
    if not resolve_zone(name)[1] or not name:
        raise ApiError(
            422, f"unknown time zone {quote(name)}: use an IANA name such as America/New_York"
        )
    async with _kafka_errors():
        await coordinator.send(coordinator.topics.zones.name, store_id, encode_zone(store_id, name))
    return {"store_id": store_id, "timezone": name}
