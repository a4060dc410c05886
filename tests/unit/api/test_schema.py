"""The published OpenAPI document says what the API really does: every reference resolves,
each published pattern accepts exactly what the core's parser accepts, and the odd answers
(405, bodies FastAPI cannot parse, integers written 1.0) are what the document declares."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.main import create_app
from api.schemas import portable
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


@pytest.fixture
def client() -> TestClient:
    from api.deps import get_coordinator

    settings = Settings(max_polls_per_request=7)
    app = create_app(settings)
    app.dependency_overrides[get_coordinator] = lambda: FakeCoordinator(settings)
    return TestClient(app)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves_and_the_polls_body_is_published(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in components, ref
    body = doc["paths"]["/polls"]["post"]["requestBody"]["content"]["application/json"]
    one, many = body["schema"]["oneOf"]
    assert one["properties"]["timestamp_utc"]["pattern"] == portable(TIMESTAMP_PATTERN)
    assert many["maxItems"] == 7  # this API's own limit
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method in ("put", "post") and path != "/trigger_report":
                assert {"413", "415", "422"} <= set(operation["responses"]), (method, path)


def _accepts(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except (RowError, TimestampError):
        return False
    return True


@given(st.from_regex(STORE_ID_TEXT_PATTERN) | st.text(max_size=140))
def test_the_store_id_pattern_is_the_rule(text: str) -> None:
    assert _accepts(parse_store_id, text) == bool(re.search(STORE_ID_TEXT_PATTERN, text))


@given(st.from_regex(STATUS_PATTERN) | st.text(max_size=12))
def test_the_status_pattern_is_the_rule(text: str) -> None:
    assert _accepts(parse_status, text) == bool(re.search(STATUS_PATTERN, text))


@given(st.from_regex(TIME_OF_DAY_PATTERN) | st.from_regex(r"^\s*\d{1,2}:\d{2}(:\d{2})?\s*$"))
def test_the_time_of_day_pattern_is_the_rule(text: str) -> None:
    assert _accepts(parse_time_of_day, text) == bool(re.search(TIME_OF_DAY_PATTERN, text))


@given(
    st.from_regex(TIMESTAMP_PATTERN)
    | st.from_regex(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?( UTC|Z)?$")
    | st.text(max_size=40)
)
def test_the_timestamp_pattern_is_the_rule_but_for_dates_that_do_not_exist(text: str) -> None:
    if not re.search(TIMESTAMP_PATTERN, text):
        assert not _accepts(parse_timestamp, text)
        return
    try:
        parse_timestamp(text)
    except TimestampError as exc:  # e.g. 2023-02-30, or beyond year 9999 by its offset
        reason = str(exc)
    else:
        return
    assert "no such date" in reason or "out of range" in reason


@pytest.mark.parametrize("path", ["/trigger_report", "/polls", "/stores/s/hours"])
def test_a_method_not_allowed_names_every_method_the_path_has(
    client: TestClient, path: str
) -> None:
    got = client.request("TRACE", path)
    assert got.status_code == 405
    allowed = {m.strip() for m in got.headers["allow"].split(",")}
    expected = {
        "/trigger_report": {"GET", "POST"},
        "/polls": {"POST"},
        "/stores/s/hours": {"PUT"},
    }
    assert allowed == expected[path]
    assert "error" in got.json()


def test_a_body_fastapi_cannot_parse_is_a_422_like_any_other(client: TestClient) -> None:
    got = client.put(
        "/stores/s/hours", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert got.status_code == 422
    assert got.json()["error"] == "the body is not JSON"


@pytest.mark.parametrize(
    ("day", "status"), [(1, 202), (1.0, 202), (True, 422), ("1", 422), (1.5, 422), (7, 422)]
)
def test_a_day_is_a_json_integer(client: TestClient, day: object, status: int) -> None:
    body = {"shifts": [{"day": day, "start": "09:00", "end": "17:00"}]}
    got = client.put(
        "/stores/s/hours", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert got.status_code == status, got.text


@pytest.mark.parametrize(
    ("zone", "status"),
    [("America/New_York", 202), ("Mars/Olympus", 422), (" America/New_York", 422)],
)
def test_a_zone_is_one_of_the_published_iana_names(
    client: TestClient, zone: str, status: int
) -> None:
    got = client.put("/stores/s/timezone", json={"timezone": zone})
    assert got.status_code == status, got.text


def test_every_error_is_published_as_json_even_on_html_routes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) < 400 or "content" not in response:
                    continue
                assert "application/json" in response["content"], (method, path, code)
                if (path, code) != ("/", "401"):  # a browser gets the sign-in page there
                    assert set(response["content"]) == {"application/json"}, (method, path, code)
