"""One store's views: its incidents (JSON), its page and its picture (SVG), from its
retained polls and profile, which its partition's owner sends (the same core as the
report and ``storemon incidents`` derives the rest)."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api import storepage
from api.coordinator import KafkaUnavailableError, PartitionsSilentError
from api.deps import CoordinatorDep, StoreIdDep
from api.errors import ApiError
from api.schemas import AUTH_ERRORS, DayOut, IncidentOut, IncidentsOut, errors
from api.security import ReportRead, no_store, visible
from api.tokens import Principal
from streams.core.daystore import history_days
from streams.core.exceptions import TimestampError
from streams.core.history import HISTORY_DAYS, Day, parse_date, render_history_csv, zone_of
from streams.core.incidents import store_incidents, timeline_for
from streams.core.payloads import decode_profile
from streams.core.pollkeys import Keys
from streams.core.schedule import Profile
from streams.core.timeline import Timeline
from streams.core.timestamps import (
    EARLIEST_US,
    TIMESTAMP_PATTERN,
    US_PER_DAY,
    format_timestamp,
    parse_timestamp,
)
from streams.core.zones import local_ordinal

router = APIRouter(tags=["stores"])
MAX_SPAN_US = 31 * US_PER_DAY
"""The longest span one incidents request covers."""
VIEW_ERRORS = errors(*AUTH_ERRORS, 404, 422, 503)

When = Annotated[
    str | None,
    Query(description="ISO 8601", json_schema_extra={"pattern": TIMESTAMP_PATTERN}),
]


class _View(NamedTuple):
    keys: Keys
    profile: Profile
    n_us: int
    days: list[Day]
    """Final days stored after their polls (docs/semantics.md §8.2)."""
    mark: int | None
    """The last of them; the polls shape every day after it whole."""


async def _view(who: Principal, coordinator: CoordinatorDep, store_id: str) -> _View:
    """The store's polls, profile, report time and stored days; 404 when it has no poll,
    or when it is not one of the caller's tenant's stores."""
    visible(who, store_id)
    try:
        part, newest = await coordinator.store_view(store_id)
    except PartitionsSilentError as exc:
        raise ApiError(503, str(exc)) from None
    except KafkaUnavailableError as exc:
        raise ApiError(503, str(exc)) from None
    if part.keys is None or newest is None:
        raise no_store(store_id)
    profile = decode_profile(part.profile.encode() if part.profile else None)
    days = [Day(o, business, active, True) for o, business, active in part.days or []]
    return _View(np.array(part.keys, dtype=np.int64), profile, newest, days, part.days_mark)


async def _store(
    who: Principal, coordinator: CoordinatorDep, store_id: str
) -> tuple[Keys, Profile, int]:
    """The store's polls, profile and the report time (:func:`_view`)."""
    view = await _view(who, coordinator, store_id)
    return view.keys, view.profile, view.n_us


