"""Tenants: a token bound to a set of stores (ids and id prefixes), as the token file keeps
it, and a report's CSV seen through one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api import tokens
from api.errors import ApiError
from api.reportfiles import only_rows
from api.security import no_store, visible, writable

ACME = tokens.Tenant("acme", frozenset({"s-7", "lone"}), ("acme-", "shop:"))


def test_a_tenant_covers_its_ids_and_prefixes_only() -> None:
    assert [ACME.covers(s) for s in ("s-7", "lone", "acme-1", "shop:9")] == [True] * 4
    assert [ACME.covers(s) for s in ("s-77", "lon", "acme", "xacme-1", "shop")] == [False] * 5
    assert ACME.outside(["acme-2", "b", "a", "b", "s-7"]) == ["a", "b"]


def test_a_bound_token_is_kept_with_its_tenant_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = tokens.create(path, "owner", "ingest,report", ACME)
    kept = json.loads(path.read_text())["tokens"][0]["tenant"]
    assert kept == {"name": "acme", "stores": ["lone", "s-7"], "prefixes": ["acme-", "shop:"]}
    found = tokens.Tokens(path, every_s=0.0).find(token)
    assert found is not None
    assert found.tenant == ACME
    assert found.sees("acme-3")
    assert not found.sees("other")
    unbound = tokens.Tokens(path, every_s=0.0).find(tokens.create(path, "ops", "report"))
    assert unbound is not None
    assert unbound.tenant is None
    assert unbound.sees("other")


@pytest.mark.parametrize("scopes", ["admin", "metrics", "report,metrics"])
def test_admin_and_metrics_stay_unbound(tmp_path: Path, scopes: str) -> None:
    with pytest.raises(tokens.TokenError, match="ingest and report scopes only"):
        tokens.create(tmp_path / "t.json", "x", scopes, ACME)


def test_a_tenant_needs_a_name_and_some_stores(tmp_path: Path) -> None:
    with pytest.raises(tokens.TokenError, match="tenant name"):
        tokens.create(tmp_path / "t.json", "x", "report", ACME._replace(name="a b"))
    with pytest.raises(tokens.TokenError, match="give its stores"):
        tokens.create(tmp_path / "t.json", "x", "report", tokens.Tenant("t", frozenset()))
    (tmp_path / "bad.json").write_text(
        json.dumps({"tokens": [{"name": "x", "sha256": "0", "scopes": ["report"],
                                "tenant": {"name": "t", "stores": []}}]})
    )  # fmt: skip
    with pytest.raises(tokens.TokenError, match="no stores and no prefixes"):
        tokens.read(tmp_path / "bad.json")


def test_store_ids_come_from_a_file_one_a_line_or_a_csv_first_column(tmp_path: Path) -> None:
    plain = tmp_path / "stores.txt"
    plain.write_text("# acme's stores\ns-1\n\n s-2 \ns-1\n")
    assert tokens.read_stores(plain) == {"s-1", "s-2"}
    table = tmp_path / "stores.csv"
    table.write_text("store_id,name\ns-3,Main St\ns-4,Airport\n")
    assert tokens.read_stores(table) == {"s-3", "s-4"}
    bad = tmp_path / "bad.txt"
    bad.write_text("s-1\nnot ok\n")
    with pytest.raises(tokens.TokenError, match=r"bad.txt:2:"):
        tokens.read_stores(bad)
    (tmp_path / "empty.txt").write_text("# none\n")
    with pytest.raises(tokens.TokenError, match="no store ids"):
        tokens.read_stores(tmp_path / "empty.txt")
    with pytest.raises(tokens.TokenError, match="store prefix"):
        tokens.check_prefix("a,b")


def test_other_stores_are_not_found_and_not_written() -> None:
    owner = tokens.Principal("owner", frozenset({tokens.REPORT, tokens.INGEST}), ACME)
    visible(owner, "acme-1")
    with pytest.raises(ApiError) as hidden:
        visible(owner, "rival-1")
    unknown = no_store("rival-1")  # what anyone gets for a store without polls
    assert (hidden.value.status_code, hidden.value.message) == (
        unknown.status_code,
        unknown.message,
    )
    writable(owner, ["acme-1", "s-7"])
    with pytest.raises(ApiError) as refused:
        writable(owner, ["acme-1", "rival-2", "rival-1"])
    assert refused.value.status_code == 403
    assert "'rival-1', 'rival-2'" in refused.value.message
    assert "acme-1" not in refused.value.message
    writable(tokens.Principal("ops", frozenset({tokens.INGEST})), ["rival-1"])  # unbound


def test_a_report_seen_by_a_tenant_keeps_the_header_and_its_rows() -> None:
    csv = (
        b"store_id,uptime_last_hour(in minutes)\r\nacme-1,60\r\nrival,0\r\n"
        b"s-7,12.5\r\nrival-2,1\r\nshop:1,3"
    )

    async def chunks(size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(csv), size):
            yield csv[i : i + size]

    async def seen(size: int) -> bytes:
        return b"".join([c async for c in only_rows(chunks(size), ACME.covers)])

    for size in (1, 5, 17, len(csv)):
        got = asyncio.run(seen(size))
        assert got == (
            b"store_id,uptime_last_hour(in minutes)\r\nacme-1,60\r\ns-7,12.5\r\nshop:1,3"
        ), size
