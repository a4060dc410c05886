"""Alerts out of the pipeline: the recent ones for ``GET /alerts`` and ``/metrics``, and
delivery of each to the webhooks and to an Alertmanager, with retries.

Delivery reads ``storemon.alerts`` in a consumer group of its own and commits only what it
has delivered (or given up on, which lands in the dead letters with the reason), so an
API restarted mid-way goes on where it stopped: at least once, the event id telling a
repeat. The feed reads the newest events of every partition without a group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from aiokafka import ConsumerRebalanceListener, TopicPartition
from prometheus_client.core import CounterMetricFamily, Metric

from streams import kafka
from streams.core.alerts import DOWN, KINDS, SILENT, UP
from streams.core.payloads import load_json
from streams.core.protocol import encode_dead_letter
from streams.settings import Settings
from streams.topics import topics_for

log = logging.getLogger(__name__)
RECENT = 1_000
ATTEMPTS = 6
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_EVENT_BYTES = 64 * 1024


def parse_event(data: bytes | None) -> dict[str, Any] | None:
    """A CloudEvent from the alerts topic, or None when the message is not one."""
    if data is None or len(data) > MAX_EVENT_BYTES:
        return None
    try:
        event = load_json(data)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        return None
    if event.get("type") not in KINDS or not isinstance(event.get("subject"), str):
        return None
    if not isinstance(event.get("id"), str) or not isinstance(event.get("data"), dict):
        return None
    return event


def alertmanager_alert(event: dict[str, Any], public_url: str) -> dict[str, Any]:
    """The event as Alertmanager takes it (``POST /api/v2/alerts``): ``up`` resolves the
    store's ``StoreDown`` alert; a ``StoreSilent`` alert resolves on its own after
    Alertmanager's ``resolve_timeout`` unless sent again."""
    data = event["data"]
    store = event["subject"]
    name = "StoreSilent" if event["type"] == SILENT else "StoreDown"
    started = data.get("incident_start") or data.get("last_poll") or event["time"]
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "store_id": store, "severity": "warning"},
        "annotations": {
            "summary": f"store {store} is {'silent' if name == 'StoreSilent' else 'down'}",
            "since_local": data.get("incident_start_local") or data.get("last_poll_local") or "",
            "event_id": event["id"],
        },
        "startsAt": started,
        "generatorURL": f"{public_url.rstrip('/')}/stores/{store}",
    }
    if event["type"] == UP:
        alert["endsAt"] = data.get("incident_end") or event["time"]
    return alert


