"""A whole report computed at once from exports: the offline path, and the reference."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from streams.core.exports import GroupedPolls
from streams.core.report import ReportRow, store_row
from streams.core.rows import HoursRow
from streams.core.schedule import OPEN_24_7, Profile, shifts_of
from streams.core.timeline import Timeline
from streams.core.zones import resolve_zone


class Quality(NamedTuple):
    """Data-quality findings that do not reject a row."""

    invalid_zones: list[str]
    """Store ids whose time zone is not an IANA name (they use America/Chicago)."""


def profiles_of(
    hours: Mapping[str, Iterable[HoursRow]], zones: Mapping[str, str]
) -> dict[str, Profile]:
    """Each store's profile from its hours rows and zone; absent stores are open 24×7."""
    profiles: dict[str, Profile] = {}
    for store_id in hours.keys() | zones.keys():
        profiles[store_id] = Profile(shifts_of(hours.get(store_id, ())), zones.get(store_id))
    return profiles


def quality_of(profiles: Mapping[str, Profile]) -> Quality:
    """What is wrong but tolerated in the profiles."""
    invalid = sorted(
        s for s, p in profiles.items() if p.zone is not None and not resolve_zone(p.zone)[1]
    )
    return Quality(invalid)


def build_timelines(
    polls: GroupedPolls, profiles: Mapping[str, Profile], n_us: int
) -> dict[str, Timeline]:
    """Every store's timeline, good for report time ``n_us``."""
    return {
        store_id: Timeline.for_report(keys, profiles.get(store_id, OPEN_24_7), n_us)
        for store_id, keys in polls.items()
    }


def report_rows(timelines: Mapping[str, Timeline], n_us: int) -> list[ReportRow]:
    """The report's rows at ``n_us``, sorted by store id."""
    rows = []
    for store_id in sorted(timelines):
        row = store_row(store_id, timelines[store_id], n_us)
        if row is not None:
            rows.append(row)
    return rows
