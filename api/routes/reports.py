"""``/trigger_report`` and ``/get_report`` (docs/semantics.md §5), and the compatible forms
the second seed's clients call: ``GET /store/{store_id}/trigger_report/`` (a one-store report) and
``POST /store/get_report/`` (the id in a JSON body), each with or without the trailing
slash. Every form runs the same function as the route it equals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from api.coordinator import KafkaUnavailableError, PartitionsSilentError
from api.deps import CoordinatorDep, StoreDep, StoreIdDep
from api.errors import ApiError, SafeJSONResponse
from api.reportfiles import only_rows
from api.reportstore import COMPLETE, FAILED, ReportStore
from api.schemas import AUTH_ERRORS, ReportIdIn, ReportState, Triggered, errors
from api.security import Report, ReportRead, visible
from api.tokens import Principal
from streams.core.exceptions import AsOfError, RowError, TimestampError, quote
from streams.core.history import month_span
from streams.core.rows import STORE_ID_TEXT_PATTERN, parse_store_id
from streams.core.timestamps import TIMESTAMP_PATTERN, parse_timestamp

router = APIRouter(tags=["reports"])


AsOf = Annotated[
    str | None,
    Query(
        description="report time, ISO 8601 (default: the newest poll ingested); the pipeline "
        "answers from 7 days before the newest poll to now plus the allowed clock skew",
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    ),
]
StoreId = Annotated[
    str | None,
    Query(
        description="report only this store", json_schema_extra={"pattern": STORE_ID_TEXT_PATTERN}
    ),
]
Consistent = Annotated[
    bool,
    Query(
        description="wait until every partition has processed everything written before "
        "this request (read-your-writes: every poll acknowledged before it is in the report); "
        "the report fails after STOREMON_REPORT_TIMEOUT_S naming the partitions behind"
    ),
]
MonthText = Annotated[
    str | None,
    Query(
        description="the monthly report of this month instead (YYYY-MM): one row per store "
        "over that calendar month in its local time, up to the report time "
        "(docs/semantics.md §8.3); `X-Report-Partial` says whether the month is partial",
        json_schema_extra={"pattern": "^[0-9]{4}-[0-9]{2}$"},
    ),
]
TRIGGER_ERRORS = errors(*AUTH_ERRORS, 422, 503)


async def _trigger(
    who: Principal,
    coordinator: CoordinatorDep,
    as_of: str | None,
    store_id: str | None,
    consistent: bool = False,
    month: str | None = None,
) -> Triggered:
    as_of_us = None
    if month is not None:
        try:
            month_span(month)  # refused here, before anything is asked
        except ValueError as exc:
            raise ApiError(422, f"month: {exc}") from None
    try:
        if as_of is not None:
            as_of_us = parse_timestamp(as_of)
        sid = parse_store_id(store_id) if store_id is not None else None
        if sid is not None:
            visible(who, sid)
        record = await coordinator.trigger(as_of_us, sid, consistent=consistent, month=month)
    except TimestampError as exc:
        raise ApiError(422, f"as_of: {exc}") from None
    except (RowError, AsOfError) as exc:
        raise ApiError(422, str(exc)) from None
    except PartitionsSilentError as exc:
        raise ApiError(503, f"cannot check as_of now: {exc}") from None
    except (KafkaUnavailableError, TimeoutError) as exc:  # no answer from Kafka in time
        raise ApiError(503, str(exc) or "Kafka did not answer in time; try again") from None
    return Triggered(report_id=record["report_id"])


@router.get("/trigger_report", responses=TRIGGER_ERRORS)
async def trigger_report_get(
    _who: Report,
    coordinator: CoordinatorDep,
    as_of: AsOf = None,
    store_id: StoreId = None,
    consistent: Consistent = False,
    month: MonthText = None,
) -> Triggered:
    """Start a report (or, with ``month``, a monthly report); it runs asynchronously."""
    return await _trigger(_who, coordinator, as_of, store_id, consistent, month)


@router.post("/trigger_report", responses=TRIGGER_ERRORS)
async def trigger_report_post(
    _who: Report,
    coordinator: CoordinatorDep,
    as_of: AsOf = None,
    store_id: StoreId = None,
    consistent: Consistent = False,
    month: MonthText = None,
) -> Triggered:
    """Start a report (or, with ``month``, a monthly report); it runs asynchronously."""
    return await _trigger(_who, coordinator, as_of, store_id, consistent, month)


def _compatible(route: str) -> dict[str, Any]:
    """How a compatible form is published: tagged, and saying whose clients it serves and
    which route it equals (it is no deprecated route: both seeds' clients are served)."""
    return {
        "tags": ["compatible"],
        "summary": f"Compatible form of {route}",
        "description": f"For the second seed's clients; the same as `{route}` (the first "
        "seed's form), with the same scope, validation and answers. With or without the "
        "trailing slash, never redirected.",
        "deprecated": False,
    }


@router.get(
    "/store/{store_id}/trigger_report/",
    responses=TRIGGER_ERRORS,
    **_compatible("GET /trigger_report?store_id=…"),
)
@router.get(
    "/store/{store_id}/trigger_report",
    responses=TRIGGER_ERRORS,
    **_compatible("GET /trigger_report?store_id=…"),
)
async def trigger_store_report(
    _who: Report, coordinator: CoordinatorDep, store_id: StoreIdDep
) -> Triggered:
    """Start a report of one store; it runs asynchronously."""
    return await _trigger(_who, coordinator, None, store_id)


REPORT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": '`{"status": "Running"}`, `{"status": "Failed", "error": …}`, '
        "or the CSV with `X-Report-Status: Complete`",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": ReportState.model_json_schema()},
        },
        "headers": {
            "X-Report-Status": {
                "description": "Complete, when the body is the CSV",
                "schema": {"type": "string"},
            },
            "X-Report-Time": {
                "description": "the report time N, ISO 8601",
                "schema": {"type": "string"},
            },
            "X-Report-Partial": {
                "description": "a monthly report only: `true` when the month is partial (not "
                "over at the report time in some store's zone, or reaching back past the "
                "history kept), else `false`",
                "schema": {"type": "string", "enum": ["true", "false"]},
            },
            "X-Report-Behind": {
                "description": "messages written before the trigger that the answering "
                "partitions had not processed (0: nothing behind)",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            },
        },
    },
}
"""What asking for a report answers, whichever form asks."""


