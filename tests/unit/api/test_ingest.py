"""The HTTP edge without Kafka: validation, limits and errors of the ingestion routes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi.testclient import TestClient

from api.deps import get_coordinator
from api.main import create_app
from streams.settings import Settings
from streams.topics import topics_for


class FakeCoordinator:
    """Records what would be produced; can be told Kafka is away."""

    def __init__(self, settings: Settings, down: bool = False) -> None:
        self.settings = settings
        self.topics = topics_for(settings)
        self.down = down
        self.polls: list[dict[str, list[int]]] = []
        self.sent: list[tuple[str, str, bytes]] = []

    async def send_polls(self, by_store: dict[str, list[int]]) -> None:
        if self.down:
            raise KafkaConnectionError("no broker")
        self.polls.append(by_store)

    async def send(self, topic: str, store_id: str, value: bytes) -> None:
        if self.down:
            raise KafkaConnectionError("no broker")
        self.sent.append((topic, store_id, value))


@pytest.fixture
def client_and_fake() -> tuple[TestClient, FakeCoordinator]:
    settings = Settings(max_body_bytes=2_000, max_polls_per_request=5)
    app = create_app(settings)
    fake = FakeCoordinator(settings)
    app.dependency_overrides[get_coordinator] = lambda: fake
    return TestClient(app), fake


def _poll(**change: Any) -> dict[str, Any]:
    return {"store_id": "s", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z", **change}


def test_valid_polls_are_grouped_per_store(
    client_and_fake: tuple[TestClient, FakeCoordinator],
) -> None:
    client, fake = client_and_fake
    got = client.post("/polls", json=[_poll(), _poll(store_id=" 7 "), _poll(status="INACTIVE")])
    assert got.status_code == 202
    assert got.json() == {"accepted": 3}
    assert {k: len(v) for k, v in fake.polls[0].items()} == {"s": 2, "7": 1}


FORGED = [
    "zz,injected\nROW",
    '=HYPERLINK("http://evil","x")',
    'a"b',
    "x" * 129,
    "caf\u00e9",
    "\ud800",
    "",
]


@pytest.mark.parametrize("store_id", [*FORGED, 7, True, None, ["a"]])
def test_forged_or_non_string_store_ids_are_refused(
    client_and_fake: tuple[TestClient, FakeCoordinator], store_id: object
) -> None:
    client, fake = client_and_fake
    body = json.dumps([_poll(), _poll(store_id=store_id)])  # a lone surrogate as \\ud800
    got = client.post("/polls", content=body, headers={"content-type": "application/json"})
    assert got.status_code == 422
    if store_id == "\ud800":  # not even valid JSON text: the body as a whole is refused
        assert "surrogate" in got.json()["error"]
        return
    reason = got.json()["items"][0]["reason"]
    assert "store_id" in reason
    assert len(reason) < 300  # a long id is quoted cut, not whole
    assert fake.polls == []


@pytest.mark.parametrize("store_id", ["zz,injected", "=1+2", "x" * 129, "caf\u00e9"])
def test_forged_store_ids_in_paths_are_refused(
    client_and_fake: tuple[TestClient, FakeCoordinator], store_id: str
) -> None:
    client, fake = client_and_fake
    hours = client.put(f"/stores/{store_id}/hours", json={"shifts": []})
    zone = client.put(f"/stores/{store_id}/timezone", json={"timezone": "Asia/Tokyo"})
    assert (hours.status_code, zone.status_code) == (422, 422)
    assert "store_id" in hours.json()["error"]
    assert fake.sent == []


def test_polls_from_the_future_or_before_2000_are_refused(
    client_and_fake: tuple[TestClient, FakeCoordinator],
) -> None:
    client, fake = client_and_fake
    future = client.post("/polls", json=[_poll(), _poll(timestamp_utc="2099-01-01T00:00:00Z")])
    assert future.status_code == 422
    assert "in the future" in future.json()["items"][0]["reason"]
    old = client.post("/polls", json=_poll(timestamp_utc="1999-12-31T23:59:59Z"))
    assert "before 2000-01-01" in old.json()["items"][0]["reason"]
    far = client.post("/polls", json=_poll(timestamp_utc="9999-12-31T23:59:59Z"))
    assert far.status_code == 422
    assert fake.polls == []
    # Within the allowed clock skew (default 300 s) is fine.
    soon = datetime.now(UTC) + timedelta(seconds=120)
    assert client.post("/polls", json=_poll(timestamp_utc=soon.isoformat())).status_code == 202


def test_one_bad_item_writes_nothing(client_and_fake: tuple[TestClient, FakeCoordinator]) -> None:
    client, fake = client_and_fake
    got = client.post("/polls", json=[_poll(), _poll(timestamp_utc="never"), {"status": "active"}])
    assert got.status_code == 422
    items = got.json()["items"]
    assert [i["index"] for i in items] == [1, 2]
    assert "unparseable timestamp 'never'" in items[0]["reason"]
    assert "store_id" in items[1]["reason"]
    assert fake.polls == []


def test_limits_and_bad_json(client_and_fake: tuple[TestClient, FakeCoordinator]) -> None:
    client, fake = client_and_fake
    assert client.post("/polls", json=[_poll()] * 6).status_code == 413  # more than 5 polls
    big = client.post(
        "/polls", content=b"[" + b" " * 3_000 + b"]", headers={"content-type": "application/json"}
    )
    assert big.status_code == 413
    assert "at most 2,000" in big.json()["error"]
    json_type = {"content-type": "application/json"}
    assert client.post("/polls", content=b"{oops", headers=json_type).status_code == 422
    assert client.post("/polls", json=[]).status_code == 422
    assert fake.polls == []


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type"),
    [
        ("post", "/polls", json.dumps({"store_id": "s"}), "text/plain"),
        ("post", "/polls", "store_id=s&status=active", "application/x-www-form-urlencoded"),
        ("post", "/polls", json.dumps({"store_id": "s"}), None),
        ("put", "/stores/s1/hours", json.dumps({"shifts": []}), "text/plain"),
        ("put", "/stores/s1/timezone", json.dumps({"timezone": "UTC"}), "multipart/form-data"),
    ],
)
def test_only_json_bodies_are_read(
    client_and_fake: tuple[TestClient, FakeCoordinator],
    method: str,
    path: str,
    body: str,
    content_type: str | None,
) -> None:
    client, fake = client_and_fake
    headers = {"content-type": content_type} if content_type else {}
    got = getattr(client, method)(path, content=body.encode(), headers=headers)
    assert got.status_code == 415
    assert "must be JSON" in got.json()["error"]
    assert fake.polls == []
    assert fake.sent == []


POISON = [
    b"[" * 50_000 + b"]" * 50_000,  # nested too deeply for Python's parser
    b'{"store_id": "s", "status": "active", "timestamp_utc": ' + b"9" * 5_001 + b"}",
    b'{"store_id": "\\ud800", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}',
    b'{"\\ud800": 1}',
    b"\xff\xfe\x00",
    b'{"store_id": "' + b"7" * 5_001 + b'"}',
]


@pytest.mark.parametrize(
    "body", POISON, ids=["deep", "long-number", "surrogate", "surrogate-key", "not-utf8", "long-id"]
)
@pytest.mark.parametrize("path", ["/polls", "/stores/s1/hours", "/stores/s1/timezone"])
def test_poison_bodies_get_a_4xx_with_a_reason_never_a_500(body: bytes, path: str) -> None:
    settings = Settings(max_body_bytes=1_000_000)  # big enough: the parser, not the size, judges
    app = create_app(settings)
    fake = FakeCoordinator(settings)
    app.dependency_overrides[get_coordinator] = lambda: fake
    client = TestClient(app)
    call = client.post if path == "/polls" else client.put
    got = call(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= got.status_code < 500, got.text
    assert got.status_code != 413
    assert got.json()["error"]
    got.content.decode("ascii")  # every character escaped: nothing can break rendering
    assert fake.polls == []
    assert fake.sent == []


def test_kafka_away_is_a_503_to_retry(client_and_fake: tuple[TestClient, FakeCoordinator]) -> None:
    client, fake = client_and_fake
    fake.down = True
    got = client.post("/polls", json=_poll())
    assert got.status_code == 503
    assert "send the whole request again" in got.json()["error"]


def test_hours_and_timezone(client_and_fake: tuple[TestClient, FakeCoordinator]) -> None:
    client, fake = client_and_fake
    ok = client.put(
        "/stores/s1/hours", json={"shifts": [{"day": 0, "start": "22:00", "end": "02:00"}]}
    )
    assert ok.status_code == 202
    assert fake.sent[0][:2] == (fake.topics.hours.name, "s1")
    bad = client.put(
        "/stores/s1/hours", json={"shifts": [{"day": 0, "start": "25:00", "end": "02:00"}]}
    )
    assert bad.status_code == 422
    assert "out of range" in bad.json()["error"]
    day = client.put(
        "/stores/s1/hours", json={"shifts": [{"day": 9, "start": "01:00", "end": "02:00"}]}
    )
    assert day.status_code == 422
    assert client.put("/stores/s1/timezone", json={"timezone": "Asia/Tokyo"}).status_code == 202
    assert client.put("/stores/s1/timezone", json={"timezone": "Nowhere/Land"}).status_code == 422
    assert len(fake.sent) == 2
