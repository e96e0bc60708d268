"""The library's import structure: no import circle, and no import that runs back up its layers.

Layers, top to bottom: the command line (``commands``, ``__main__``); the run glue (``runs``, ``experiments``,
``mult_runs``, ``rehearsal``, ``chapters``); the papers' code and what it stands on (``faces``, ``privacy``,
``models``, ``data``, ``recipes``, ``train``, ``metrics``, ``protocols``, ``claims``, ``expected``); the shared
base (``runtime``, ``progress``, ``stats``, ``pool``). A module may import its own layer or any layer below.
Imports inside functions count: they run too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "affect_lib"
LAYERS = (
    ("commands", "__main__"),
    ("runs", "experiments", "mult_runs", "rehearsal", "chapters"),
    ("faces", "privacy", "models", "data", "recipes", "train", "metrics", "protocols", "claims", "expected"),
    ("runtime", "progress", "stats", "pool"),
)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module level or inside functions), by dotted name."""
    package = root.name
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                # "from package import module" names a module; "from module import name" the module itself
                targets = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name and t.split(".")[0] == package}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected sets of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """Imports from a module to a module of a higher layer, as 'a -> b'. The package itself has no layer."""
    level = {top: i for i, group in enumerate(layers) for top in group}

    def layer(module: str) -> int | None:
        parts = module.split(".")
        return level[parts[1]] if len(parts) > 1 else None

    unknown = sorted({m.split(".")[1] for m in graph if len(m.split(".")) > 1} - set(level))
    assert not unknown, f"modules without a layer: {unknown}"
    return sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if layer(a) is not None and layer(b) is not None and layer(b) < layer(a)
    )


def test_the_library_has_no_import_circle_and_no_upward_import():
    graph = import_graph(ROOT)
    assert len(graph) > 50 and any(graph.values())  # the walk found the package
    assert cycles(graph) == []
    assert upward(graph) == []


def test_the_checks_catch_a_planted_circle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "affect_lib"
    (pkg / "faces").mkdir(parents=True)
    (pkg / "commands").mkdir()
    for path, text in {
        "__init__.py": "",
        "stats.py": "from affect_lib.faces import search\n",  # the base imports a paper's code
        "faces/__init__.py": "",
        "faces/search.py": "from . import crop\n",
        "faces/crop.py": "def f():\n    from affect_lib.faces.search import g\n",  # a circle, inside a function
        "commands/__init__.py": "",
    }.items():
        (pkg / path).write_text(text)
    graph = import_graph(pkg)
    assert cycles(graph) == [["affect_lib.faces.crop", "affect_lib.faces.search"]]
    assert upward(graph) == ["affect_lib.stats -> affect_lib.faces.search"]
