"""Reading a JSON request body."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.errors import ApiError
from streams.core.exceptions import PayloadError
from streams.core.payloads import load_json


async def read_json(request: Request) -> Any:
    """The body as JSON (its size and type were checked by ``api/limits.BodyLimits``); any
    body that is not usable JSON is a 422 with the reason."""
    return parse_json(await request.body())


def parse_json(data: bytes) -> Any:
    """JSON from bytes, read as every topic message is (``load_json``); 422 with the
    reason when it is not usable JSON."""
    try:
        return load_json(data)
    except PayloadError as exc:
        raise ApiError(422, f"the body is {exc}") from None
