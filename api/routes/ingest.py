"""Live ingestion: polls, hours and zones pushed over HTTP into the same topics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, Request

from api.body import read_json
from api.coordinator import KafkaUnavailableError
from api.deps import CoordinatorDep, StoreIdDep
from api.errors import ApiError, SafeJSONResponse
from api.schemas import (
    BODY_ERRORS,
    Accepted,
    HoursIn,
    HoursOut,
    ZoneIn,
    ZoneOut,
    errors,
    extend_openapi,
    polls_body,
    zone_names,
)
from api.security import Ingest, writable
from streams.core.exceptions import PayloadError, RowError, quote
from streams.core.payloads import MAX_POLLS_PER_MESSAGE, decode_hours, encode_hours, encode_zone
from streams.core.pollkeys import poll_key
from streams.core.rows import parse_poll_fields
from streams.core.timestamps import TimeBounds

router = APIRouter(tags=["ingestion"])


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
    # The body is read by hand (per-item reasons, all or nothing); its schema is published.
    # (create_app puts the API's own maximum in it: ``publish_limits``).
    openapi_extra={"requestBody": polls_body(MAX_POLLS_PER_MESSAGE)},
    responses=errors(*BODY_ERRORS),
)
async def post_polls(_who: Ingest, request: Request, coordinator: CoordinatorDep) -> Accepted:
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
    writable(_who, by_store)
    async with _kafka_errors():
        await coordinator.send_polls(by_store)
    return Accepted(accepted=len(items))


@router.put("/stores/{store_id}/hours", status_code=202, responses=errors(*BODY_ERRORS))
async def put_hours(
    _who: Ingest, store_id: StoreIdDep, hours: HoursIn, coordinator: CoordinatorDep
) -> HoursOut:
    """Replace the store's weekly schedule, whole."""
    writable(_who, [store_id])
    payload = {"store_id": store_id, "shifts": [s.model_dump() for s in hours.shifts]}
    try:
        update = decode_hours(json.dumps(payload).encode())
    except PayloadError as exc:
        raise ApiError(422, str(exc)) from None
    # Stamped with the time it was received: of two updates, the later one wins.
    value = encode_hours(store_id, update.value, version=time.time_ns() // 1000)
    async with _kafka_errors():
        await coordinator.send(coordinator.topics.hours.name, store_id, value)
    return HoursOut(store_id=store_id, shifts=len(update.value))


@router.put("/stores/{store_id}/timezone", status_code=202, responses=errors(*BODY_ERRORS))
async def put_timezone(
    _who: Ingest, store_id: StoreIdDep, zone: ZoneIn, coordinator: CoordinatorDep
) -> ZoneOut:
    """Replace the store's time zone; a name that is not an IANA zone is refused."""
    writable(_who, [store_id])
    name = zone.timezone
    if name not in zone_names():
        raise ApiError(
            422, f"unknown time zone {quote(name)}: use an IANA name such as America/New_York"
        )
    async with _kafka_errors():
        await coordinator.send(coordinator.topics.zones.name, store_id, encode_zone(store_id, name))
    return ZoneOut(store_id=store_id, timezone=name)


def publish_limits(app: FastAPI, max_polls: int) -> None:
    """Publish this API's maximum number of polls a request in the body of ``POST /polls``."""

    def edit(document: dict[str, Any]) -> None:
        document["paths"]["/polls"]["post"]["requestBody"] = polls_body(max_polls)

    extend_openapi(app, edit)
