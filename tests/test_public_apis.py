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


def private_uses(trees: dict[Path, ast.Module]) -> list[str]:
    """Every import of a private torch / Ray / Optuna module or name, and every `._name` attribute
    that paragrid does not define itself, as 'file:line what'."""
    own = _own_names(trees)
    found = []
    for path, tree in trees.items():
        where = path.relative_to(REPO) if path.is_absolute() else path
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
    return found


def test_no_private_torch_ray_or_optuna_names():
    found = private_uses(_sources())
    assert not found, "private names of other packages: " + "; ".join(found)


def test_the_check_catches_what_it_is_for():
    """The detector itself, on the private uses this project once had (torch._fused_adam_,
    OptunaSearch._ot_trials, FrozenTrial._trial_id, a private Ray module and name), next to the
    class's own `self._mine`, which is allowed."""
    tree = ast.parse("import torch\nimport torch.nn.functional as F\nfrom ray._private import x\n"
                     "from optuna.trial import _FrozenTrial\nimport ray._raylet\n"
                     "torch._fused_adam_(a)\nsearcher._ot_trials\nt._trial_id\nF._x\n"
                     "self._mine = 1\nself._mine\n")
    found = [f.split(" ", 1)[1] for f in private_uses({Path("x.py"): tree})]
    assert sorted(found) == sorted(["from ray._private import ...", "from optuna.trial import _FrozenTrial",
                                    "import ray._raylet", "._fused_adam_", "._ot_trials", "._trial_id", "._x"])
