"""``/session``: a token traded for a page session (an HttpOnly, SameSite=Strict cookie),
so that the operator page asks for the token once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from api.errors import ApiError
from api.schemas import SessionOut, errors
from api.security import COOKIE, access_of
from api.tokens import digest

router = APIRouter(tags=["access"])


@router.post(
    "/session",
    responses=errors(401, 413, 415, 422),
)
async def open_session(
    request: Request,
    response: Response,
    token: Annotated[str, Body(embed=True, max_length=512, description="a token to sign in with")],
) -> SessionOut:
    """Sign in: the token's session, in a cookie GET requests then carry (the page's)."""
    access = access_of(request)
    if access.tokens is None:
        return SessionOut(name="anonymous", scopes=["admin"], expires_in_s=None)
    found = access.tokens.find(token.strip())
    if found is None:
        raise ApiError(401, "unknown token: it was revoked, or never made here")
    session = access.sessions.open(digest(token.strip()))
    response.set_cookie(
        COOKIE, session, max_age=int(access.sessions.ttl_s), httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return SessionOut(
        name=found.name, scopes=sorted(found.scopes), expires_in_s=access.sessions.ttl_s
    )


@router.delete("/session", status_code=204, response_class=Response)
async def close_session(request: Request) -> Response:
    """Sign out: the session's cookie is cleared (signed sessions are kept nowhere else)."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
