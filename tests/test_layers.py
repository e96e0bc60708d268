"""The library's structure: floors that import only downwards, and no import circle.

Every import of one ``affect_lib`` module by another (at the top of a file or inside a function, ``TYPE_CHECKING``
blocks included) is read from the source with :mod:`ast`; a module belongs to the floor of its longest listed
prefix. An import may go to the same floor or below, never above; and no chain of imports may lead back to the
module (or the package) it started from.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "affect_lib"

FLOORS: tuple[tuple[str, ...], ...] = (
    # 0: foundations
    ("affect_lib", "runtime", "progress", "stats", "pool", "kernels"),
    # 1: Part I's privacy analysis, Part II's faces, the shared trainer
    ("privacy", "faces", "train"),
    # 2: datasets: readers, writers, preprocessing (they may use the face detector)
    ("data",),
    # 3: Parts III and IV's networks (built from sizes; they know the corpora's modality names)
    ("models",),
    # 4: what is measured and how data are split
    ("metrics", "protocols", "claims", "expected"),
    # 5: recipes: plain data
    ("recipes",),
    # 6: runs: one function trains a recipe into one run-folder format
    ("runs",),
    # 7: the chapters' jobs and the book's machinery
    ("experiments", "mult_runs", "rehearsal", "chapters"),
    # 8: the command line
    ("commands", "__main__"),
)


def module_names(library: Path = LIBRARY) -> dict[str, Path]:
    names = {}
    for path in library.rglob("*.py"):
        parts = path.relative_to(library.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(names: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: modules of affect_lib it imports}`` (``from affect_lib import x`` counts as importing x)."""
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {t for t in found if t in names and t != name}
    return graph


def floor_of(module: str) -> int:
    rest = module.removeprefix("affect_lib.") if module != "affect_lib" else "affect_lib"
    best = None
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if rest == prefix or rest.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (level, prefix)
    if best is None:
        raise KeyError(f"{module} is on no floor: add it to FLOORS")
    return best[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} (floor {floor_of(a)}) -> {b} (floor {floor_of(b)})"
        for a, targets in graph.items()
        for b in targets
        if floor_of(b) > floor_of(a)
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between rooms: ``affect_lib.<first part>`` (a subpackage or a top-level module)."""

    def room(module: str) -> str:
        return ".".join(module.split(".")[:2])

    rooms: dict[str, set[str]] = {}
    for a, targets in graph.items():
        rooms.setdefault(room(a), set()).update(room(b) for b in targets if room(b) != room(a))
    return rooms


def test_every_module_is_on_a_floor_and_imports_only_downwards():
    graph = import_graph(module_names())
    assert upward_imports(graph) == []


def test_no_import_circle_between_modules_or_rooms():
    graph = import_graph(module_names())
    assert circles(graph) == []
    assert circles(package_graph(graph)) == []


@pytest.mark.parametrize(
    ("files", "upward", "circle"),
    [
        ({"affect_lib/data/x.py": "from affect_lib.recipes import get"}, True, False),
        (
            {
                "affect_lib/runs/a.py": "from affect_lib.runs import b",
                "affect_lib/runs/b.py": "import affect_lib.runs.a",
            },
            False,
            True,
        ),
        (
            {
                "affect_lib/faces/a.py": "from . import b",
                "affect_lib/faces/b.py": "def f():\n    from affect_lib.faces import a",
            },
            False,
            True,
        ),
        ({"affect_lib/runs/a.py": "from affect_lib.data import mult"}, False, False),
    ],
)
def test_the_checks_catch_planted_defects(tmp_path, files, upward, circle):
    """A planted upward import (also inside a function) or circle (also by a relative import) is found."""
    base = {"affect_lib/__init__.py": "", "affect_lib/data/__init__.py": "", "affect_lib/data/mult.py": ""}
    base |= {
        "affect_lib/recipes.py": "",
        "affect_lib/runs/__init__.py": "",
        "affect_lib/faces/__init__.py": "",
    }
    for rel, text in {**base, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    graph = import_graph(module_names(tmp_path / "affect_lib"))
    assert bool(upward_imports(graph)) is upward
    assert bool(circles(graph)) is circle
