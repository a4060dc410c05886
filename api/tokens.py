"""The API's tokens: names, scopes and SHA-256 hashes in one JSON file, never the tokens.

``storemon token create`` makes a token (printed once), ``list`` and ``revoke`` manage
them; the API reads the file again whenever it changes (it looks at most once a second).
A token is 32 random bytes, so a fast hash is safe to keep: nothing about a token can be
guessed from its hash, and no dictionary holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

INGEST, REPORT, METRICS, ADMIN = "ingest", "report", "metrics", "admin"
SCOPES = (INGEST, REPORT, METRICS, ADMIN)
"""``ingest``: write polls, hours and zones; ``report``: take, read and list reports and
the per-store views; ``metrics``: ``/metrics`` and the operator page; ``admin``: all."""
PREFIX = "smt_"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class TokenError(ValueError):
    """A token command or file that cannot be used; the message says why."""


class Principal(NamedTuple):
    """Who a request comes from, and what it may do."""

    name: str
    """The token's name (``anonymous`` when the API runs without tokens)."""
    scopes: frozenset[str]
    """Its scopes."""

    def allows(self, scope: str) -> bool:
        """Whether the principal has ``scope`` (``admin`` has them all)."""
        return scope in self.scopes or ADMIN in self.scopes


ANONYMOUS = Principal("anonymous", frozenset({ADMIN}))
"""Everyone, when the API runs without an auth file (it then listens on loopback only)."""


class Entry(NamedTuple):
    """One token as the file keeps it."""

    name: str
    """Unique, chosen by whoever made it."""
    sha256: str
    """The hash of the token, hex."""
    scopes: tuple[str, ...]
    """What it may do."""
    created_at: str
    """When it was made, ISO 8601."""


def digest(token: str) -> str:
    """The hash a token is kept as."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """Scopes from ``"ingest,report"`` (or a list), checked and sorted."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = sorted({s.strip() for s in items if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise TokenError(
            f"unknown scopes {unknown}: choose from {', '.join(SCOPES)}"
            if unknown
            else f"no scope given: choose from {', '.join(SCOPES)}"
        )
    return tuple(scopes)


def read(path: Path) -> list[Entry]:
    """The tokens in the file (none when it does not exist)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise TokenError(f"{path}: not a token file ({exc})") from None
    try:
        return [
            Entry(e["name"], e["sha256"], parse_scopes(e["scopes"]), e.get("created_at", ""))
            for e in data["tokens"]
        ]
    except (KeyError, TypeError) as exc:
        raise TokenError(f"{path}: a token entry lacks {exc}") from None


def write(path: Path, entries: Iterable[Entry]) -> None:
    """Replace the file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"version": 1, "tokens": [e._asdict() for e in entries]}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out, indent=1)
    tmp.replace(path)


def create(path: Path, name: str, scopes: str | Iterable[str]) -> str:
    """Make a token named ``name``; returns the token, which is kept nowhere."""
    if not _NAME.match(name):
        raise TokenError(f"token name {name!r}: use 1–64 of A–Z a–z 0–9 . _ -")
    entries = read(path)
    if any(e.name == name for e in entries):
        raise TokenError(f"a token named {name!r} exists: revoke it first, or pick another name")
    token = PREFIX + secrets.token_urlsafe(32)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write(path, [*entries, Entry(name, digest(token), parse_scopes(scopes), stamp)])
    return token


def revoke(path: Path, name: str) -> None:
    """Remove the token named ``name``."""
    entries = read(path)
    if not any(e.name == name for e in entries):
        raise TokenError(f"no token named {name!r} in {path}")
    write(path, [e for e in entries if e.name != name])


class Tokens:
    """The tokens of a file as the API sees them, read again whenever the file changes."""

    def __init__(self, path: Path, every_s: float = 1.0) -> None:
        self.path = path
        self.every_s = every_s
        self._by_hash: dict[str, Principal] = {}
        self._seen: tuple[int, int, int] | None = None
        self._checked = float("-inf")
        self.error: str | None = None
        """Why the file could not be read the last time (its old tokens stay in force)."""
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.every_s:
            return
        self._checked = now
        try:
            st = self.path.stat()
            seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen == self._seen:
            return
        try:
            entries = read(self.path)
        except TokenError as exc:
            self.error = str(exc)
            return
        self._by_hash = {e.sha256: Principal(e.name, frozenset(e.scopes)) for e in entries}
        self._seen, self.error = seen, None

    def find(self, token: str) -> Principal | None:
        """The principal of ``token``, or None when no such token exists (now)."""
        self._refresh()
        return self._by_hash.get(digest(token))

    def holder(self, sha256: str) -> Principal | None:
        """The principal of a token known by its hash (a session's), if it still exists."""
        self._refresh()
        return self._by_hash.get(sha256)
