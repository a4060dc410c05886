"""What every request body must be, checked before any route sees it: JSON (415
otherwise, so that a cross-site form post cannot write anything), and no larger than
``max_body_bytes`` (413, from ``Content-Length`` or while a chunked body streams in)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLargeError(Exception):
    pass


class BodyLimits:
    """The ASGI middleware."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        has_body = chunked or (length is not None and length.strip() not in ("", "0"))
        if has_body and not _is_json(headers.get("content-type", "")):
            await _refuse(
                send, 415,
                f"the body must be JSON (Content-Type: application/json), not "
                f"{headers.get('content-type', 'untyped')[:100]!r}",
            )  # fmt: skip
            return
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await _refuse(
                send,
                413,
                f"the body is {int(length):,} bytes; at most {self.max_bytes:,} are accepted",
            )
            return
        seen = 0
        started = False

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLargeError
            return message

        async def noting(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting, noting)
        except _TooLargeError:
            if not started:
                await _refuse(
                    send, 413,
                    f"the body is larger than {self.max_bytes:,} bytes: send fewer polls a request",
                )  # fmt: skip
