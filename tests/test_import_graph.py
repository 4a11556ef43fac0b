"""The shape of the code, read from the code (nothing is imported): imports flow one way, imports
inside functions are only for heavy or optional dependencies and say so, every subpackage says
what it is for and what it exports, and no module grows past about 300 lines.

Why a test: a cycle or a deferred import that only dodges one creeps back one convenient import
at a time, and each makes the next maintainer follow one more module to understand one.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Top-level folders -> packages, as pyproject.toml maps them.
PACKAGES = {"paragrid": "paragrid", "features": "paragrid.features", "models": "paragrid.models",
            "grid": "paragrid.grid", "analysis": "paragrid.analysis"}
MAX_LINES = 300
# What an import inside a function may be for, written beside it ("# heavy: torch").
REASONS = ("# heavy:", "# optional:")


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported paragrid module, line, inside a function) for each import of one module."""
    tree = ast.parse(path.read_text(), str(path))
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.append((target, node.lineno, id(node) in inside))
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {t for t, _, _ in imports(name, path, set(mods))} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    out.append(sorted(group))
    return out


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def deferred_without_reason(path: Path) -> list[str]:
    """Imports written inside a function without the reason beside them."""
    source = path.read_text()
    lines, tree = source.splitlines(), ast.parse(source)
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    return [f"{where}:{n.lineno} {lines[n.lineno - 1].strip()}"
            for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))
            and not any(r in lines[n.lineno - 1] for r in REASONS)]


def test_imports_inside_functions_are_heavy_or_optional_and_say_so():
    """Only torch, Ray, Optuna, mlflow, openSMILE, the report stack and what imports them are
    imported inside a function, each with the reason beside it; everything else at the top."""
    assert [bare for path in modules().values() for bare in deferred_without_reason(path)] == []


def test_the_deferred_import_check_sees_a_bare_one(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import json\n    import torch  # heavy: torch\n")
    assert [line.split(" ", 1)[1] for line in deferred_without_reason(module)] == ["import json"]


def test_every_subpackage_says_what_it_is_for_and_exports():
    missing = []
    for path in sorted(p for folder in PACKAGES for p in (REPO / folder).rglob("__init__.py")):
        tree = ast.parse(path.read_text())
        exported = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
                       for n in tree.body)
        has_modules = any(p.suffix == ".py" and p.name != "__init__.py" for p in path.parent.iterdir())
        if not ast.get_docstring(tree):
            missing.append(f"{path.relative_to(REPO)}: no docstring")
        elif path.parent.name in ("grid", "analysis", "features", "models"):
            continue  # the stages: a docstring naming their subpackages (importing them would be heavy)
        elif has_modules and not exported:
            missing.append(f"{path.relative_to(REPO)}: no __all__")
    assert missing == []


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_modules_stay_short(folder):
    long = [f"{p.relative_to(REPO)}: {n} lines" for p in sorted((REPO / folder).rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == []
