"""Reading a JSON request body."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from api.errors import ApiError


async def read_json(request: Request) -> Any:
    """The body as JSON (its size and type were checked by ``api/limits.BodyLimits``); any
    body that is not usable JSON is a 422 with the reason."""
    return parse_json(await request.body())


def parse_json(data: bytes) -> Any:
    """JSON from bytes; 422 when it is not JSON, is nested too deeply or holds a number
    too long to read."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(422, f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise ApiError(422, "the body is JSON nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ApiError(422, f"the body is not usable JSON: {str(exc)[:200]}") from None
