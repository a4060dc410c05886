"""Alerts on ``storemon.alerts``: each batch the polls agent writes moves the alert state
of its live stores (``streams/core/alerts.py``), and a timer looks at stores that fell
silent or whose alert waits for the store to open.

Only observations younger than ``STOREMON_ALERT_MAX_AGE_S`` raise anything, so replaying
history costs nothing here and floods no one. Nothing is raised for time outside
business hours: an alert found while the store is closed is held until it opens, and
sent then only if it still holds. Events are sent on Faust's producer, which it flushes
before committing the batch's offsets: at least once, a repeat carrying the same id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from streams.app import (
    TOPICS,
    alerts_topic,
    app,
    home_partition,
    owned_partitions,
    profile_index,
    profiles,
    raw_producer,
    segments,
    settings,
)
from streams.core.alerts import (
    DOWN,
    EVENT_HEADERS,
    SILENT,
    Alert,
    AlertState,
    advance,
    cloud_event,
    in_hours,
    next_business_us,
    silent_from,
    state_of,
)
from streams.core.payloads import decode_profile
from streams.core.pollkeys import Keys
from streams.core.schedule import Profile
from streams.core.segments import merge
from streams.counters import counters
from streams.state.alerts import AlertStates, Due
from streams.state.segments import send_batches

log = logging.getLogger(__name__)
ALERTS = TOPICS.alerts.name

states = AlertStates(settings.alert_states)
SOURCE = f"storemon/{settings.app_id}"


def _now_us() -> int:
    return time.time_ns() // 1000


def _profile(store: bytes) -> Profile:
    return decode_profile(profile_index.get(store, profiles.get))


def _history(partition: int, store: bytes, before_us: int, profile: Profile) -> AlertState | None:
    """The store's state from its segments, before the polls now being added (a store not
    held: evicted, or owned elsewhere until now)."""
    keys = merge(segments.read(partition, store).items())
    return state_of(keys[(keys >> 1) < before_us], profile)


async def observe(written: Iterable[tuple[int, bytes, Keys]]) -> None:
    """Move the alert state of every live store of a batch just written (its polls
    sorted, one per instant) and send what opened or closed: one record batch per
    partition of the alerts topic (keyed by store, it has the polls topic's partitions)."""
    now = _now_us()
    horizon = now - int(settings.alert_max_age_s * 1_000_000)
    out: dict[int, list[tuple[bytes, bytes]]] = {}
    for partition, store, keys in written:
        if (int(keys[-1]) >> 1) < horizon:
            continue  # history: no alert, and no state to keep
        profile = _profile(store)
        state = states.get(store)
        if state is None:
            state = _history(partition, store, int(keys[0]) >> 1, profile)
        state, raised = advance(state, keys, profile)
        if state is None:
            continue
        states.put(store, state)
        _watch(store, state, profile)  # first: an alert held below takes the store's slot
        for alert in raised:
            if alert.at_us >= horizon:
                event = _raise(store, alert, profile, now, state)
                if event is not None:
                    out.setdefault(partition, []).append((store, event))
    for partition, records in out.items():
        for future, count in await send_batches(
            raw_producer(), ALERTS, partition, records, EVENT_HEADERS
        ):
            future.add_done_callback(lambda f, n=count: _sent(f, n))  # type: ignore[misc]


def _sent(future: Any, count: int) -> None:
    if future.cancelled() or future.exception() is not None:
        log.error("%d alerts were not written to %s: %s", count, ALERTS, future.exception())
        return
    counters.alerts_sent += count


def _watch(store: bytes, state: AlertState, profile: Profile) -> None:
    """Look at the store again once its silence could count: the gap of wall-clock time
    after its newest poll is the earliest (business time runs no faster); the exact
    instant is worked out then, not for every poll. An alert held for the store's opening
    keeps the slot (polls while it is closed do not drop it)."""
    held = states.due_of(store)
    if held is not None and held.held is not None:
        return
    gap = int(settings.silent_after_s * 1_000_000)
    states.set_due(store, Due(state.newest_poll_us + gap, state.newest_poll_us, None))


def _raise(
    store: bytes, alert: Alert, profile: Profile, now: int, state: AlertState
) -> bytes | None:
    """The alert's event to send now, or None when it is held for the store's opening
    (in the store's one due slot: a closed store cannot fall silent before it opens, and
    its silence is looked at again once the held alert is)."""
    if in_hours(profile, now):
        return cloud_event(alert, store.decode(), profile.zone, SOURCE)
    opening = next_business_us(profile, now)
    if opening is not None:  # hold it: sent at the opening if it still holds then
        states.set_due(store, Due(opening, state.newest_poll_us, alert))
    return None


async def _send(store: bytes, alert: Alert, profile: Profile) -> None:
    await alerts_topic.send(
        key=store,
        value=cloud_event(alert, store.decode(), profile.zone, SOURCE),
        headers=list(EVENT_HEADERS),
    )
    counters.alerts_sent += 1


def _holds(alert: Alert, state: AlertState | None) -> bool:
    """Whether a held alert is still true of the store."""
    if state is None:
        return False
    if alert.kind == DOWN:
        return not state.active and state.incident_start == alert.incident_start
    return state.active


@app.timer(interval=settings.alert_check_every_s)  # type: ignore[untyped-decorator]  # faust's is untyped
async def check_due() -> None:
    """Stores that fell silent, and alerts held until their store opened."""
    now = _now_us()
    horizon = now - int(settings.alert_max_age_s * 1_000_000)
    for store, due in states.pop_due(now):
        state = states.get(store)
        if state is None:
            continue  # the store moved away
        profile = _profile(store)
        if due.held is not None:  # the store opened: is what it held still true?
            if _holds(due.held, state):
                await _send(store, due.held, profile)
            _watch(store, state, profile)  # the silence check the held alert stood in for
            continue
        if state.newest_poll_us != due.since_us or due.at_us < horizon:
            continue  # a newer poll came, or it is old news
        silent = silent_from(profile, due.since_us, int(settings.silent_after_s * 1_000_000))
        if silent is None:
            continue  # no business time within a week: nothing to count
        if silent > now:  # closed time in between: not silent yet
            states.set_due(store, Due(silent, due.since_us, None))
            continue
        if not in_hours(profile, now):
            opening = next_business_us(profile, now)
            if opening is not None:
                states.set_due(store, Due(opening, due.since_us, None))
            continue
        await _send(store, Alert(SILENT, silent, None, since_us=due.since_us), profile)


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust types the sender positional-only
async def _forget_moved(sender: Any, *_: Any, signal: Any = None, **__: Any) -> None:
    states.forget(set(owned_partitions()), home_partition)
