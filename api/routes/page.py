"""``/``: the operator page (behind the ``metrics`` scope; a browser without a session is
asked for a token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api import page
from api.deps import MonitorDep, StoreDep
from api.errors import ApiError
from api.schemas import errors
from api.security import BearerToken, SessionCookie, check
from api.tokens import METRICS

router = APIRouter(tags=["operations"])


@router.get(
    "/",
    response_class=HTMLResponse,
    responses={
        **errors(403),
        401: {
            "description": "no token or session: a browser gets the sign-in page",
            "content": {"text/html": {"schema": {"type": "string"}}, "application/json": {}},
        },
    },
)
async def operator_page(
    request: Request,
    monitor: MonitorDep,
    store: StoreDep,
    _token: BearerToken,
    _session: SessionCookie,
) -> HTMLResponse:
    """Lag per partition over time, polls/s, dead letters, recent reports."""
    try:
        check(request, METRICS)
    except ApiError as exc:
        if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(page.LOGIN, status_code=401, headers=exc.headers)
        raise
    return HTMLResponse(page.render(monitor, store.recent(limit=20)))
