"""``/``: the operator page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api import page
from api.deps import MonitorDep, StoreDep

router = APIRouter(tags=["operations"])


@router.get("/", response_class=HTMLResponse)
async def operator_page(monitor: MonitorDep, store: StoreDep) -> HTMLResponse:
    """Lag per partition over time, polls/s, dead letters, recent reports."""
    return HTMLResponse(page.render(monitor, store.recent(limit=20)))
