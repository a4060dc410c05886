"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request

from api.coordinator import Coordinator
from api.errors import ApiError
from api.monitor import Monitor
from api.reportstore import ReportStore
from streams.core.exceptions import RowError, quote
from streams.core.rows import STORE_ID_PATTERN, parse_store_id


async def get_coordinator(request: Request) -> Coordinator:
    """The app's coordinator (set up by the lifespan)."""
    coordinator: Coordinator = request.app.state.coordinator
    return coordinator


async def get_store(request: Request) -> ReportStore:
    """The app's report store."""
    store: ReportStore = request.app.state.store
    return store


async def get_monitor(request: Request) -> Monitor:
    """The app's monitor."""
    monitor: Monitor = request.app.state.monitor
    return monitor


MonitorDep = Annotated[Monitor, Depends(get_monitor)]
CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]
StoreDep = Annotated[ReportStore, Depends(get_store)]
_EXACT = re.compile(STORE_ID_PATTERN)


async def get_store_id(
    store_id: Annotated[
        str,
        Path(
            description="the store id, exactly: 1–128 of A–Z a–z 0–9 . _ : -, nothing around it",
            json_schema_extra={"pattern": STORE_ID_PATTERN},
        ),
    ],
) -> str:
    """The path's store id, checked by the rule every entrance uses (docs/semantics.md
    §1), and, as the published pattern says, exactly as written: a path segment has no
    spaces to strip (a U+0085 or a tab around an id is refused, not read as the id)."""
    try:
        parsed = parse_store_id(store_id)
    except RowError as exc:
        raise ApiError(422, str(exc)) from None
    if _EXACT.fullmatch(store_id) is None:
        raise ApiError(
            422,
            f"store_id {quote(store_id)} in the path has spaces around it: a path names the "
            f"store exactly, e.g. {quote(parsed)}",
        )
    return parsed


StoreIdDep = Annotated[str, Depends(get_store_id)]
