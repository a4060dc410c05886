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

from streams.core.exceptions import RowError
from streams.core.rows import STORE_ID_PATTERN, parse_store_id

INGEST, REPORT, METRICS, ADMIN = "ingest", "report", "metrics", "admin"
SCOPES = (INGEST, REPORT, METRICS, ADMIN)
"""``ingest``: write polls, hours and zones; ``report``: take, read and list reports and
the per-store views; ``metrics``: ``/metrics`` and the operator page; ``admin``: all."""
PREFIX = "smt_"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PREFIX = re.compile(STORE_ID_PATTERN)


class TokenError(ValueError):
    """A token command or file that cannot be used; the message says why."""


class Tenant(NamedTuple):
    """A named set of stores (ids, and id prefixes) that a token is bound to: it reads and
    writes those stores only."""

    name: str
    """The tenant's name (an owner, a business)."""
    stores: frozenset[str]
    """Store ids, exactly."""
    prefixes: tuple[str, ...] = ()
    """Id prefixes: every store whose id begins with one."""

    def covers(self, store_id: str) -> bool:
        """Whether ``store_id`` is one of the tenant's stores."""
        return store_id in self.stores or store_id.startswith(self.prefixes)

    def outside(self, store_ids: Iterable[str]) -> list[str]:
        """Those of ``store_ids`` that are not the tenant's, sorted, each once."""
        return sorted({s for s in store_ids if not self.covers(s)})

    def to_json(self) -> dict[str, object]:
        """As the token file keeps it."""
        return {"name": self.name, "stores": sorted(self.stores), "prefixes": list(self.prefixes)}


def tenant_of(data: object) -> Tenant | None:
    """A tenant from the token file's form (None for an unbound token)."""
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise TokenError("a tenant must be an object with a name")
    stores, prefixes = data.get("stores", []), data.get("prefixes", [])
    if not all(isinstance(s, str) for s in [*stores, *prefixes]):
        raise TokenError(f"tenant {data['name']!r}: stores and prefixes must be strings")
    if not stores and not prefixes:
        raise TokenError(f"tenant {data['name']!r} has no stores and no prefixes")
    return Tenant(data["name"], frozenset(stores), tuple(prefixes))


def read_stores(path: Path) -> frozenset[str]:
    """A tenant's store ids from a file: one a line (or the first column of a CSV whose
    header is ``store_id``); blank lines and lines beginning with ``#`` are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"{path}: cannot read the store ids ({exc})") from None
    found: set[str] = set()
    for number, line in enumerate(lines, 1):
        text = line.split(",", 1)[0].strip()
        if not text or text.startswith("#") or (number == 1 and text == "store_id"):
            continue
        try:
            found.add(parse_store_id(text))
        except RowError as exc:
            raise TokenError(f"{path}:{number}: {exc}") from None
    if not found:
        raise TokenError(f"{path}: no store ids in it")
    return frozenset(found)


def check_prefix(prefix: str) -> str:
    """A store id prefix: what an id may begin with."""
    if not _PREFIX.match(prefix):
        raise TokenError(f"store prefix {prefix!r}: use 1–128 of A–Z a–z 0–9 . _ : -")
    return prefix


class Principal(NamedTuple):
    """Who a request comes from, and what it may do."""

    name: str
    """The token's name (``anonymous`` when the API runs without tokens)."""
    scopes: frozenset[str]
    """Its scopes."""
    tenant: Tenant | None = None
    """The stores it is bound to; None: every store."""

    def allows(self, scope: str) -> bool:
        """Whether the principal has ``scope`` (``admin`` has them all)."""
        return scope in self.scopes or ADMIN in self.scopes

    def sees(self, store_id: str) -> bool:
        """Whether the principal may read or write ``store_id``."""
        return self.tenant is None or self.tenant.covers(store_id)


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
    tenant: Tenant | None = None
    """The stores it is bound to; None: every store."""


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
            Entry(
                e["name"],
                e["sha256"],
                parse_scopes(e["scopes"]),
                e.get("created_at", ""),
                tenant_of(e.get("tenant")),
            )
            for e in data["tokens"]
        ]
    except (KeyError, TypeError) as exc:
        raise TokenError(f"{path}: a token entry lacks {exc}") from None


def write(path: Path, entries: Iterable[Entry]) -> None:
    """Replace the file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "version": 1,
        "tokens": [
            {**e._asdict(), "tenant": None if e.tenant is None else e.tenant.to_json()}
            for e in entries
        ],
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out, indent=1)
    tmp.replace(path)


def create(path: Path, name: str, scopes: str | Iterable[str], tenant: Tenant | None = None) -> str:
    """Make a token named ``name`` (bound to ``tenant``'s stores, if given); returns the
    token, which is kept nowhere."""
    if not _NAME.match(name):
        raise TokenError(f"token name {name!r}: use 1–64 of A–Z a–z 0–9 . _ -")
    parsed = parse_scopes(scopes)
    if tenant is not None:
        if not _NAME.match(tenant.name):
            raise TokenError(f"tenant name {tenant.name!r}: use 1–64 of A–Z a–z 0–9 . _ -")
        if not tenant.stores and not tenant.prefixes:
            raise TokenError(f"tenant {tenant.name!r}: give its stores or a store prefix")
        unbound = [s for s in parsed if s not in (INGEST, REPORT)]
        if unbound:
            raise TokenError(
                f"a tenant's token may have the ingest and report scopes only, not "
                f"{', '.join(unbound)}: those concern every store (admin stays unbound)"
            )
    entries = read(path)
    if any(e.name == name for e in entries):
        raise TokenError(f"a token named {name!r} exists: revoke it first, or pick another name")
    token = PREFIX + secrets.token_urlsafe(32)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write(path, [*entries, Entry(name, digest(token), parsed, stamp, tenant)])
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
        self._by_hash = {
            e.sha256: Principal(e.name, frozenset(e.scopes), e.tenant) for e in entries
        }
        self._seen, self.error = seen, None

    def find(self, token: str) -> Principal | None:
        """The principal of ``token``, or None when no such token exists (now)."""
        self._refresh()
        return self._by_hash.get(digest(token))

    def holder(self, sha256: str) -> Principal | None:
        """The principal of a token known by its hash (a session's), if it still exists."""
        self._refresh()
        return self._by_hash.get(sha256)
