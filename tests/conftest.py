"""Shared fixtures: where the real data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

LOOP_2023 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "loop-2023"


@pytest.fixture(scope="session")
def loop_2023() -> Path:
    """The real 2023 export (full hours and zones, the first 10,000 polls)."""
    if not (LOOP_2023 / "store_status_sample.csv").exists():
        pytest.fail(f"real data not found at {LOOP_2023}: ../shared must sit beside the repo")
    return LOOP_2023
