"""paragrid uses only the public, documented APIs of torch, Ray and Optuna: no private module,
no underscore name imported from them, and no `._name` attribute that paragrid itself does not
define (such as `torch._fused_adam_` or `OptunaSearch._ot_trials`). A private name breaks
without a word on the next upgrade."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("paragrid", "features", "models", "grid", "analysis")
LIBRARIES = ("torch", "ray", "optuna")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _sources() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def _own_names(trees) -> set[str]:
    """Every name paragrid defines: functions, classes, arguments, assigned names and attributes."""
    own: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.alias):
                own.add(node.asname or node.name.split(".")[0])
    return own


def test_no_private_torch_ray_or_optuna_names():
    trees = _sources()
    own = _own_names(trees)
    found = []
    for path, tree in trees.items():
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
                if any(_private(part) for part in node.module.split(".")):
                    found.append(f"{where}:{node.lineno} from {node.module} import ...")
                found += [f"{where}:{node.lineno} from {node.module} import {a.name}"
                          for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Import):
                found += [f"{where}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.split(".")[0] in LIBRARIES and any(_private(p) for p in a.name.split("."))]
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
                found.append(f"{where}:{node.lineno} .{node.attr}")
    assert not found, "private names of other packages: " + "; ".join(found)


def test_the_check_catches_what_it_is_for(tmp_path):
    """The detector itself: the private uses this project once had are found."""
    tree = ast.parse("import torch\nfrom ray._private import x\n"
                     "torch._fused_adam_(a)\nsearcher._ot_trials\nself._mine = 1\nself._mine\n")
    own = _own_names({Path("x.py"): tree})
    attrs = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and _private(n.attr)
             and n.attr not in own]
    assert sorted(attrs) == ["_fused_adam_", "_ot_trials"]
    imports = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and any(_private(p) for p in n.module.split("."))]
    assert imports == ["ray._private"]
