"""No lower layer imports a higher one: every import of ours, at any depth in a module (lazy
imports inside functions too), is checked against the layer map below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from infra.settings import ROOT

# Layer -> the layers of ours it may import (besides itself). Read bottom up: the domain is
# pure; the read models know only the domain; infra wires settings, keys, codec, connections
# and logging over them; activities and reports do the side effects and queries; workflows
# orchestrate the domain through activity stubs; audit and commands drive Temporal and the read
# models; simulation and the entry points (worker, starter, auditor, devstack) may use anything.
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "projections": {"domain"},
    "infra": {"domain", "projections"},
    "reports": {"domain", "projections", "infra"},
    "activities": {"domain", "projections", "infra", "reports"},
    "workflows": {"domain", "activities"},
    "audit": {"domain", "projections", "infra", "activities", "workflows"},
    "commands": {"domain", "projections", "infra", "activities", "workflows", "reports", "audit"},
}
TOP = {"simulation", "worker", "starter", "auditor", "devstack"}
OURS = set(ALLOWED) | TOP
# Modules of `commands/` that sit higher than the layer: `demo year` runs the simulation (which
# drives the other commands), so it belongs with it; the verb table is `starter.py`'s own.
MODULE_LAYER = {"commands.demo_year": "simulation", "commands.catalog": "starter"}


def _layer(module: str) -> str:
    for name, layer in MODULE_LAYER.items():
        if module == name or module.startswith(name + "."):
            return layer
    return module.split(".", 1)[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str, set[str]]]:
    """(line, module, the layers it reaches) of every absolute import."""
    found: list[tuple[int, str, set[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, {_layer(a.name)}) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from commands import demo_year` reaches the submodule's layer too
            reached = {_layer(node.module)} | {
                _layer(f"{node.module}.{a.name}") for a in node.names
            }
            found.append((node.lineno, node.module, reached))
    return found


def _sources() -> list[Path]:
    paths = [p for layer in OURS for p in sorted((ROOT / layer).rglob("*.py"))]
    return paths + [ROOT / f"{top}.py" for top in TOP if (ROOT / f"{top}.py").exists()]


def violations() -> list[str]:
    found: list[str] = []
    for path in _sources():
        here = _module_name(path)
        layer = _layer(here)
        if layer in TOP:
            continue
        for line, target, reached in _imports(path):
            if any(there in OURS - ALLOWED[layer] - {layer} for there in reached):
                found.append(f"{path.relative_to(ROOT)}:{line} ({layer}) imports {target}")
    return sorted(found)


def test_no_lower_layer_imports_a_higher_one() -> None:
    assert violations() == []


def test_every_module_belongs_to_a_layer() -> None:
    """A new top-level package must be placed in the map before it can be imported."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - OURS <= {"tests", "bench", "migrations"}


@pytest.mark.parametrize(
    ("layer", "source", "target"),
    [
        ("domain", "domain/x.py", "from infra.settings import ROOT"),
        ("projections", "projections/x.py", "import infra.keys"),
        ("infra", "infra/x.py", "from workflows import search_attributes"),
        ("infra", "infra/x.py", "def f():\n    from commands.demo_year import RESULT_FILE\n"),
        ("workflows", "workflows/x.py", "from projections.tables import clients"),
    ],
)
def test_the_check_finds_an_upward_import(
    layer: str, source: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself, on a copy of the tree with one upward import added."""
    import tests.test_layering as me

    for name in OURS:
        if (ROOT / name).is_dir():
            (tmp_path / name).mkdir()
    (tmp_path / source).write_text(target + "\n", encoding="utf-8")
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert [v.split(" ", 1)[1] for v in violations()] == [f"({layer}) imports {_target(target)}"]


def _target(code: str) -> str:
    node = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Import | ast.ImportFrom))
    if isinstance(node, ast.Import):
        return node.names[0].name
    return f"{node.module}"
