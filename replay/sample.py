"""The sample export shipped with the project (``replay/samples/``)."""

from __future__ import annotations

from pathlib import Path

LOOP_2023 = Path(__file__).resolve().parent / "samples" / "loop-2023"
"""The real 2023 export: full hours and zones, the first 10,000 polls."""
