"""The core stays pure: no Kafka, Faust, RocksDB or HTTP import anywhere under it."""

from __future__ import annotations

import ast
import subprocess
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


ROOT = CORE.parents[1]
LAYERS = {"storemon": 3, "api": 2, "replay": 2, "streams": 1}
"""Each package's layer: a package imports only packages of lower layers (and itself)."""


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_layers_point_down() -> None:
    """tooling (storemon) → api, replay → streams → streams.core, and never back up."""
    offenders = []
    for package, layer in LAYERS.items():
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, package
        for path in files:
            for name in _imports(path):
                top = name.split(".")[0]
                if top in LAYERS and top != package and LAYERS[top] >= layer:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_circles() -> None:
    """No module reaches itself through imports, function-level ones included: what two
    modules share lives below both (e.g. ``streams/app.py`` and ``streams/counters.py``
    for the agents)."""
    modules = {_module(p): p for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py")}
    graph = {
        name: {i for i in _imports(path) if i in modules and i != name}
        for name, path in modules.items()
    }
    for name, path in modules.items():  # ``from package import module`` names a module
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named = {f"{node.module}.{a.name}" for a in node.names}
                graph[name] |= named & modules.keys() - {name}
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" → ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    assert len(modules) > 50
    assert circles == []


def test_nothing_refers_to_a_folder_beside_the_repository() -> None:
    """The repository stands alone: its sample data and its semantics are inside it."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    needle = "../" + "shared"
    offenders = [
        name
        for name in tracked
        if (ROOT / name).is_file()
        and (ROOT / name).suffix not in {".png", ".csv"}
        and needle in (ROOT / name).read_text(errors="replace")
    ]
    assert offenders == []