def _instant(name: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return parse_timestamp(text)
    except TimestampError as exc:
        raise ApiError(422, f"{name}: {exc}") from None


@router.get("/stores/{store_id}/incidents", responses=VIEW_ERRORS)
async def get_incidents(
    _who: ReportRead,
    store_id: StoreIdDep,
    coordinator: CoordinatorDep,
    start: Annotated[When, Query(alias="from")] = None,
    end: Annotated[When, Query(alias="to")] = None,
) -> IncidentsOut:
    """The store's incidents overlapping ``[from, to)`` (default: the 7 days before the
    report time), each with its business downtime inside that span; ``end`` is null while
    an incident is open. Summed, they equal the report's downtime of the same span."""
    keys, profile, n_us = await _store(_who, coordinator, store_id)
    hi = min(_instant("to", end, n_us), n_us)
    lo = _instant("from", start, hi - storepage.WINDOW_US)
    if not EARLIEST_US <= lo < hi:
        raise ApiError(
            422,
            f"from ({format_timestamp(lo)}) must come before to ({format_timestamp(hi)}, no "
            "later than the report time), and after 2000-01-01",
        )
    if hi - lo > MAX_SPAN_US:
        raise ApiError(422, "from and to may be at most 31 days apart: ask for less at a time")
    found = store_incidents(keys, profile, n_us, lo, hi)
    return IncidentsOut(
        store_id=store_id,
        from_=format_timestamp(lo),
        to=format_timestamp(hi),
        incidents=[IncidentOut(**i._asdict()) for i in found],
    )


class HistoryOut(BaseModel):
    """A store's days (docs/semantics.md §8) from ``from`` to ``to``, local dates."""

    model_config = ConfigDict(populate_by_name=True)

    store_id: str
    from_: str | None = Field(alias="from", description="the first date asked for, if any")
    to: str | None = Field(description="the last date asked for, if any")
    days: list[DayOut]


DateText = Annotated[
    str | None,
    Query(description="a local date, YYYY-MM-DD", json_schema_extra={"format": "date"}),
]


def _date(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise ApiError(422, f"{name}: {exc}") from None


@router.get(
    "/stores/{store_id}/history",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **VIEW_ERRORS},
)
async def get_history(
    _who: ReportRead,
    store_id: StoreIdDep,
    coordinator: CoordinatorDep,
    request: Request,
    start: Annotated[DateText, Query(alias="from")] = None,
    end: Annotated[DateText, Query(alias="to")] = None,
) -> Any:
    """The store's daily business, up and down time in its zone, from ``from`` to ``to``
    (both included; default: every day the pipeline holds polls for), each day up to the
    report time; JSON, or CSV with ``Accept: text/csv``. The same rows as ``storemon
    history`` gives offline for those days."""
    view = await _view(_who, coordinator, store_id)
    first, last = _date("from", start), _date("to", end)
    if first is not None and last is not None:
        if last < first:
            raise ApiError(422, f"to ({end}) must not come before from ({start})")
        if last - first >= HISTORY_DAYS:
            raise ApiError(422, f"from and to may be at most {HISTORY_DAYS} days apart")
    days = history_days(view.keys, view.profile, view.n_us, view.days, view.mark, first, last)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(render_history_csv(days), media_type="text/csv")
    return HistoryOut(
        store_id=store_id, from_=start, to=end, days=[DayOut(**d.to_json()) for d in days]
    )


def _picture(keys: Keys, profile: Profile, n_us: int) -> Timeline:
    return timeline_for(keys, profile, storepage.first_day_us(n_us, profile.zone), n_us)


@router.get(
    "/stores/{store_id}.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
        **VIEW_ERRORS,
    },
)
async def get_store_picture(
    _who: ReportRead, store_id: StoreIdDep, coordinator: CoordinatorDep
) -> Response:
    """The store's last 7 local days as strips: business hours shaded, up and down."""
    keys, profile, n_us = await _store(_who, coordinator, store_id)
    timeline = _picture(keys, profile, n_us)
    return Response(
        storepage.svg(store_id, timeline, n_us, profile.zone), media_type="image/svg+xml"
    )


@router.get("/stores/{store_id}", response_class=HTMLResponse, responses=VIEW_ERRORS)
async def get_store_page(
    _who: ReportRead, store_id: StoreIdDep, coordinator: CoordinatorDep
) -> HTMLResponse:
    """The store's page: its picture and its incidents of the last 7 days, and its history
    strip of the last 90 days with its uptime over 7, 30 and 90 days."""
    view = await _view(_who, coordinator, store_id)
    keys, profile, n_us = view.keys, view.profile, view.n_us
    timeline = _picture(keys, profile, n_us)
    found = store_incidents(keys, profile, n_us, n_us - storepage.WINDOW_US, n_us)
    today = local_ordinal(zone_of(profile), n_us - 1)
    first = today - storepage.STRIP_DAYS + 1
    days = history_days(keys, profile, n_us, view.days, view.mark, first, today)
    strip = storepage.history_strip(days, today)
    return HTMLResponse(storepage.page(store_id, timeline, n_us, profile.zone, found, strip))
