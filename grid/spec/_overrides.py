"""`--architecture`: tuned (or hand-written) architectures per target corpus, and their origin.

Each `--architecture` entry is one of
  * `TARGET=FILE`: FILE's architecture (and training block, if any) for that target only;
  * `FILE`: a best.yaml written by `paragrid tune` applies to the corpus it was tuned on and to
    no other (its `tuned:` block names it); a hand-written fragment without a `tuned:` block
    applies to every target;
  * `FOLDER`: a tune run's folder; each target with a `<FOLDER>/<target>/best.yaml` gets it.
Nothing is applied silently to a corpus it was not tuned on: a tuned file reaches another
target only through an explicit `TARGET=FILE`, and is then recorded as `tuned-on:<corpus>`.
Every result row records `architecture_origin` and `architecture_file` (docs/PROTOCOL.md).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from paragrid.errors import UserError
from paragrid.grid.spec._checks import check_keys as _check_keys, parse_yaml
from paragrid.grid.spec._model import Spec, TargetSettings
from paragrid.grid.spec._validate import parse_architecture, parse_training


def _targets(s: Spec) -> list[str]:
    return list(dict.fromkeys(t for e in s.experiments for t in e.targets))


def _read(path: Path) -> tuple[dict, dict, dict | None]:
    """(architecture keys, training keys, tuned provenance or None) of one file."""
    where = f"--architecture {path}"
    over = parse_yaml(path.read_text(), where)
    tuned = over.pop("tuned", None)
    if tuned is not None and not isinstance(tuned, dict):
        raise UserError(f"{where}: 'tuned' must be a mapping (mode, corpus, ...) as paragrid tune writes it")
    if "architecture" in over or "training" in over:
        _check_keys(over, ("architecture", "training"), where)
        arch, training = over.get("architecture") or {}, over.get("training") or {}
    else:
        arch, training = over, {}
    for name, block in (("architecture", arch), ("training", training)):
        if not isinstance(block, dict):
            raise UserError(f"{where}: '{name}' must be a mapping")
    return arch, training, tuned


def _origin(tuned: dict | None, target: str, path: Path) -> str:
    if tuned is None:
        return "spec"
    mode, corpus = tuned.get("mode"), tuned.get("corpus")
    if mode == "nested":
        raise UserError(f"--architecture {path}: a nested tuning chooses per outer step, not one "
                        "architecture; its outer-test results are in the tune run's results.parquet "
                        "(paragrid report on that folder)")
    if not corpus:
        raise UserError(f"--architecture {path}: its 'tuned' block names no corpus; re-run paragrid tune")
    return "tuned-same-corpus" if corpus == target else f"tuned-on:{corpus}"


def _entries(s: Spec, entry: str) -> list[tuple[str, Path]]:
    """(target, file) pairs one `--architecture` entry stands for."""
    targets = _targets(s)
    name, eq, rest = entry.partition("=")
    if eq and not Path(entry).exists():
        if name not in targets:
            raise UserError(f"--architecture {entry}: '{name}' is not a target of spec {s.origin} "
                            f"(targets: {', '.join(targets)})")
        path = Path(rest)
        if not path.is_file():
            raise UserError(f"--architecture {entry}: no such file {path}")
        return [(name, path)]
    path = Path(entry)
    if path.is_dir():
        found = [(t, c) for t in targets for c in (path / t / "best.yaml", path / "tune" / t / "best.yaml")
                 if c.is_file()]
        found = list({t: (t, c) for t, c in reversed(found)}.values())
        if not found:
            raise UserError(f"--architecture {path}: no <target>/best.yaml in it for targets "
                            f"{', '.join(targets)}; run paragrid tune first or name a file")
        return found
    if not path.is_file():
        raise UserError(f"--architecture {path}: no such file or folder")
    _, _, tuned = _read(path)
    if tuned is None:
        return [(t, path) for t in targets]
    corpus = tuned.get("corpus")
    if corpus not in targets:
        raise UserError(f"--architecture {path} was tuned on '{corpus}', which is not a target of spec "
                        f"{s.origin}; to use it for another corpus write --architecture TARGET={path}")
    return [(corpus, path)]


def apply_architectures(s: Spec, doc: dict, entries: list[str]) -> Spec:
    """The spec with per-target settings from the `--architecture` entries (see module doc)."""
    per_target: dict[str, TargetSettings] = {}
    for entry in entries:
        for target, path in _entries(s, entry):
            if target in per_target:
                raise UserError(f"--architecture: target '{target}' is given two architectures "
                                f"({per_target[target].file} and {path}); keep one")
            arch, training, tuned = _read(path)
            where = f"--architecture {path}"
            _check_keys(arch, tuple(s.architecture.to_dict()), where, prefix="architecture.")
            _check_keys(training, tuple(s.training.to_dict()), where, prefix="training.")
            per_target[target] = TargetSettings(
                architecture=parse_architecture({**s.architecture.to_dict(), **arch}, where),
                training=parse_training({**s.training.to_dict(), **training}, where),
                origin=_origin(tuned, target, path), file=str(path.resolve()))
    return dataclasses.replace(s, per_target=per_target)
