"""Synthetic run folders for the analysis tests, in exactly the layout of docs/FORMATS.md 4 and 5.

The grid that writes real results is built in parallel, so the analysis is tested against
tables made here: every column FORMATS.md lists, with its type, and numbers with a known
structure (a fold effect shared by all methods, so that pairing matters; a chosen effect per
method and source set; a forgetting effect for PT/FT only, smaller under the linear probe).

Tables carry the contract's newer columns (architecture_origin, init, updates, epoch_cap,
optimizer_steps, source_probe_uar_after, k, fold_scheme, ...) unless `legacy=True`, which
writes them as results from before those columns existed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CLASSES = ["angry", "happy", "neutral", "sad"]

RESULT_SCHEMA = pa.schema([
    ("spec_name", pa.string()), ("spec_hash", pa.string()), ("trial_id", pa.string()),
    ("method", pa.string()), ("sources", pa.string()), ("target", pa.string()),
    ("task", pa.string()), ("budget", pa.int64()), ("repeat", pa.int64()), ("fold", pa.int64()),
    ("val_fold", pa.int64()), ("seed", pa.int64()), ("test_uar", pa.float64()),
    ("val_uar", pa.float64()), ("best_epoch", pa.int64()), ("epochs_run", pa.int64()),
    ("source_uar_before", pa.float64()), ("source_uar_after", pa.float64()),
    ("n_train", pa.int64()), ("n_val", pa.int64()), ("n_test", pa.int64()),
    ("classes", pa.string()), ("confusion", pa.string()), ("normalisation", pa.string()),
    ("layers", pa.int64()), ("width", pa.int64()), ("activation", pa.string()),
    ("dropout", pa.float64()), ("lr", pa.float64()), ("optimizer", pa.string()),
    ("batch_size", pa.int64()), ("max_epochs", pa.int64()), ("patience", pa.int64()),
    ("wall_s", pa.float64()), ("node", pa.string()), ("device", pa.string()),
    ("k", pa.int64()), ("fold_scheme", pa.string()), ("architecture_origin", pa.string()),
    ("architecture_file", pa.string()), ("init", pa.string()), ("updates", pa.string()),
    ("epoch_cap", pa.int64()), ("optimizer_steps", pa.int64()),
    ("source_probe_uar_after", pa.float64()), ("pack_id", pa.string()), ("pack_size", pa.int64()),
])
NEW_COLUMNS = ["k", "fold_scheme", "architecture_origin", "architecture_file", "init", "updates",
               "epoch_cap", "optimizer_steps", "source_probe_uar_after", "pack_id", "pack_size"]
CURVE_SCHEMA = pa.schema([
    ("trial_id", pa.string()), ("method", pa.string()), ("sources", pa.string()),
    ("target", pa.string()), ("budget", pa.int64()), ("repeat", pa.int64()), ("fold", pa.int64()),
    ("epoch", pa.int64()), ("train_loss", pa.float64()), ("val_uar", pa.float64()),
    ("test_uar", pa.float64()),
])

# Default effects on UAR (added to a base of 0.55), per (method, source kind).
EFFECTS = {("dnn", "none"): 0.0, ("ptft", "speaker"): 0.005, ("prognet", "speaker"): 0.04,
           ("ptft", "gender"): 0.0, ("prognet", "gender"): 0.01, ("prognet", "speaker+gender"): 0.03,
           ("ptft", "cross"): 0.02, ("prognet", "cross"): 0.03}


def trial_id(*coords) -> str:
    return hashlib.sha1("|".join(map(str, coords)).encode()).hexdigest()[:12]


def _confusion(rng: np.random.Generator, uar: float, n_test: int) -> list[list[int]]:
    per_class = [n_test // 4 + (1 if c < n_test % 4 else 0) for c in range(4)]
    rows = []
    for c, n in enumerate(per_class):
        right = int(round(np.clip(uar + rng.normal(0, 0.03), 0, 1) * n))
        wrong = rng.multinomial(n - right, [1 / 3] * 3).tolist()
        rows.append(wrong[:c] + [right] + wrong[c:])
    return rows


def build_results(targets=("synth-a", "synth-b"), para_sources=("speaker", "gender"),
                  multi_source: bool = False, cross_budgets=(1, 2, 4, 8), k: int = 10,
                  repeats: int = 3, seed: int = 0, effects: dict | None = None,
                  n_per_corpus: int = 400, max_epochs: int = 60, curve_stride: int = 10,
                  task: str = "emotion", origin: str = "spec",
                  fold_scheme: str = "speaker-stratified", legacy: bool = False,
                  cap_bound: dict | None = None, one_class: dict | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, curves) DataFrames of a complete synthetic grid.

    Best epochs stay below 90 % of the cap except in `cap_bound` cells: {(method, sources,
    target, budget): n} puts the best epoch of the first n folds of every repeat at the cap.
    `one_class` ({same key: n}) makes the first n folds of every repeat predict one class.
    """
    cap_bound, one_class = cap_bound or {}, one_class or {}
    effects = {**EFFECTS, **(effects or {})}
    rng = np.random.default_rng(seed)
    full = k - 2
    trials = []  # (method, sources, target, budget, effect key)
    for target in targets:
        budgets = sorted({full, *cross_budgets}) if cross_budgets else [full]
        for b in budgets:
            trials.append(("dnn", "none", target, b, ("dnn", "none")))
        for s in para_sources:
            for m in ("ptft", "prognet"):
                trials.append((m, s, target, full, (m, s)))
        if multi_source:
            trials.append(("prognet", "speaker+gender", target, full, ("prognet", "speaker+gender")))
        for other in targets:
            if other == target:
                continue
            for b in cross_budgets:
                for m in ("ptft", "prognet"):
                    trials.append((m, f"{task}@{other}", target, b, (m, "cross")))
    # Shared structure: fold difficulty per (target, budget, repeat, fold), the same for every method.
    fold_effect = {}
    rows, curves = [], []
    for method, sources, target, budget, ekey in trials:
        for r in range(repeats):
            tid = trial_id(method, sources, target, task, budget, r)
            wall = float(rng.uniform(5, 50))
            for f in range(k):
                fe = fold_effect.setdefault((target, budget, r, f), rng.normal(0, 0.02))
                budget_penalty = 0.01 * (full - budget)
                uar = float(np.clip(0.55 + effects[ekey] + fe - budget_penalty
                                    + rng.normal(0, 0.004), 0.25, 1.0))
                n_test = n_per_corpus // k + (f % 3) - 1
                n_val = n_per_corpus // k + ((f + 1) % k % 3) - 1
                n_train = budget * (n_per_corpus // k)
                before = after = None
                if sources != "none":
                    before = 0.93 if "gender" in sources else (0.6 if "@" in sources else 0.5)
                    after = before - 0.25 if method == "ptft" else before
                best = min(int(rng.integers(10, max_epochs + 1)), int(0.9 * max_epochs))
                key = (method, sources, target, budget)
                if f < cap_bound.get(key, 0):
                    best = max_epochs
                confusion = _confusion(rng, uar, n_test)
                if f < one_class.get(key, 0):  # every utterance predicted as the first class
                    confusion = [[sum(row), 0, 0, 0] for row in confusion]
                rows.append({
                    "spec_name": "synthetic", "spec_hash": "0123abcd", "trial_id": tid,
                    "method": method, "sources": sources, "target": target, "task": task,
                    "budget": budget, "repeat": r, "fold": f, "val_fold": (f + 1) % k,
                    "seed": seed * 1000 + r, "test_uar": uar, "val_uar": uar + 0.01,
                    "best_epoch": best, "epochs_run": max_epochs,
                    "source_uar_before": before, "source_uar_after": after,
                    "n_train": n_train, "n_val": n_val, "n_test": n_test,
                    "classes": json.dumps(CLASSES),
                    "confusion": json.dumps(confusion),
                    "normalisation": "corpus", "layers": 4, "width": 256, "activation": "sigmoid",
                    "dropout": 0.5, "lr": 5e-4, "optimizer": "adam", "batch_size": 256,
                    "max_epochs": max_epochs, "patience": None, "wall_s": wall,
                    "node": "node-1", "device": "cpu",
                    "k": k, "fold_scheme": fold_scheme, "architecture_origin": origin,
                    "architecture_file": None if origin == "spec" else "best.yaml",
                    "init": "glorot-uniform", "updates": "per-epoch", "epoch_cap": max_epochs,
                    "optimizer_steps": max_epochs * max(1, budget // 2),
                    "source_probe_uar_after": None if before is None else
                    (before - 0.05 if method == "ptft" else before),
                    "pack_id": f"pack-{target}-{r}", "pack_size": 3,
                })
                tau = {"dnn": 25.0, "ptft": 10.0, "prognet": 18.0}[method]
                epochs = list(range(curve_stride, max_epochs + 1, curve_stride))
                if epochs[-1] != max_epochs:
                    epochs.append(max_epochs)
                for e in epochs:
                    level = 0.25 + (uar - 0.25) * (1 - np.exp(-e / tau))
                    curves.append({"trial_id": tid, "method": method, "sources": sources,
                                   "target": target, "budget": budget, "repeat": r, "fold": f,
                                   "epoch": e, "train_loss": float(1.4 * np.exp(-e / 30)),
                                   "val_uar": float(level + 0.01),
                                   "test_uar": float(level + rng.normal(0, 0.005))})
    results = pd.DataFrame(rows)
    if legacy:
        results = results.drop(columns=NEW_COLUMNS)
    return results, pd.DataFrame(curves)


def write_tables(rundir: Path, results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Path:
    """Write results.parquet (and curves.parquet) into rundir with the FORMATS.md schemas."""
    rundir = Path(rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    # Tests drop columns on purpose to check the errors: keep the schema of what is there.
    schema = pa.schema([f for f in RESULT_SCHEMA if f.name in results.columns])
    pq.write_table(pa.Table.from_pandas(results, schema=schema, preserve_index=False),
                   rundir / "results.parquet")
    if curves is not None:
        pq.write_table(pa.Table.from_pandas(curves, schema=CURVE_SCHEMA, preserve_index=False),
                       rundir / "curves.parquet")
    return rundir


def write_trials_csv(rundir: Path, n: int = 12, seed: int = 0,
                     corpora=("synth-a", "synth-b")) -> Path:
    """RUNDIR/tune/trials.csv as `paragrid tune` merges it: a `corpus` column, then Optuna's
    number, value, state, params_*, and the tuner's extras; trial 0 is the paper's architecture."""
    rng = np.random.default_rng(seed)
    parts = []
    for corpus in corpora:
        parts.append(pd.DataFrame({
            "corpus": corpus, "number": np.arange(n),
            "value": np.clip(0.5 + rng.normal(0, 0.03, n), 0, 1),
            "state": rng.choice(["COMPLETE", "COMPLETE", "PRUNED"], n),
            "params_layers": rng.integers(1, 6, n),
            "params_width": rng.choice([64, 128, 256, 512], n),
            "params_lr": 10 ** rng.uniform(-4, -2, n),
            "params_activation": rng.choice(["sigmoid", "relu"], n),
            "duration_s": rng.uniform(1, 9, n), "epochs": rng.integers(10, 60, n),
            "last_val_uar": np.clip(0.5 + rng.normal(0, 0.03, n), 0, 1),
            "baseline": np.arange(n) == 0,
        }))
    path = Path(rundir) / "tune" / "trials.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


def paired_results(diffs: dict[str, list[float]], k: int = 3, repeats: int = 2,
                   target: str = "synth-a", sources: str = "speaker", **kw) -> pd.DataFrame:
    """Results of one target where each transfer method's fold UARs are the DNN's plus exact,
    chosen differences (in (repeat, fold) order), so test statistics can be checked by hand.

    diffs: method ('ptft' / 'prognet') -> k·repeats differences to the DNN.
    """
    results, _ = build_results(targets=(target,), para_sources=(sources,), cross_budgets=(),
                               k=k, repeats=repeats, n_per_corpus=100 * k, **kw)
    results = results.sort_values(["method", "repeat", "fold"]).reset_index(drop=True)
    dnn = results[results["method"] == "dnn"]
    base = 0.5 + 0.01 * dnn["fold"].to_numpy() + 0.002 * dnn["repeat"].to_numpy()
    results.loc[dnn.index, "test_uar"] = base
    for method in ("ptft", "prognet"):
        idx = results.index[(results["method"] == method) & (results["sources"] == sources)]
        d = np.asarray(diffs.get(method, np.zeros(len(idx))), dtype=float)
        assert len(d) == len(idx), f"need {len(idx)} differences for {method}"
        results.loc[idx, "test_uar"] = base + d
    return results
