"""models/ uses public torch APIs only (issue 14): no `torch._x` attribute, no import of a private
torch module or name. A private function (torch._fused_adam_ was one) can change or vanish in
any torch release without a deprecation."""

import ast
from pathlib import Path

import pytest

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.py"))
ROOTS = ("torch",)


def private_uses(source: str) -> list[str]:
    tree = ast.parse(source)
    aliases = {}   # local name -> dotted torch path it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ROOTS:
                    aliases[(a.asname or a.name).split(".")[0]] = a.asname and a.name or a.name.split(".")[0]
                    if any(p.startswith("_") for p in a.name.split(".")):
                        found.append(a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ROOTS:
            for a in node.names:
                if any(p.startswith("_") for p in node.module.split(".")) or a.name.startswith("_"):
                    found.append(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                parts = list(reversed(chain))
                if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts):
                    found.append(".".join([aliases[base.id], *parts]))
    return found


def test_the_checker_finds_private_uses():
    src = "import torch\nimport torch.nn.functional as F\nfrom torch import _C\ntorch._fused_adam_(1)\nF._x\ntorch.nn.Linear\n"
    assert sorted(private_uses(src)) == sorted(["torch._C", "torch._fused_adam_", "torch.nn.functional._x"])


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_models_use_public_torch_only(path):
    assert private_uses(path.read_text()) == []
