"""For operators: liveness, readiness, Prometheus metrics, recent reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import MonitorDep, StoreDep
from api.errors import SafeJSONResponse
from api.schemas import AUTH_ERRORS, Alive, Ready, ReportSummary, errors
from api.security import Metrics, ReportRead

router = APIRouter(tags=["operations"])


@router.get("/livez")
async def livez() -> Alive:
    """The process is alive."""
    return Alive(status="alive")


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "not ready, with the reasons"}},
)
async def readyz(request: Request, monitor: MonitorDep) -> SafeJSONResponse:
    """Kafka answers, workers have recovered their tables and own every partition, and the
    API's own tasks run."""
    problems = request.app.state.tasks.problems() + monitor.readiness()
    if problems:
        return SafeJSONResponse({"status": "not ready", "reasons": problems}, status_code=503)
    return SafeJSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(*AUTH_ERRORS),
    },
)
async def metrics(_who: Metrics, request: Request) -> Response:
    """Prometheus text format."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


@router.get("/reports", responses=errors(*AUTH_ERRORS, 422))
async def reports(
    _who: ReportRead,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many")] = 50,
) -> list[ReportSummary]:
    """Recent reports, newest first: status, report time, rows, duration, and where to get it.
    A tenant's token sees the reports of all stores and its own one-store reports, without
    their row counts or the names of other tokens."""
    tenant = _who.tenant
    return [
        ReportSummary.model_validate(
            {
                "report_id": r["report_id"],
                "status": r.get("status"),
                "requested_at": r.get("requested_at"),
                "report_time": r.get("report_time"),
                "as_of": r.get("as_of"),
                "store_id": r.get("store_id"),
                "rows": r.get("rows") if tenant is None else None,
                "duration_s": r.get("duration_s"),
                "scheduled": r.get("scheduled", False),
                "consistent": r.get("consistent", False),
                "month": r.get("month"),
                "partial": r.get("partial") if r.get("month") else None,
                "behind": r.get("behind"),
                "behind_total": r.get("behind_total"),
                "error": r.get("error"),
                "owner": r.get("owner") if tenant is None or r.get("owner") == _who.name else None,
                "url": f"/get_report?report_id={r['report_id']}",
            }
        )
        for r in store.recent(limit=limit)
        if tenant is None or r.get("store_id") is None or tenant.covers(r["store_id"])
    ]
