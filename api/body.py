"""Reading a JSON request body without ever holding more than the limit."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from api.errors import ApiError


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON; 413 as soon as it is known to be larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is {int(declared):,} bytes; at most {limit:,} are accepted")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, f"the body is larger than {limit:,} bytes: send fewer polls a request"
            )
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(422, f"the body is not JSON: {exc}") from None
