"""Every error at the HTTP edge is JSON with a message a person can act on."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


class SafeJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate or any other odd
    character a client sent, echoed in a message, can never make rendering fail."""

    def render(self, content: Any) -> bytes:
        """The body."""
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with its status code."""

    def __init__(
        self, status_code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def _allowed(request: Request) -> str | None:
    """The methods the published document gives the request's path, e.g. ``GET, POST``."""
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^/}]+\}", template))
        if re.fullmatch(pattern, request.url.path):
            return ", ".join(sorted(method.upper() for method in operations))
    return None


def _problem(error: Any) -> dict[str, str]:
    """Where one validation error is and what it is; a body that is not JSON says why and
    where (FastAPI reports it at ``body.<character offset>`` as a "JSON decode error")."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid")
        at = f", at character {loc[1]}" if len(loc) > 1 else ""
        return {"where": "body", "problem": f"not JSON ({reason}{at})"}
    return {"where": ".".join(str(p) for p in loc), "problem": str(error.get("msg", ""))}


def install(app: FastAPI) -> None:
    """Register the JSON error handlers."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> SafeJSONResponse:
        return SafeJSONResponse(
            {"error": exc.message}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> SafeJSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's own body parsing; every route answers a body that is not JSON alike.
            return SafeJSONResponse({"error": "the body is not JSON"}, status_code=422)
        headers = dict(exc.headers or {})
        allowed = _allowed(request) if exc.status_code == 405 else None
        if allowed:  # every method the path allows, over all its routes (RFC 9110)
            headers["Allow"] = allowed
        return SafeJSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        problems = [_problem(e) for e in exc.errors()]
        text = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        return SafeJSONResponse(
            {"error": f"invalid request: {text}", "details": problems}, status_code=422
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> SafeJSONResponse:
        log.exception("unhandled error")
        return SafeJSONResponse(
            {"error": f"internal error ({type(exc).__name__}); the API's log has the details"},
            status_code=500,
        )
