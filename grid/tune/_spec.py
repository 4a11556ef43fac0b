"""The spec as `paragrid tune` reads it: the grid spec, its `tune:` block and the CLI overrides.

Why a module of its own: the grid's validator (grid/spec/) and the tuning block's validator
(grid/spec/_search_space.py) each own their keys, so the `tune:` block is taken off before the grid
validator sees the rest; and the command-line overrides (--num-samples, ...) are merged here,
once, into one typed `TuneSettings`, before Ray or Optuna is imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from paragrid.errors import UserError
from paragrid.grid.spec import Spec, TuneSettings, parse_tune_block, read_spec, validate as validate_spec


def load_tuning_spec(spec: str | Path, features_dir: str | Path | None = None):
    """(Spec, raw `tune:` block) of a spec file or built-in name: the grid's own reader, with the
    `tune:` block taken out before the grid's validation (paragrid.grid.spec.read_spec)."""
    source = read_spec(spec)
    tune_raw = source.doc.pop("tune", None)
    parsed = validate_spec(source.doc, origin=source.origin, base=source.base,
                           features_dir=Path(features_dir) if features_dir else None)
    return parsed, tune_raw


def tuning_settings(parsed, tune_raw: Any, overrides: dict[str, Any]) -> TuneSettings:
    """The `tune:` block with the command line's non-None overrides on top, validated."""
    where = f"spec {parsed.origin}"
    optimizer = parsed.training.optimizer
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
    return int(settings.max_epochs or spec.training.max_epochs)


def tune_root(parsed, storage: str | None) -> Path:
    """RUNDIR/tune: a local (or mounted) folder, since the Optuna studies live in SQLite."""
    location = storage or parsed.storage or "runs"
    if "://" in location:
        raise UserError(f"storage {location}: tuning keeps its Optuna study in SQLite and needs a "
                        "local or mounted folder, not a URI; pass --storage DIR")
    return Path(location).expanduser().resolve() / parsed.name / "tune"


@dataclass
class TuningRun:
    """What every study of one `paragrid tune` call shares: the spec and its tune block, the Ray
    resources of one trial and how many run at once, and where the lines go. `trainer` replaces
    a search trial's training (a test hook, see TrialContext.trainer); the scheduler and the
    searcher stay the real ones."""

    spec: Spec
    settings: TuneSettings
    resources: dict[str, float]
    slots: int = 1
    spec_hash: str = ""
    say: Callable[[str], None] = print
    verbose: bool = False
    trainer: Callable | None = None