async def _report(who: Principal, store: ReportStore, report_id: str) -> Response:
    """The report's status, or its CSV once complete (streamed from the file store, never
    read whole; a tenant's token gets its stores' rows only); 404 when there is no such
    report."""
    record: dict[str, Any] | None = await store.find(report_id)
    if record is None:
        raise ApiError(404, f"no report with id {quote(report_id)}: ids come from /trigger_report")
    if record["status"] == COMPLETE:
        headers = {"X-Report-Status": COMPLETE}
        if record.get("report_time"):
            headers["X-Report-Time"] = record["report_time"]
        headers["X-Report-Behind"] = str(record.get("behind_total", 0))
        if record.get("month"):
            headers["X-Report-Partial"] = "true" if record.get("partial") else "false"
        body = store.files.read(report_id)
        if who.tenant is not None:
            body = only_rows(body, who.tenant.covers)
        return StreamingResponse(body, media_type="text/csv", headers=headers)
    currency = {k: record[k] for k in ("behind", "behind_total") if k in record}
    if record["status"] == FAILED:
        error = record.get("error", "unknown error")
        return SafeJSONResponse({"status": FAILED, "error": error, **currency})
    return SafeJSONResponse({"status": record["status"], **currency})


@router.get(
    "/get_report",
    responses={**REPORT_ANSWERS, **errors(*AUTH_ERRORS, 404, 422)},
    response_class=Response,
)
async def get_report(
    _who: ReportRead,
    store: StoreDep,
    report_id: Annotated[str, Query(description="from /trigger_report")],
) -> Response:
    """The report's status, or its CSV once complete."""
    return await _report(_who, store, report_id)


@router.post(
    "/store/get_report/",
    responses={**REPORT_ANSWERS, **errors(*AUTH_ERRORS, 404, 413, 415, 422)},
    response_class=Response,
    **_compatible("GET /get_report?report_id=…"),
)
@router.post(
    "/store/get_report",
    responses={**REPORT_ANSWERS, **errors(*AUTH_ERRORS, 404, 413, 415, 422)},
    response_class=Response,
    **_compatible("GET /get_report?report_id=…"),
)
async def post_store_get_report(_who: Report, store: StoreDep, body: ReportIdIn) -> Response:
    """The report's status, or its CSV once complete (a POST: a bearer token, no session)."""
    return await _report(_who, store, body.report_id)
