"""The spec as `paragrid tune` reads it: the grid spec, its `tune:` block and the CLI overrides.

Why a module of its own: the grid's validator (grid/spec.py) and the tuning block's validator
(grid/search_space.py) each own their keys, so the `tune:` block is taken off before the grid
validator sees the rest; and the command-line overrides (--num-samples, ...) are merged here,
once, into one typed `TuneSettings`, before Ray or Optuna is imported.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from paragrid.errors import UserError
from paragrid.grid.search_space import TuneSettings, parse_tune_block


def load_tuning_spec(spec: str | Path, features_dir: str | Path | None = None):
    """(Spec, raw `tune:` block) of a spec file or built-in name."""
    from paragrid.grid import spec as gspec

    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            gspec.load_spec(spec)  # raises its one-line UserError
        text, origin, base = path.read_text(), str(path), path.resolve().parent
    elif str(spec) in gspec.builtin_names():
        text = (resources.files("paragrid.grid") / "specs" / f"{spec}.yaml").read_text()
        origin, base = f"built-in {spec}", Path.cwd()
    else:
        gspec.load_spec(spec)  # raises: neither a file nor a built-in spec
        raise AssertionError("unreachable")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        gspec.load_spec(spec)  # raises the grid's own YAML / mapping error
    tune_raw = doc.pop("tune", None)
    parsed = gspec.validate(doc, origin=origin, base=base,
                            features_dir=Path(features_dir) if features_dir else None)
    return parsed, tune_raw


def tuning_settings(parsed, tune_raw: Any, overrides: dict[str, Any]) -> TuneSettings:
    """The `tune:` block with the command line's non-None overrides on top, validated."""
    where = f"spec {parsed.origin}"
    optimizer = parsed.training["optimizer"]
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return parse_tune_block(tune_raw, where, optimizer=optimizer)
    parse_tune_block(tune_raw, where, optimizer=optimizer)  # the file's own errors name the file
    raw = dict(tune_raw or {})
    raw.update(given)
    return parse_tune_block(raw, f"options for spec {parsed.origin}", optimizer=optimizer)


def tuning_targets(spec, targets: list[str] | None = None) -> list[str]:
    """The corpora to tune: `targets` if given (each must be a corpus of the spec), else every
    target corpus of the spec's experiments, in order of first appearance."""
    if targets:
        unknown = [t for t in targets if t not in spec.corpora]
        if unknown:
            raise UserError(f"--target {unknown[0]}: not a corpus of spec {spec.name}; "
                            f"corpora: {', '.join(spec.corpora)}")
        return list(dict.fromkeys(targets))
    out: list[str] = []
    for exp in spec.experiments:
        out += [t for t in exp.targets if t not in out]
    return out


def max_epochs_of(spec, settings: TuneSettings) -> int:
    """Epochs a tuning trial trains at most: tune.max_epochs, else the spec's."""
    return int(settings.max_epochs or spec.training["max_epochs"])


def tune_root(parsed, storage: str | None) -> Path:
    """RUNDIR/tune: a local (or mounted) folder, since the Optuna studies live in SQLite."""
    location = storage or parsed.storage or "runs"
    if "://" in location:
        raise UserError(f"storage {location}: tuning keeps its Optuna study in SQLite and needs a "
                        "local or mounted folder, not a URI; pass --storage DIR")
    return Path(location).expanduser().resolve() / parsed.name / "tune"
