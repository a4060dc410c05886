"""The HTTP edge accepts exactly what the published document's patterns allow, whichever
regex dialect reads them: schemathesis's (Python's ``re`` with ``re.ASCII``) and
ECMA-262's (a JSON Schema validator, here jsonschema-rs), as the parsers (Python's ``re``,
``str.strip()``) decide. A store id in a
path is taken exactly as written; in a query or a body, the spaces the parsers strip are
published, one by one."""

from __future__ import annotations

import re
import sys
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.core.jsonschema.patterns import compile_ecma_pattern

from api.deps import get_coordinator, get_store
from api.main import create_app
from api.reportfiles import FolderFiles
from api.reportstore import ReportStore
from api.schemas import SPACE, portable
from streams.core.exceptions import RowError, TimestampError
from streams.core.rows import (
    STATUS_PATTERN,
    STORE_ID_TEXT_PATTERN,
    TIME_OF_DAY_PATTERN,
    parse_status,
    parse_store_id,
    parse_time_of_day,
)
from streams.core.timestamps import TIMESTAMP_PATTERN, parse_timestamp
from streams.settings import Settings
from tests.unit.api.test_ingest import FakeCoordinator

jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis's own validator

ODD = ["\u0085", "\u00a0", "\u2028", "\u2029", "\t", " ", "\n", "\x1c", "\u3000", "\ufeff"]
"""Characters readers disagree on, or that a parser strips: NEL, no-break space, line and
paragraph separators, tab, space, newline, the information separator U+001C, the
ideographic space, and the byte-order mark (which ECMA-262 reads as a space, Python not)."""
ALL = [chr(c) for c in range(sys.maxunicode + 1)]


class ReportingCoordinator(FakeCoordinator):
    """Also starts reports, recording which."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.triggered: list[tuple[int | None, str | None]] = []

    async def trigger(
        self, as_of_us: int | None, store_id: str | None, **options: Any
    ) -> dict[str, Any]:
        self.triggered.append((as_of_us, store_id))
        return {"report_id": f"r{len(self.triggered):0>20}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    folder = tmp_path_factory.mktemp("reports")
    settings = Settings(reports_dir=folder)
    app = create_app(settings)
    fake = ReportingCoordinator(settings)
    app.dependency_overrides[get_coordinator] = lambda: fake
    app.dependency_overrides[get_store] = lambda: ReportStore(FolderFiles(folder))
    return TestClient(app)


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [v for k, v in node.items() if k == "pattern" and isinstance(v, str)]
        return own + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


def _ecma(pattern: str, text: str) -> bool:
    return bool(jsonschema_rs.is_valid({"type": "string", "pattern": pattern}, text))


def _readers(pattern: str, text: str) -> set[bool]:
    """What each reader of the published pattern says of ``text``: schemathesis (Python's
    ``re`` with ``re.ASCII`` and ``$`` as the end of the string) and ECMA-262."""
    fuzzer = compile_ecma_pattern(pattern)
    assert fuzzer is not None, pattern
    return {bool(fuzzer.search(text)), _ecma(pattern, text)}


def test_space_is_exactly_what_python_strips_in_every_reading() -> None:
    stripped = {c for c in ALL if c.isspace()}
    assert {c for c in ALL if (c + "x" + c).strip() == "x"} == stripped
    assert {c for c in ALL if re.fullmatch(SPACE, c)} == stripped
    assert {c for c in ALL if re.fullmatch(SPACE, c, re.ASCII)} == stripped
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": f"^{SPACE}$"})
    encodable = [c for c in ALL if not "\ud800" <= c <= "\udfff"]  # no surrogate in UTF-8
    assert {c for c in encodable if ecma.is_valid(c)} == stripped


def test_no_published_pattern_depends_on_the_dialect(doc: dict[str, Any]) -> None:
    found = _patterns(doc)
    assert len(found) > 10
    for pattern in found:
        # \s, \d, \w and \b mean other characters to Python, to re.ASCII and to ECMA-262.
        assert not re.search(r"(?<!\\)\\[sSdDwWbB]", pattern), pattern


def test_portable_spells_every_space_escape_inside_and_outside_a_class() -> None:
    assert portable(r"^\s*a[\s,]\\s$") == f"^{SPACE}*a[{SPACE[1:-1]},]\\\\s$"
    assert portable(portable(STORE_ID_TEXT_PATTERN)) == portable(STORE_ID_TEXT_PATTERN)


def _accepts(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except (RowError, TimestampError):
        return False
    return True


def _around(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A value with odd characters before and after it."""
    edge = st.text(st.sampled_from(ODD), max_size=3)
    return st.tuples(edge, core, edge).map("".join)


