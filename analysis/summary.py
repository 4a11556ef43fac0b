"""Per-cell summary statistics, computed the way the paper reports them.

The paper's "0.657 ± 0.018" is *not* the mean and std over all 100 folds: per repeat it takes
the mean and the standard deviation of that repeat's ten fold UARs, then averages each of the
two over the repeats ("mean ± mean within-repeat std"). The std uses ddof = 1 (sample std). A
repeat with a single finished fold has no std and is left out of the std average only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paragrid.analysis.cells import CELL, cross_corpus_source, method_rank, sources_key
from paragrid.analysis.stats import repeat_mean_std

SUMMARY_COLUMNS = CELL + [
    "kind", "n_repeats", "n_folds", "folds_per_repeat_min", "folds_per_repeat_max",
    "uar_mean", "uar_std", "n_std_repeats", "uar_std_of_repeat_means",
    "source_uar_before", "source_uar_after", "forgetting", "n_source_folds",
    "val_uar_mean", "best_epoch_mean", "n_test_mean", "n_train_mean",
]


def cell_kind(sources: str, target: str, task: str, method: str) -> str:
    """'baseline' (no source), 'crosscorpus' (Experiment 2) or 'transfer' (Table 2 rows)."""
    if sources == "none" or method == "dnn":
        return "baseline"
    return "crosscorpus" if cross_corpus_source(sources, target, task) else "transfer"


def _mean_or_nan(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else float("nan")


def summarise_cell(rows: pd.DataFrame) -> dict:
    per_repeat = [repeat_mean_std(g["test_uar"].to_numpy()) for _, g in rows.groupby("repeat")]
    means = np.array([m for m, _ in per_repeat])
    stds = np.array([s for _, s in per_repeat])
    fold_counts = rows.groupby("repeat")["fold"].nunique()
    out = {
        "n_repeats": len(per_repeat),
        "n_folds": len(rows),
        "folds_per_repeat_min": int(fold_counts.min()),
        "folds_per_repeat_max": int(fold_counts.max()),
        "uar_mean": float(means.mean()),
        "uar_std": float(np.nanmean(stds)) if np.isfinite(stds).any() else float("nan"),
        "n_std_repeats": int(np.isfinite(stds).sum()),
        "uar_std_of_repeat_means": float(means.std(ddof=1)) if len(means) >= 2 else float("nan"),
    }
    before = pd.to_numeric(rows.get("source_uar_before"), errors="coerce") \
        if "source_uar_before" in rows else pd.Series(np.nan, index=rows.index)
    after = pd.to_numeric(rows.get("source_uar_after"), errors="coerce") \
        if "source_uar_after" in rows else pd.Series(np.nan, index=rows.index)
    both = before.notna() & after.notna()
    out["source_uar_before"] = _mean_or_nan(before)
    out["source_uar_after"] = _mean_or_nan(after)
    out["forgetting"] = float((before[both] - after[both]).mean()) if both.any() else float("nan")
    out["n_source_folds"] = int(both.sum())
    for name, col in [("val_uar_mean", "val_uar"), ("best_epoch_mean", "best_epoch"),
                      ("n_test_mean", "n_test"), ("n_train_mean", "n_train")]:
        out[name] = _mean_or_nan(rows[col]) if col in rows else float("nan")
    return out


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (task, target, sources, method, budget), in table order."""
    records = []
    for key, rows in results.groupby(CELL, sort=False):
        rec = dict(zip(CELL, key))
        rec["kind"] = cell_kind(rec["sources"], rec["target"], rec["task"], rec["method"])
        rec.update(summarise_cell(rows))
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    return sort_cells(df)


def sort_cells(df: pd.DataFrame) -> pd.DataFrame:
    order = df.apply(lambda r: (r["task"], r["target"], sources_key(r["sources"], r["target"], r["task"]),
                                method_rank(r["method"]), -int(r["budget"])), axis=1)
    return df.iloc[sorted(range(len(df)), key=lambda i: order.iloc[i])].reset_index(drop=True)
