"""What `paragrid tune` writes: best.yaml with its `tuned:` provenance, trials.csv, summary.json.

best.yaml is the fragment `paragrid run SPEC --architecture best.yaml` takes: `architecture:`
and `training:` blocks, and a `tuned:` block that says how it was chosen, so the grid can record
`architecture_origin` and refuse to apply it silently to another corpus:
    tuned:
      mode: same-corpus          # how the search saw the data (nested mode writes no best.yaml)
      corpus: synth-a            # the corpus it was tuned on
      spec: demo                 # the spec's name, and the hash of the spec as tuned (its own
      spec_hash: 0123abcd...     #   architecture/training, before best.yaml is applied)
      budget: {num_samples: 30, epochs: 600, repeats: 1}
      held_out_fold: 0           # fold of each tuning repeat's split the search never read
      best_trial: 7              # Optuna trial number, and its validation UAR (the objective)
      val_uar: 0.6421
      trials: 30                 # in the study: completed, stopped early by the scheduler
      complete: 9
      stopped_early: 21

summary.json (per corpus, and RUNDIR/tune/summary.json for all) holds the same counts, the
scheduler and grace period, the best trial and the paper architecture's value.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import yaml

from paragrid.features.extract import atomic_write
from paragrid.grid.spec import ARCHITECTURE_KEYS, TRAINING_KEYS

MODES = ("same-corpus", "nested")


@dataclass
class CorpusSummary:
    """The outcome of one corpus's study (the console's last line and summary.json)."""

    corpus: str
    mode: str
    trials: int                     # in the study
    finished: int                   # COMPLETE + PRUNED
    complete: int
    stopped_early: int              # PRUNED by the scheduler (not by a time budget or interrupt)
    failed: int
    scheduler: str                  # e.g. "asha early stopping, grace 150 epochs (...)"
    best_number: int | None = None
    best_value: float | None = None
    best: dict | None = None
    baseline_value: float | None = None
    dir: str = ""
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def tuned_block(*, mode: str, corpus: str, spec_name: str, spec_hash: str, num_samples: int,
                epochs: int, repeats: int, held_out_fold: int | None, summary: CorpusSummary) -> dict:
    """The `tuned:` block of best.yaml (module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    block = {"mode": mode, "corpus": corpus, "spec": spec_name, "spec_hash": spec_hash,
             "budget": {"num_samples": int(num_samples), "epochs": int(epochs), "repeats": int(repeats)}}
    if held_out_fold is not None:
        block["held_out_fold"] = int(held_out_fold)
    block.update(best_trial=summary.best_number, val_uar=round(float(summary.best_value), 6),
                 trials=summary.trials, complete=summary.complete, stopped_early=summary.stopped_early)
    return block


def best_fragment(best: dict, tuned: dict, *, summary: CorpusSummary, objective: str) -> str:
    """best.yaml: the fragment `paragrid run --architecture` takes, with its provenance."""
    arch = {k: best[k] for k in ARCHITECTURE_KEYS}
    training = {k: best[k] for k in TRAINING_KEYS}
    base = f"{summary.baseline_value:.4f}" if summary.baseline_value is not None else "n/a (not completed)"
    corpus = tuned["corpus"]
    head = [
        f"# architecture tuned by `paragrid tune` for target corpus '{corpus}' (spec '{tuned['spec']}')",
        f"# best validation UAR {summary.best_value:.4f} over {summary.complete} completed trials "
        f"({summary.trials} in the study, {summary.stopped_early} stopped early by the scheduler);",
        f"# the paper's Table 1 architecture (trial 0) scored {base} on the same folds.",
        f"# objective: {objective}",
        f"# scheduler: {summary.scheduler}",
        f"# mode {tuned['mode']}: the grid's other folds of the tuning split trained or validated during",
        "# the search, so grid results with this file are optimistic (architecture_origin",
        "# tuned-same-corpus); `paragrid tune --nested` measures the leakage-free figure.",
        f"# use: paragrid run SPEC --architecture {Path('tune', corpus, 'best.yaml')}",
    ]
    body = yaml.safe_dump({"architecture": arch, "training": training, "tuned": tuned}, sort_keys=False)
    return "\n".join(head) + "\n" + body


def summary_line(s: CorpusSummary, best_yaml: Path | None) -> str:
    """The final console line of one corpus: the best trial and, next to it, how many the
    scheduler stopped early."""
    paper = "n/a" if s.baseline_value is None else f"{s.baseline_value:.4f}"
    where = f" -> {best_yaml}" if best_yaml else ""
    return (f"   {s.corpus}: best val UAR {s.best_value:.4f} (trial {s.best_number}); {s.trials} trials: "
            f"{s.complete} completed, {s.stopped_early} stopped early by the scheduler ({s.scheduler}), "
            f"{s.trials - s.complete - s.stopped_early} other (failed, or ended by the time budget); "
            f"paper architecture {paper}{where}")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, doc) -> None:
    write_text(path, json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def merge_trials_csv(tune_root: Path) -> Path | None:
    """RUNDIR/tune/trials.csv: every corpus's trials.csv with a `corpus` column (for the report)."""
    if not tune_root.is_dir():
        return None
    parts = []
    for sub in sorted(p for p in tune_root.iterdir() if p.is_dir()):
        csv = sub / "trials.csv"
        if csv.is_file() and (sub / "optuna.db").is_file():
            df = pd.read_csv(csv)
            df.insert(0, "corpus", sub.name)
            parts.append(df)
    if not parts:
        return None
    out = tune_root / "trials.csv"
    write_text(out, pd.concat(parts, ignore_index=True).to_csv(index=False))
    return out


def merge_summaries(tune_root: Path) -> Path | None:
    """RUNDIR/tune/summary.json: every same-corpus study's summary.json, by corpus."""
    if not tune_root.is_dir():
        return None
    doc = {}
    for sub in sorted(p for p in tune_root.iterdir() if p.is_dir()):
        f = sub / "summary.json"
        if f.is_file() and (sub / "optuna.db").is_file():
            doc[sub.name] = json.loads(f.read_text())
    if not doc:
        return None
    out = tune_root / "summary.json"
    write_json(out, {"mode": "same-corpus", "corpora": doc})
    return out
