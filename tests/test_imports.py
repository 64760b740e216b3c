"""The house: imports point down the data flow, no circles, no private names across rooms, small rooms.

Read from the source with ``ast`` (imports at the top of a module and inside functions alike),
so an upward import fails here even where it would only run on some code path.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mer_zoo"
SUBPACKAGES = ("audio", "features", "store", "pipeline", "export")

# The data flow, bottom first: a room imports only rooms of its own layer or below.
LAYERS: list[tuple[str, ...]] = [
    ("version", "errors"),
    ("registry", "config", "scales", "metrics", "normalize"),
    ("datasets",),
    ("audio",),
    ("features",),
    ("store",),
    ("pipeline",),
    ("folds", "splits", "augment", "batch", "data", "tasks", "models", "plots"),
    ("runs",),
    ("tracking",),
    ("training", "compare"),
    ("bench", "export", "tune"),
    ("evaluate", "predict"),
    ("cli",),
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}
MAX_MODULES = 12
MAX_LINES = 350


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _room(module: str) -> str:
    """The room of a dotted name: ``mer_zoo.store.reader`` -> ``store``; the facade is ``mer_zoo``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mer_zoo"


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """Every ``mer_zoo`` import in a module: (module, imported name or None, line)."""
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("mer_zoo"):
            for alias in node.names:
                # `from mer_zoo import data` imports the room `data`
                target = f"{node.module}.{alias.name}" if node.module == "mer_zoo" else node.module
                found.append((target, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("mer_zoo")]
    return found


def _room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _modules():
        source = _room(_name(path))
        for target, _, _ in _imports(path):
            if _room(target) not in (source, "mer_zoo"):
                graph[source].add(_room(target))
    return graph


def test_every_room_has_a_place_in_the_data_flow() -> None:
    rooms = {_room(_name(p)) for p in _modules()} - {"mer_zoo"}
    assert rooms <= set(RANK), f"add {sorted(rooms - set(RANK))} to LAYERS"


def test_imports_point_down_the_data_flow() -> None:
    upward = []
    for path in _modules():
        source = _room(_name(path))
        if source == "mer_zoo":
            continue  # the package facade re-exports from any room
        for target, _, line in _imports(path):
            room = _room(target)
            if room != "mer_zoo" and RANK.get(room, -1) > RANK[source]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({source}) imports {target} ({room})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_rooms_import_each_other_without_circles() -> None:
    graph = _room_graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph.get(start, ())
        )

    circles = sorted(room for room in graph if reaches(room, room, {room}))
    assert not circles, f"rooms in an import circle: {circles}"


@pytest.mark.parametrize(("low", "high"), [("audio", "store"), ("audio", "pipeline"), ("store", "pipeline")])
def test_signal_math_and_the_store_know_nothing_of_what_sits_above(low: str, high: str) -> None:
    assert high not in _room_graph()[low]


def test_no_private_name_is_imported_from_another_room() -> None:
    leaks = []
    for path in _modules():
        source = _room(_name(path))
        for target, name, line in _imports(path):
            private = (name or "").startswith("_") or any(part.startswith("_") for part in target.split(".")[1:])
            if private and not (name or "").startswith("__") and _room(target) != source:
                leaks.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name or target} from {target}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_new_room_names_its_public_api(package: str) -> None:
    module = importlib.import_module(f"mer_zoo.{package}")
    assert module.__all__, f"mer_zoo.{package} has no __all__"
    for name in module.__all__:
        assert not name.startswith("_")
        assert getattr(module, name) is not None


def test_no_subpackage_holds_more_than_a_dozen_modules() -> None:
    crowded = {}
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent == PACKAGE:
            continue
        count = len([p for p in init.parent.glob("*.py") if p.name != "__init__.py"])
        if count > MAX_MODULES:
            crowded[str(init.parent.relative_to(PACKAGE.parent))] = count
    assert not crowded, f"over {MAX_MODULES} modules: {crowded}"


def test_no_module_is_over_350_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE.parent)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"
