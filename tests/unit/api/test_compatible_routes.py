"""The second seed's routes, without Kafka: each answers as the first seed's route it
equals, with or without the trailing slash, behind the same scope, its body validated like
every other JSON body, and published as the compatible form."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import tokens
from api.deps import get_coordinator, get_store
from api.main import create_app
from api.reportfiles import FolderFiles
from api.reportstore import ReportStore
from streams.settings import Settings
from tests.unit.api.test_edge_patterns import ReportingCoordinator

TRIGGERS = ["/store/{store_id}/trigger_report/", "/store/{store_id}/trigger_report"]
GETS = ["/store/get_report/", "/store/get_report"]


def _client(
    tmp_path: Path, **settings: Any
) -> tuple[TestClient, ReportingCoordinator, ReportStore]:
    config = Settings(reports_dir=tmp_path / "reports", max_body_bytes=1_000, **settings)
    app = create_app(config)
    fake = ReportingCoordinator(config)
    store = ReportStore(FolderFiles(tmp_path / "reports"))
    app.dependency_overrides[get_coordinator] = lambda: fake
    app.dependency_overrides[get_store] = lambda: store
    return TestClient(app, follow_redirects=False), fake, store


@pytest.fixture
def client(tmp_path: Path) -> tuple[TestClient, ReportingCoordinator, ReportStore]:
    return _client(tmp_path)


def _ids(store: ReportStore) -> dict[str, str]:
    """A running, a complete and a failed report; their ids by status."""
    running, complete, failed = (ReportStore.new_id() for _ in range(3))

    async def make() -> None:
        await store.files.start()
        for report_id in (running, complete, failed):
            await store.create(report_id)
        await store.complete(complete, [["store_id", "uptime_last_hour"], ["s1", "60"]],
                             report_time="2023-01-25T10:00:00Z")  # fmt: skip
        await store.fail(failed, "the workers did not answer")

    asyncio.run(make())
    return {"Running": running, "Complete": complete, "Failed": failed, "unknown": "x" * 24}


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code
    for header in ("content-type", "x-report-status", "x-report-time"):
        assert a.headers.get(header) == b.headers.get(header), header
    assert a.content == b.content


@pytest.mark.parametrize("path", TRIGGERS)
def test_a_store_trigger_is_the_one_store_trigger_report(
    client: tuple[TestClient, ReportingCoordinator, ReportStore], path: str
) -> None:
    http, fake, _ = client
    got = http.get(path.format(store_id="s-1"))
    same = http.get("/trigger_report", params={"store_id": "s-1"})
    assert got.status_code == same.status_code == 200, got.text
    assert set(got.json()) == set(same.json()) == {"report_id"}
    assert fake.triggered == [(None, "s-1"), (None, "s-1")]
    refused = http.get(path.format(store_id="a,b"))
    assert refused.status_code == http.get("/trigger_report?store_id=a,b").status_code == 422
    assert "store_id" in refused.json()["error"]


@pytest.mark.parametrize("path", GETS)
@pytest.mark.parametrize("status", ["Running", "Complete", "Failed", "unknown"])
def test_a_post_of_the_id_answers_as_get_report(
    client: tuple[TestClient, ReportingCoordinator, ReportStore], path: str, status: str
) -> None:
    http, _, store = client
    report_id = _ids(store)[status]
    got = http.post(path, json={"report_id": report_id})
    _same(got, http.get("/get_report", params={"report_id": report_id}))
    if status == "unknown":
        assert got.status_code == 404
        assert got.headers["content-type"] == "application/json"
        assert "no report with id" in got.json()["error"]
    elif status == "Complete":
        assert got.headers["x-report-status"] == "Complete"
        assert got.text.startswith("store_id,uptime_last_hour")
    else:
        assert got.json()["status"] == status


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        (b"{}", "application/json", 422, "body.report_id: Field required"),
        (b'{"report_id": 7}', "application/json", 422, "body.report_id"),
        (b'{"report_id": null}', "application/json", 422, "body.report_id"),
        (b'["x"]', "application/json", 422, "body"),
        (b"{not json", "application/json", 422, "body: not JSON (Expecting property name"),
        (b"", "application/json", 422, "body"),
        (b"report_id=x", "application/x-www-form-urlencoded", 415, "must be JSON"),
        (b'{"report_id": "' + b"x" * 2_000 + b'"}', "application/json", 413, "at most 1,000"),
    ],
)
@pytest.mark.parametrize("path", GETS)
def test_the_body_is_validated_like_every_json_body(
    client: tuple[TestClient, ReportingCoordinator, ReportStore],
    path: str,
    content: bytes,
    content_type: str,
    status: int,
    says: str,
) -> None:
    http, _, _ = client
    got = http.post(path, content=content, headers={"content-type": content_type})
    assert got.status_code == status, got.text
    assert got.headers["content-type"] == "application/json"
    assert says in got.json()["error"]


def test_both_forms_are_published_as_compatible_with_the_scheme_of_the_route_they_equal(
    client: tuple[TestClient, ReportingCoordinator, ReportStore],
) -> None:
    doc = client[0].get("/openapi.json").json()
    paths = doc["paths"]
    for path, method, equal in [
        *[(p, "get", "GET /trigger_report?store_id=") for p in TRIGGERS],
        *[(p, "post", "GET /get_report?report_id=") for p in GETS],
    ]:
        operation = paths[path][method]
        assert "compatible" in operation["tags"], path
        assert operation["summary"].startswith(f"Compatible form of {equal}"), path
        assert "second seed" in operation["description"]
        assert not operation.get("deprecated", False)
        assert operation["security"] == [{"HTTPBearer": []}]
    body = paths["/store/get_report/"]["post"]["requestBody"]
    assert body["required"] is True
    model = doc["components"]["schemas"]["ReportIdIn"]
    assert model["required"] == ["report_id"]
    assert model["properties"]["report_id"]["type"] == "string"
    assert (
        paths["/store/get_report"]["post"]["responses"]
        == paths["/store/get_report/"]["post"]["responses"]
    )
    get_answers = paths["/get_report"]["get"]["responses"]
    assert paths["/store/get_report/"]["post"]["responses"]["200"] == get_answers["200"]


def test_the_routes_need_the_scope_of_the_routes_they_equal(tmp_path: Path) -> None:
    auth = tmp_path / "tokens.json"
    made = {scope: tokens.create(auth, scope, scope) for scope in tokens.SCOPES}
    http, _, store = _client(tmp_path, auth_file=auth)
    report_id = _ids(store)["Running"]
    calls = [("GET", p.format(store_id="s1"), None) for p in TRIGGERS] + [
        ("POST", p, {"report_id": report_id}) for p in GETS
    ]
    for method, path, body in calls:
        assert http.request(method, path, json=body).status_code == 401
        for scope, token in made.items():
            got = http.request(
                method, path, json=body, headers={"authorization": f"Bearer {token}"}
            )
            allowed = scope in (tokens.REPORT, tokens.ADMIN)
            assert (got.status_code == 200) == allowed, (method, path, scope, got.text)
            assert allowed or got.status_code == 403