@pytest.mark.parametrize(
    ("pattern", "parse", "core"),
    [
        (STORE_ID_TEXT_PATTERN, parse_store_id, st.from_regex(r"\A[A-Za-z0-9._:-]{1,5}\Z")),
        (STATUS_PATTERN, parse_status, st.sampled_from(["active", "InActive", "activ"])),
        (TIME_OF_DAY_PATTERN, parse_time_of_day, st.sampled_from(["09:00", "24:00", "7:5"])),
    ],
    ids=["store_id", "status", "time_of_day"],
)
def test_each_published_pattern_is_its_parser_in_every_reading(
    pattern: str, parse: Any, core: st.SearchStrategy[str]
) -> None:
    published = portable(pattern)

    @given(_around(core) | st.text(max_size=8))
    def agree(text: str) -> None:
        assert _readers(published, text) == {_accepts(parse, text)}, repr(text)

    agree()


@given(_around(st.sampled_from(["2023-01-25T10:00:00Z", "2023-01-25 10:00:00.5 UTC", "x"])))
def test_the_published_timestamp_pattern_is_its_parser_in_every_reading(text: str) -> None:
    assert _readers(portable(TIMESTAMP_PATTERN), text) == {_accepts(parse_timestamp, text)}


def _path_pattern(doc: dict[str, Any], path: str) -> str:
    [operation] = doc["paths"][path].values()
    [param] = [p for p in operation["parameters"] if p["name"] == "store_id"]
    pattern: str = param["schema"]["pattern"]
    return pattern


PATH_ROUTES = [
    ("PUT", "/stores/{store_id}/timezone", {"timezone": "UTC"}),
    ("PUT", "/stores/{store_id}/hours", {"shifts": []}),
    ("GET", "/stores/{store_id}/incidents", None),
    ("GET", "/stores/{store_id}.svg", None),
    ("GET", "/stores/{store_id}", None),
    ("GET", "/store/{store_id}/trigger_report/", None),
    ("GET", "/store/{store_id}/trigger_report", None),
]


@pytest.mark.parametrize(("method", "template", "body"), PATH_ROUTES)
@pytest.mark.parametrize(
    "store_id",
    ["\u0085v", "\u00a0v", "v\u2028", "\tv", "v\t", "v ", " v", "v\n", "\ufeffv", "v,w"],
)
def test_a_path_store_id_with_anything_around_it_is_refused_as_published(
    client: TestClient,
    doc: dict[str, Any],
    method: str,
    template: str,
    body: Any,
    store_id: str,
) -> None:
    pattern = _path_pattern(doc, template)
    assert _readers(pattern, store_id) == {False}
    path = template.replace("{store_id}", quote(store_id, safe=""))
    got = client.request(method, path, json=body)
    assert got.headers["content-type"] == "application/json"
    assert got.status_code == 422, (path, got.text)
    assert "store_id" in got.json()["error"]


def test_a_path_with_a_slash_in_the_id_is_no_route(client: TestClient) -> None:
    got = client.put("/stores/a%2Fb/timezone", json={"timezone": "UTC"})
    assert got.status_code == 404
    assert got.headers["content-type"] == "application/json"
    assert "error" in got.json()


@pytest.mark.parametrize(("method", "template", "body"), PATH_ROUTES[:2] + PATH_ROUTES[5:])
def test_an_exact_path_store_id_is_taken(
    client: TestClient, doc: dict[str, Any], method: str, template: str, body: Any
) -> None:
    assert _readers(_path_pattern(doc, template), "Ab9._:-") == {True}
    got = client.request(method, template.replace("{store_id}", "Ab9._:-"), json=body)
    assert got.status_code < 300, got.text


@pytest.mark.parametrize("odd", ODD)
def test_a_query_store_id_is_taken_exactly_when_its_published_pattern_allows_it(
    client: TestClient, doc: dict[str, Any], odd: str
) -> None:
    [param] = [p for p in doc["paths"]["/trigger_report"]["get"]["parameters"]
               if p["name"] == "store_id"]  # fmt: skip
    value = f"{odd}v{odd}"
    [allowed] = _readers(param["schema"]["pattern"], value)
    got = client.get("/trigger_report", params={"store_id": value})
    assert (got.status_code == 200) == allowed, got.text
    if not allowed:
        assert got.status_code == 422
        assert "store_id" in got.json()["error"]


@pytest.mark.parametrize("odd", ODD)
def test_a_body_store_id_is_taken_exactly_when_its_published_pattern_allows_it(
    client: TestClient, doc: dict[str, Any], odd: str
) -> None:
    body = doc["paths"]["/polls"]["post"]["requestBody"]["content"]["application/json"]
    pattern = body["schema"]["oneOf"][0]["properties"]["store_id"]["pattern"]
    value = f"{odd}v{odd}"
    [allowed] = _readers(pattern, value)
    poll = {"store_id": value, "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}
    got = client.post("/polls", json=poll)
    assert (got.status_code == 202) == allowed, got.text
