"""Tokens, sessions, the ingestion rate and the loopback rule, without a network."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from api import tokens
from api.ratelimit import Buckets, retry_after
from api.security import BindError, Sessions, check_bind


def test_a_token_is_shown_once_and_kept_only_as_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "tokens.json"
    token = tokens.create(path, "ops", "report,metrics")
    assert token.startswith(tokens.PREFIX)
    text = path.read_text()
    assert token not in text
    assert tokens.digest(token) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    [entry] = tokens.read(path)
    assert (entry.name, entry.scopes) == ("ops", ("metrics", "report"))
    with pytest.raises(tokens.TokenError, match="exists"):
        tokens.create(path, "ops", "admin")
    with pytest.raises(tokens.TokenError, match="unknown scopes"):
        tokens.create(path, "x", "root")
    with pytest.raises(tokens.TokenError, match="no scope"):
        tokens.create(path, "x", " , ")
    with pytest.raises(tokens.TokenError, match="token name"):
        tokens.create(path, "a b", "admin")


def test_the_api_sees_a_changed_file_within_its_interval(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    first = tokens.create(path, "first", "ingest")
    seen = tokens.Tokens(path, every_s=0.0)
    found = seen.find(first)
    assert found is not None
    assert found.allows("ingest")
    assert not found.allows("report")
    tokens.revoke(path, "first")
    second = tokens.create(path, "second", "admin")
    assert seen.find(first) is None
    admin = seen.find(second)
    assert admin is not None
    assert admin.allows("report")  # admin has every scope
    path.write_text("{broken")  # a bad edit keeps the tokens in force and says why
    assert seen.find(second) is not None
    assert seen.error is not None
    assert "not a token file" in seen.error
    slow = tokens.Tokens(path, every_s=3600)  # reads at most once an interval
    path.write_text(json.dumps({"tokens": []}))
    assert slow.error is not None


def test_a_missing_file_means_no_token_at_all(tmp_path: Path) -> None:
    seen = tokens.Tokens(tmp_path / "none.json")
    assert seen.find("smt_anything") is None
    with pytest.raises(tokens.TokenError, match="no token named"):
        tokens.revoke(tmp_path / "none.json", "ops")


def test_buckets_allow_the_burst_then_the_rate() -> None:
    now = [100.0]
    buckets = Buckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("a")
    assert wait == pytest.approx(0.5)
    assert retry_after(wait) == "1"
    assert buckets.take("b") == 0.0  # each principal has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    now[0] += 100
    assert [buckets.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # never past burst
    assert Buckets(rate=0, burst=1).take("a") == 0.0  # 0: no limit


def test_sessions_expire_and_cannot_be_forged() -> None:
    now = [1_000.0]
    sessions = Sessions(ttl_s=10, key=b"k" * 32, clock=lambda: now[0])
    first = sessions.open("hash-1")
    assert sessions.token_of(first) == "hash-1"
    assert sessions.token_of("made-up") is None
    payload, _, mac = first.rpartition(".")
    sha, _, expiry = payload.partition(".")
    assert sessions.token_of(f"hash-2.{expiry}.{mac}") is None  # another token's hash
    assert sessions.token_of(f"{sha}.{int(expiry) + 3600}.{mac}") is None  # a longer life
    assert sessions.token_of(f"{payload}.{mac[:-1]}") is None
    now[0] = 1_011
    assert sessions.token_of(first) is None


def test_a_session_opened_on_one_instance_is_verified_by_another_with_the_key() -> None:
    one, two = Sessions(60, key=b"shared"), Sessions(60, key=b"shared")
    assert two.token_of(one.open("hash-9")) == "hash-9"
    assert Sessions(60, key=b"other").token_of(one.open("hash-9")) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_is_allowed_without_tokens(host: str) -> None:
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "api.example.com"])
def test_other_interfaces_need_tokens(host: str, tmp_path: Path) -> None:
    with pytest.raises(BindError, match="STOREMON_AUTH_FILE"):
        check_bind(host, None)
    check_bind(host, tmp_path / "tokens.json")
