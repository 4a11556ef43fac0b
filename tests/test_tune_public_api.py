"""The tuning modules use only public names of torch, Ray and Optuna (issue 14, item 4).

Checked on the source (AST), so it cannot miss a code path the other tests do not run:
  * no import of a private module (`ray._private`, `ray.air._internal`, `optuna._x`, ...) and
    no private name imported from any module;
  * no access to an underscore attribute (`obj._foo`: `OptunaSearch._ot_trials`,
    `FrozenTrial._trial_id`, `torch._fused_adam_`), except `self._x` where this same file
    defines `_x` (a class's own helper, not a library's internals).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

GRID = Path(__file__).resolve().parent.parent / "grid"
FILES = sorted([*GRID.glob("tune*.py"), GRID / "nested.py", GRID / "search_space.py"])


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(source: str) -> list[str]:
    tree = ast.parse(source)
    own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    own |= {t.attr for n in ast.walk(tree) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Attribute)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if any(_private(part) for part in node.module.split(".")):
                out.append(f"line {node.lineno}: from {node.module} import ...")
            out += [f"line {node.lineno}: imports {a.name} from {node.module}"
                    for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            out += [f"line {node.lineno}: import {a.name}" for a in node.names
                    if any(_private(part) for part in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            mine = isinstance(node.value, ast.Name) and node.value.id == "self" and node.attr in own
            if not mine:
                out.append(f"line {node.lineno}: .{node.attr}")
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_private_name_of_a_library(path):
    assert violations(path.read_text()) == []


def test_the_check_catches_what_the_old_tuner_did():
    old = ("from ray.tune.search.optuna import OptunaSearch\n"
           "from ray._private import utils\n"
           "def f(search, storage, t, torch):\n"
           "    trial = search._ot_trials.get('x')\n"
           "    storage.set_trial_state_values(t._trial_id, 1)\n"
           "    torch._fused_adam_([])\n")
    found = violations(old)
    assert len(found) == 4 and any("_ot_trials" in v for v in found) and any("_trial_id" in v for v in found)
    ok = "class A:\n    def _helper(self):\n        return 1\n    def run(self):\n        return self._helper()\n"
    assert violations(ok) == []
