"""mlcore's layout rules, checked on the source: stages import only downward, no import cycle (function-
level imports included), no module past ~400 lines, no Django, and ``__main__`` only dispatches."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import mlcore

ROOT = Path(mlcore.__file__).resolve().parent
# Shared modules at the top, then the stages; a stage may import only from stages of a lower rank.
RANK = {"shared": 0, "data": 1, "models": 1, "features": 2, "serving": 3, "training": 4}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mlcore":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    graph[name].add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name.split(".")[0] == "mlcore"}
    return graph


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "shared"


def test_stages_import_only_from_lower_stages() -> None:
    modules = _modules()
    wrong = [
        f"{a} imports {b}"
        for a, targets in _imports(modules).items()
        for b in targets
        if _stage(a) != _stage(b) and not RANK[_stage(b)] < RANK[_stage(a)] and a != "mlcore.__main__"
    ]
    assert wrong == []


def test_no_module_imports_in_a_circle() -> None:
    graph = _imports(_modules())
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_is_past_the_size_a_reader_takes_in() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_mlcore_never_imports_django_and_main_only_dispatches() -> None:
    modules = _modules()
    for path in modules.values():
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(n.split(".")[0] == "django" for n in names), path
    assert _imports(modules)["mlcore.__main__"] <= {"mlcore.errors"}