class AlertFeed:
    """The newest alerts, and how many of each kind the API has seen since it started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = topics_for(settings).alerts
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.counts: Counter[str] = Counter()
        self.unreadable = 0
        self.on_connected: Callable[[], None] = lambda: None

    async def run(self) -> None:
        """Read the topic from a little before its end, then follow it (supervised)."""
        consumer = kafka.consumer(self.settings, group_id=None, enable_auto_commit=False)
        try:
            await asyncio.wait_for(consumer.start(), 15)
            tps = [TopicPartition(self.topic.name, p) for p in range(self.topic.partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(0, ends[tp] - RECENT // len(tps)))
            self.on_connected()
            async for message in consumer:
                event = parse_event(message.value)
                if event is None:
                    self.unreadable += 1
                    continue
                self.recent.append(event)
                self.counts[event["type"]] += 1
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def collect(self) -> Iterator[Metric]:
        """``storemon_alerts_total{type}``: alerts seen on the topic since the API started."""
        total = CounterMetricFamily(
            "storemon_alerts", "Alerts on the alerts topic", labels=["type"]
        )
        for kind in KINDS:
            total.add_metric([kind], self.counts[kind])
        yield total

    def latest(
        self,
        limit: int,
        store_id: str | None = None,
        sees: Callable[[str], bool] = lambda _store: True,
    ) -> list[dict[str, Any]]:
        """The newest first: ``store_id``'s, or those of every store ``sees`` lets through."""
        picked = [
            e
            for e in reversed(self.recent)
            if (e["subject"] == store_id if store_id is not None else sees(e["subject"]))
        ]
        return picked[:limit]


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Says the task is up once the group has given it its partitions."""

    def __init__(self, up: Callable[[], None]) -> None:
        self.up = up

    async def on_partitions_revoked(self, revoked: object) -> None:
        """Nothing to do: offsets are committed after each event."""

    async def on_partitions_assigned(self, assigned: object) -> None:
        """Up: alerts from now on are delivered."""
        self.up()


class AlertDelivery:
    """Posts every alert to the webhooks (the CloudEvent as is) and to an Alertmanager."""

    def __init__(self, settings: Settings, sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.settings = settings
        self.topics = topics_for(settings)
        self.webhooks = [u.strip() for u in settings.alert_webhooks.split(",") if u.strip()]
        self.alertmanager = settings.alertmanager_url
        self.sleep = sleep
        self.delivered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.on_connected: Callable[[], None] = lambda: None

    @property
    def wanted(self) -> bool:
        """Whether there is anywhere to deliver to."""
        return bool(self.webhooks or self.alertmanager)

    async def run(self) -> None:
        """Deliver, committing after each event (supervised)."""
        group = f"{self.settings.app_id}-alert-delivery"
        # A new group starts at the end: the alerts from before delivery was set up are not
        # sent (the topic keeps a week of them); afterwards it resumes where it committed.
        consumer = kafka.consumer(
            self.settings, group_id=group, enable_auto_commit=False, auto_offset_reset="latest"
        )
        producer = kafka.producer(self.settings, acks="all")
        try:
            await asyncio.wait_for(consumer.start(), 15)
            await asyncio.wait_for(producer.start(), 15)
            consumer.subscribe([self.topics.alerts.name], listener=_Assigned(self.on_connected))
            async with httpx.AsyncClient(timeout=10) as client:
                async for message in consumer:
                    event = parse_event(message.value)
                    if event is not None:
                        problems = await self.deliver(client, event)
                        for problem in problems:
                            letter = encode_dead_letter(
                                "alert-delivery", f"partition {message.partition} offset "
                                f"{message.offset}", problem, (message.value or b"").decode(
                                    "utf-8", "replace"), time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            )  # fmt: skip
                            await producer.send_and_wait(self.topics.dead_letters.name, letter)
                    tp = TopicPartition(message.topic, message.partition)
                    await consumer.commit({tp: message.offset + 1})
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()

    async def deliver(self, client: httpx.AsyncClient, event: dict[str, Any]) -> list[str]:
        """Post the event everywhere, retrying with backoff; the reasons it could not be."""
        body = json.dumps(event).encode()
        jobs = [
            self._post(client, url, body, "application/cloudevents+json") for url in self.webhooks
        ]
        if self.alertmanager:
            manager = json.dumps([alertmanager_alert(event, self.settings.public_url)]).encode()
            url = self.alertmanager.rstrip("/") + "/api/v2/alerts"
            jobs.append(self._post(client, url, manager, "application/json"))
        results = await asyncio.gather(*jobs)
        return [r for r in results if r]

    async def _post(self, client: httpx.AsyncClient, url: str, body: bytes, kind: str) -> str:
        problem = ""
        for attempt in range(ATTEMPTS):
            try:
                got = await client.post(url, content=body, headers={"content-type": kind})
                if got.status_code < 300:
                    self.delivered[url] += 1
                    return ""
                problem = f"{url} answered {got.status_code}"
                if 400 <= got.status_code < 500 and got.status_code not in (408, 429):
                    break  # refused for good: retrying will not help
            except httpx.HTTPError as exc:
                problem = f"{url}: {type(exc).__name__}: {exc}"
            if attempt < len(BACKOFF_S):
                await self.sleep(BACKOFF_S[attempt])
        self.failed[url] += 1
        log.warning("alert not delivered: %s", problem)
        return f"alert not delivered after {ATTEMPTS} attempts: {problem}"


__all__ = ["DOWN", "UP", "AlertDelivery", "AlertFeed", "alertmanager_alert", "parse_event"]
