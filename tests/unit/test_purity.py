"""The core stays pure: no Kafka, Faust, RocksDB or HTTP import anywhere under it."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "streams" / "core"
FORBIDDEN = {"faust", "mode", "aiokafka", "rocksdict", "fastapi", "uvicorn", "starlette", "kafka"}


def test_core_imports_no_io_framework() -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert len(list(CORE.rglob("*.py"))) >= 8
    assert offenders == []
