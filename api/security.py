"""Who may do what: bearer tokens with scopes, page sessions, the ingestion rate, and the
rule that an API without tokens listens on loopback only.

Every route but ``/livez``, ``/readyz`` and the documentation names its scope with one of
the dependencies below. A session cookie (``POST /session``, for the operator page) is
honoured on GET requests only, so no cross-site request can change anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.ratelimit import Buckets, retry_after
from api.tokens import ANONYMOUS, INGEST, METRICS, REPORT, Principal, Tokens
from streams.settings import Settings

COOKIE = "storemon_session"
MAX_SESSIONS = 10_000
_bearer = HTTPBearer(auto_error=False, description="a token from `storemon token create`")
_cookie = APIKeyCookie(
    name=COOKIE, auto_error=False, description="a page session (POST /session), GET only"
)


class BindError(ValueError):
    """The API was asked to listen where it must not."""


def check_bind(host: str, auth_file: Path | None) -> None:
    """Refuse a non-loopback interface when the API has no tokens (everything is open then)."""
    if auth_file is not None:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BindError(
            f"refusing to listen on {host} without tokens: every route would be open to "
            "anyone who reaches it. Set STOREMON_AUTH_FILE to a token file (make one with "
            "`storemon token create --name NAME --scopes admin`), or listen on 127.0.0.1"
        )


class Sessions:
    """Page sessions, signed so that any API instance with the same key verifies them: the
    cookie holds the token's hash and the expiry, with an HMAC-SHA256 of both
    (``STOREMON_SESSION_KEY``). Nothing is kept per session, so there is nothing to share
    between instances and nothing to bound; a revoked token ends its sessions, since the
    hash must still name a token of the token file. Signing out clears the cookie; a copy
    of it stays valid until it expires unless its token is revoked (or the key changed)."""

    def __init__(
        self, ttl_s: float, key: bytes | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._key = key if key else secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def open(self, token_sha256: str) -> str:
        """A new session of the token; returns the cookie's value."""
        payload = f"{token_sha256}.{int(self.clock() + self.ttl_s)}"
        return f"{payload}.{self._sign(payload)}"

    def token_of(self, session: str) -> str | None:
        """The hash of the session's token, or None when it is forged or has expired."""
        payload, _, mac = session.rpartition(".")
        sha, _, expiry = payload.partition(".")
        if not (sha and expiry.isdigit()) or not hmac.compare_digest(mac, self._sign(payload)):
            return None
        if int(expiry) < self.clock():
            return None
        return sha


class Access:
    """The API's access control, from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.tokens = Tokens(settings.auth_file) if settings.auth_file is not None else None
        key = settings.session_key.get_secret_value().encode() if settings.session_key else None
        self.sessions = Sessions(settings.session_ttl_s, key)
        self.buckets = Buckets(settings.ingest_rate_per_s, settings.ingest_burst)

    def principal(self, request: Request) -> Principal:
        """Who sent the request; 401 when nobody known did."""
        if self.tokens is None:
            return ANONYMOUS
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _unauthorized("the Authorization header must be `Bearer <token>`")
            found = self.tokens.find(token.strip())
            if found is None:
                raise _unauthorized("unknown token: it was revoked, or never made here")
            return found
        session = request.cookies.get(COOKIE)
        if session is not None and request.method in ("GET", "HEAD"):
            sha = self.sessions.token_of(session)
            found = self.tokens.holder(sha) if sha is not None else None
            if found is None:
                raise _unauthorized("the session has ended: sign in again")
            return found
        raise _unauthorized(
            "no token: send `Authorization: Bearer <token>` (`storemon token create` makes one)"
        )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="storemon"'})


def access_of(request: Request) -> Access:
    """The app's access control."""
    access: Access = request.app.state.access
    return access


def check(request: Request, scope: str, *, limited: bool = False) -> Principal:
    """The request's principal, who must have ``scope``; with ``limited``, counted against
    its ingestion rate. 401, 403 or 429 otherwise."""
    access = access_of(request)
    found = access.principal(request)
    if not found.allows(scope):
        raise ApiError(
            403,
            f"the token {found.name!r} lacks the {scope!r} scope this route needs: use a "
            f"token made with `storemon token create --scopes {scope}`",
        )
    if limited:
        wait = access.buckets.take(found.name)
        if wait:
            raise ApiError(
                429,
                f"the token {found.name!r} sends more than {access.buckets.rate:g} ingestion "
                "requests a second: wait, or send more polls a request",
                headers={"Retry-After": retry_after(wait)},
            )
    return found


BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
"""Publishes the bearer scheme on a route (the check itself is :func:`check`)."""
SessionCookie = Annotated[str | None, Security(_cookie)]
"""Publishes the session cookie as an alternative (GET routes)."""


def require(
    scope: str, *, limited: bool = False, cookie: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """A dependency that :func:`check` s the request for ``scope``; ``cookie`` publishes
    the session as an alternative to the bearer token (GET routes)."""

    async def principal(request: Request, _token: BearerToken) -> Principal:
        return check(request, scope, limited=limited)

    async def principal_or_session(
        request: Request, _token: BearerToken, _session: SessionCookie
    ) -> Principal:
        return check(request, scope, limited=limited)

    return principal_or_session if cookie else principal


Ingest = Annotated[Principal, Depends(require(INGEST, limited=True))]
"""Writes polls, hours or zones (rate-limited per token)."""
Report = Annotated[Principal, Depends(require(REPORT))]
"""Takes a report."""
ReportRead = Annotated[Principal, Depends(require(REPORT, cookie=True))]
"""Reads reports and store views (a page session will do)."""
Metrics = Annotated[Principal, Depends(require(METRICS, cookie=True))]
"""Reads metrics and the operator page (a page session will do)."""


def no_store(store_id: str) -> ApiError:
    """The answer about a store the pipeline holds no polls of, or that the caller's tenant
    does not include: the same, so that a tenant's token never learns whether another's
    store exists."""
    return ApiError(404, f"store {store_id!r} has no polls in the pipeline")


def visible(who: Principal, store_id: str) -> None:
    """404 (as :func:`no_store`) unless ``who`` may read ``store_id``."""
    if not who.sees(store_id):
        raise no_store(store_id)


def writable(who: Principal, store_ids: Iterable[str]) -> None:
    """403 naming the stores outside ``who``'s tenant, if any: a write is refused whole."""
    if who.tenant is None:
        return
    outside = who.tenant.outside(store_ids)
    if outside:
        shown = ", ".join(repr(s) for s in outside[:20])
        more = f" and {len(outside) - 20:,} more" if len(outside) > 20 else ""
        raise ApiError(
            403,
            f"the token {who.name!r} is bound to tenant {who.tenant.name!r}, whose stores do "
            f"not include {shown}{more}: nothing was written",
        )
