"""Delivering alerts: the CloudEvent to each webhook as is, an Alertmanager's own shape,
retries with backoff on failures that may pass, none on a refusal, and a reason when it
gives up. (An HTTP stand-in; the Kafka side is in tests/integration/test_alerts.py.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from api.alerts import AlertDelivery, alertmanager_alert, parse_event
from streams.core.alerts import DOWN, UP, Alert, cloud_event
from streams.settings import Settings

START = 2 * 1_674_640_800_000_000


def _event(kind: str = DOWN) -> dict[str, Any]:
    end = START + 2 * 3_600_000_000 if kind == UP else None
    alert = Alert(kind, START // 2 + 60_000_000, START, end)
    event = parse_event(cloud_event(alert, "s-9", "Asia/Tokyo", "storemon/test"))
    assert event is not None
    return event


def _run(delivery: AlertDelivery, handler: Any, event: dict[str, Any]) -> list[str]:
    async def go() -> list[str]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await delivery.deliver(client, event)

    return asyncio.run(go())


def test_webhooks_get_the_cloud_event_and_a_flaky_one_is_retried() -> None:
    calls: list[tuple[str, bytes]] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((str(request.url), request.content))
        flaky = "flaky" in str(request.url) and sum("flaky" in u for u, _ in calls) < 3
        return httpx.Response(503 if flaky else 204)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = Settings(alert_webhooks="http://a/hook, http://flaky/hook")
    delivery = AlertDelivery(settings, sleep=sleep)
    event = _event()
    assert _run(delivery, handler, event) == []
    assert [u for u, _ in calls].count("http://flaky/hook") == 3
    assert waits == [0.5, 1.0]  # backoff between the attempts
    assert json.loads(calls[0][1]) == event
    assert delivery.delivered["http://flaky/hook"] == 1


def test_a_refusal_is_not_retried_and_giving_up_says_why() -> None:
    attempts = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        attempts["n"] += 1
        return httpx.Response(400 if "refuses" in str(request.url) else 500)

    async def sleep(_seconds: float) -> None:
        return None

    delivery = AlertDelivery(Settings(alert_webhooks="http://refuses/x"), sleep=sleep)
    [problem] = _run(delivery, handler, _event())
    assert attempts["n"] == 1
    assert "answered 400" in problem
    down = AlertDelivery(Settings(alert_webhooks="http://down/x"), sleep=sleep)
    [problem] = _run(down, handler, _event())
    assert "after 6 attempts" in problem
    assert down.failed["http://down/x"] == 1


def test_alertmanager_gets_alerts_it_routes_and_up_resolves_down() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == "http://am:9093/api/v2/alerts"
        seen.extend(json.loads(request.content))
        return httpx.Response(200)

    delivery = AlertDelivery(Settings(alertmanager_url="http://am:9093/"))
    assert _run(delivery, handler, _event(DOWN)) == []
    assert _run(delivery, handler, _event(UP)) == []
    down, up = seen
    assert down["labels"] == {"alertname": "StoreDown", "store_id": "s-9", "severity": "warning"}
    assert down["startsAt"] == "2023-01-25T10:00:00Z"
    assert "endsAt" not in down
    assert up["labels"] == down["labels"]  # the same alert, resolved
    assert up["endsAt"] == "2023-01-25T11:00:00Z"  # an hour (in ticks, 2 per µs) later
    assert up["generatorURL"].endswith("/stores/s-9")
    assert alertmanager_alert(_event(DOWN), "http://x")["annotations"]["since_local"].endswith(
        "+09:00"
    )


def test_only_cloud_events_of_our_kinds_are_taken() -> None:
    assert parse_event(b"{not json") is None
    assert parse_event(b'{"specversion": "1.0", "type": "other"}') is None
    assert parse_event(b"[" * 5000) is None
    assert parse_event(b"x" * 70_000) is None
