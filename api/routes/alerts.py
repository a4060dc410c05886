"""``GET /alerts``: the newest alerts (CloudEvents), newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.alerts import AlertFeed
from api.errors import ApiError
from api.schemas import AUTH_ERRORS, errors
from api.security import ReportRead, visible
from streams.core.exceptions import RowError
from streams.core.rows import STORE_ID_TEXT_PATTERN, parse_store_id

router = APIRouter(tags=["stores"])


@router.get("/alerts", responses=errors(*AUTH_ERRORS, 422))
async def get_alerts(
    _who: ReportRead,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 100,
    store_id: Annotated[
        str | None,
        Query(
            description="only this store's", json_schema_extra={"pattern": STORE_ID_TEXT_PATTERN}
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Recent alerts as the topic carries them (CloudEvents 1.0): down, up and silent; a
    tenant's token gets its stores' only (another store's is 404)."""
    feed: AlertFeed = request.app.state.alerts
    try:
        sid = parse_store_id(store_id) if store_id is not None else None
    except RowError as exc:
        raise ApiError(422, str(exc)) from None
    if sid is not None:
        visible(_who, sid)
    return feed.latest(limit, sid, _who.sees)
