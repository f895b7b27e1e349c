"""The house's layout (issue 10, ARCHITECTURE.md): the import graph between ocwwatch's modules
has no cycle and no upward arrow, and the narrow doors stay narrow."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ocwwatch"

# Lower layers never import higher ones; stages of one layer do not import each other.
LAYERS = {
    "errors": 0,
    "clock": 0,
    "urls": 0,
    "validation": 0,
    "models": 0,
    "files": 0,
    "lists": 0,  # a Markdown or HTML document as the list: a parser, like urls
    "text": 0,
    "tls": 0,  # the TLS context, read ahead; the fetcher takes it
    "config": 1,
    "fetch": 1,
    "extract": 1,
    "judge": 1,
    "diff": 1,
    "report": 1,
    "notify": 1,
    "store": 1,
    "crawl": 2,
    "archive": 2,
    "pipeline": 3,
    "record": 3,
    "scheduler": 3,
    "commands": 4,
    "cli": 5,
    "__main__": 6,
}
# Layer-1 stages that may lean on another (the fetcher's URL key is the crawl's too).
ALLOWED_SIDEWAYS: set[tuple[str, str]] = set()
# Within layer 0, the few modules the others build on.
FOUNDATION = {"errors", "models", "urls", "clock"}


def imports_of(path: Path) -> set[str]:
    """Full names of the ocwwatch modules `path` imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ocwwatch"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("ocwwatch"))
    return names


def unit_of(module: str) -> str:
    """`ocwwatch.fetch.client` -> `fetch`; `ocwwatch` alone -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        unit = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for name in imports_of(path):
            target = unit_of(name)
            if target in LAYERS and target != unit:
                edges[unit].add(target)
    return edges


def test_every_unit_has_a_layer() -> None:
    """A new module or package gets a place in the layering before it lands."""
    units = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if not p.name.startswith("_")}
    units.discard("py.typed")
    units -= {"defaults", "schemas", "demo"}  # data, not code
    assert units - set(LAYERS) == set()


def test_no_import_points_upward_or_sideways() -> None:
    """Imports go down the layers; stages of one layer stay out of each other."""
    wrong = []
    for unit, targets in graph().items():
        for target in targets:
            level, other = LAYERS[unit], LAYERS[target]
            sideways = level == other and (unit, target) not in ALLOWED_SIDEWAYS
            if other > level or (sideways and not (level == 0 and target in FOUNDATION)):
                wrong.append(f"{unit} -> {target}")
    assert wrong == []


def test_the_graph_has_no_cycle() -> None:
    """Following imports from any unit never comes back to it."""
    edges = graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [unit for unit in LAYERS if reaches(unit, unit, set())] == []


@pytest.mark.parametrize("module", ["cli.py", "commands.py"])
def test_the_command_layer_holds_no_fetcher_transport_or_event_loop(module: str) -> None:
    """cli and commands only talk: no fetch stage, no httpx, no asyncio."""
    source = (PACKAGE / module).read_text(encoding="utf-8")
    assert {unit_of(name) for name in imports_of(PACKAGE / module)} & {"fetch", "crawl"} == set()
    assert "import asyncio" not in source
    assert "import httpx" not in source


def test_the_crawl_imports_neither_settings_nor_the_store() -> None:
    """The crawl takes option values and a Frontier protocol (its narrow door)."""
    assert graph()["crawl"] & {"config", "store", "pipeline"} == set()
