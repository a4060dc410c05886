"""Shared fixtures: where the real data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.sample import LOOP_2023


@pytest.fixture(scope="session")
def loop_2023() -> Path:
    """The real 2023 export (full hours and zones, the first 10,000 polls)."""
    if not (LOOP_2023 / "store_status_sample.csv").exists():
        pytest.fail(f"the sample export is missing from {LOOP_2023}: the clone is incomplete")
    return LOOP_2023


@pytest.fixture(scope="session")
def sample(loop_2023: Path) -> dict[str, Path]:
    """The sample's three files, as the replay and the offline report take them."""
    return {
        "status": loop_2023 / "store_status_sample.csv",
        "hours": loop_2023 / "menu_hours.csv",
        "timezones": loop_2023 / "timezones.csv",
    }
