"""The package's layers hold: every import (module level and inside functions) points down, and
no two modules import each other, directly or through others (docs/index.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import adaconv_gen

ROOT = Path(adaconv_gen.__file__).parent

# Areas a module may import, besides itself and the base modules (errors, files).
BASE = {"errors", "files"}
ALLOWED = {
    "nn": set(),
    "data": set(),
    "weights": set(),
    "metrics": {"data", "weights"},
    "models": {"nn", "data", "weights"},
    "training": {"nn", "data", "weights", "models", "metrics"},
    "evaluation": {"nn", "data", "weights", "models", "metrics"},
    "cli": {"nn", "data", "weights", "models", "metrics", "evaluation"},
    "": {"nn"},  # adaconv_gen/__init__.py: the front door re-exports the layers
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("adaconv_gen"):
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found |= subs or {target}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("adaconv_gen")}
    return {t for t in found if t in known and t != name}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def test_the_walker_sees_lazy_imports():
    graph = _graph()
    # a function-level import (cli/eval_stargan.py loads the evaluator inside main)
    assert "adaconv_gen.evaluation.stargan_v2" in graph["adaconv_gen.cli.eval_stargan"]
    assert len(graph) > 60


def test_every_import_points_down():
    wrong = []
    for mod, targets in _graph().items():
        area = _area(mod)
        for t in targets:
            ta = _area(t)
            if ta == area or ta in BASE or ta in ALLOWED[area]:
                continue
            wrong.append(f"{mod} -> {t}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_base_modules_import_no_area():
    graph = _graph()
    for base in BASE:
        assert {_area(t) for t in graph[f"adaconv_gen.{base}"]} <= BASE


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)
