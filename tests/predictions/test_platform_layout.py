"""The platform's layout rules, checked on the source: no module of ``serweb``, ``predictions`` or ``mlcore``
imports in a circle, counting imports inside functions (a lazy import hides a circle, it does not break it)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import mlcore

ROOT = Path(mlcore.__file__).resolve().parent.parent
PACKAGES = ("serweb", "predictions", "mlcore")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in (the longest dotted prefix that is one of ours)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in modules:
            return ".".join(parts[:k])
    return None


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules it imports anywhere in its source (top level and inside functions)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                names = [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for imported in names:
                target = _target(imported, modules)
                if target and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_the_import_graph_sees_imports_inside_functions() -> None:
    graph = _imports(_modules())

    # predictions.tasks imports retention only inside its task: the graph must still hold that edge.
    assert "predictions.lifecycle.retention" in graph["predictions.tasks"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_in_a_circle() -> None:
    assert _cycles(_imports(_modules())) == []


# ``predictions``' own layers, lowest first: each imports only from its own layer and those below it.
# The data layer (the models and the events they send) imports nothing else of the app; a finished job
# is announced by a signal, not by calling the webhook code.  The entry points (the app config, admin,
# checks, tasks, management commands, template tags) sit on top.
LAYERS = (
    ("data", ("predictions.models", "predictions.signals")),
    ("pipeline", ("predictions.pipeline",)),
    ("reading", ("predictions.reading",)),
    ("lifecycle", ("predictions.lifecycle",)),
    ("web", ("predictions.web", "predictions.api")),
    ("entry points", ("predictions",)),
)


def _layer(module: str) -> int:
    """The rank of a ``predictions`` module (the longest matching prefix decides)."""
    best = max(
        (
            (len(prefix), rank)
            for rank, (_, prefixes) in enumerate(LAYERS)
            for prefix in prefixes
            if module == prefix or module.startswith(prefix + ".")
        ),
    )
    return best[1]


def test_the_platform_imports_downward_layer_by_layer() -> None:
    """``serweb`` -> ``predictions`` -> ``mlcore``, never back; inside ``predictions`` each subpackage
    imports only the layers below it (``web`` -> ``lifecycle`` -> ``reading`` -> ``pipeline`` -> data)."""
    rank = {package: k for k, package in enumerate(PACKAGES)}
    graph = _imports(_modules())
    upward = [
        f"{a} imports {b}"
        for a, targets in graph.items()
        for b in targets
        if rank[b.split(".")[0]] < rank[a.split(".")[0]]
        or (a.startswith("predictions") and b.startswith("predictions") and _layer(b) > _layer(a))
    ]
    assert upward == []
    assert _layer("predictions.models.api") == 0 and _layer("predictions.web.views") == 4
    assert _layer("predictions.tasks") == len(LAYERS) - 1


def test_every_predictions_module_lies_in_a_subpackage_or_is_an_entry_point() -> None:
    """No module lies loose at the top of ``predictions`` except Django's and Celery's entry points, so a
    behaviour's file can be guessed from its subpackage (README, "Where things live")."""
    loose = sorted(p.stem for p in (ROOT / "predictions").glob("*.py"))
    assert loose == ["__init__", "admin", "apps", "checks", "signals", "tasks"]
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `predictions/")]
    for package in ("models", "pipeline", "reading", "lifecycle", "web", "api"):
        named = " ".join(row.split(" | ")[0] for row in rows if row.startswith(f"| `predictions/{package}/`"))
        modules = sorted(p.name for p in (ROOT / "predictions" / package).glob("*.py") if p.stem != "__init__")
        missing = [name for name in modules if f"`{name}`" not in named]
        assert missing == [], f"README's layout table does not name predictions/{package}/: {missing}"


def test_the_browser_scripts_hold_no_copy_of_the_emotions_or_the_percent_and_clock_rules() -> None:
    # Python is the one source (predictions/reading/verdicts.py, mlcore/labels.py): pages get the emotions, the
    # percents, the clock times and the ranking in their JSON; a copy in a script drifts (it did).
    scripts = {p.name: p.read_text() for p in (ROOT / "static" / "js").glob("*.js")}
    assert "charts.js" in scripts and "job.js" in scripts
    copies = {
        name: found
        for name, text in scripts.items()
        if (found := re.findall(r'"neutral",\s*"calm"|function (?:pct|clock)\b|\bS\.(?:pct|clock)\(', text))
    }
    assert copies == {}


def test_each_upload_page_script_drives_its_own_element_and_polls_only_through_poll_status() -> None:
    # upload.js owns #upload-form, record.js the #record section (with its own CSRF token); two scripts
    # on one form fought over its submit once.  Status is polled by Serweb.pollStatus alone (charts.js).
    scripts = {p.name: p.read_text() for p in (ROOT / "static" / "js").glob("*.js")}
    owners = {
        element: sorted(name for name, text in scripts.items() if f'getElementById("{element}")' in text)
        for element in ("upload-form", "record")
    }
    assert owners == {"upload-form": ["upload.js"], "record": ["record.js"]}
    assert "upload-form" not in scripts["record.js"]
    pollers = sorted(name for name, text in scripts.items() if "status_url" in text.lower() or "statusUrl" in text)
    assert pollers and all("pollStatus(" in scripts[name] for name in pollers)
    assert sorted(name for name, text in scripts.items() if "function pollStatus" in text) == ["charts.js"]


def test_no_two_test_modules_share_a_name() -> None:
    # The test folders are not packages: pytest imports every test module by its file name, so two of one
    # name in different folders stop the whole run at collection (it happened twice).
    names = defaultdict(list)
    for path in (ROOT / "tests").rglob("test_*.py"):
        names[path.name].append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
