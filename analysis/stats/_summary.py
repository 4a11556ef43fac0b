"""Per-cell summary statistics, computed the way the paper reports them.

The paper's "0.657 ± 0.018" is *not* the mean and std over all 100 folds: per repeat it takes
the mean and the standard deviation of that repeat's ten fold UARs, then averages each of the
two over the repeats ("mean ± mean within-repeat std"). The std uses ddof = 1 (sample std). A
repeat with a single finished fold has no std and is left out of the std average only. (With
leave-one-speaker-out folds there is one repeat: the std is then the std over test speakers.)

Forgetting is measured two ways (both source-task test UARs, folds with a source only):
"source head" = the transferred network under the source model's own output head
(`source_uar_after`), "linear probe" = a linear classifier re-fitted for the source task on the
transferred network's last hidden layer (`source_probe_uar_after`). A large source-head loss with
a small probe loss means the head no longer fits, not that the representation forgot. Results
written before the probe existed have no such column: shown as not measured, never as zero.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from paragrid.analysis.stats._cells import CELL, cell_kind, method_rank, origin_rank, sources_key
from paragrid.analysis.stats._flags import fold_counts as flag_counts
from paragrid.analysis.stats._load import with_feature_set, with_origin
from paragrid.analysis.stats._schemes import design_of
from paragrid.analysis.stats._tests import repeat_mean_std

SUMMARY_COLUMNS = CELL + [
    "kind", "n_repeats", "n_folds", "folds_per_repeat_min", "folds_per_repeat_max",
    "uar_mean", "uar_std", "n_std_repeats", "uar_std_of_repeat_means",
    "source_uar_before", "source_uar_after", "forgetting", "n_source_folds",
    "source_probe_uar_after", "forgetting_probe", "n_probe_folds", "probe_measured",
    "val_uar_mean", "best_epoch_mean", "n_test_mean", "n_train_mean",
    "fold_scheme", "k", "design", "n_classes",
    "n_cap_bound", "n_cap_known", "n_chance", "n_chance_known",
]


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
    before, after, probe = (_numeric(rows, c) for c in
                            ("source_uar_before", "source_uar_after", "source_probe_uar_after"))
    both = before.notna() & after.notna()
    out["source_uar_before"] = _mean_or_nan(before)
    out["source_uar_after"] = _mean_or_nan(after)
    out["forgetting"] = float((before[both] - after[both]).mean()) if both.any() else float("nan")
    out["n_source_folds"] = int(both.sum())
    with_probe = before.notna() & probe.notna()
    out["source_probe_uar_after"] = _mean_or_nan(probe)
    out["forgetting_probe"] = (float((before[with_probe] - probe[with_probe]).mean())
                               if with_probe.any() else float("nan"))
    out["n_probe_folds"] = int(with_probe.sum())
    out["probe_measured"] = "source_probe_uar_after" in rows
    for name, col in [("val_uar_mean", "val_uar"), ("best_epoch_mean", "best_epoch"),
                      ("n_test_mean", "n_test"), ("n_train_mean", "n_train")]:
        out[name] = _mean_or_nan(rows[col]) if col in rows else float("nan")
    design = design_of(rows)
    out.update(fold_scheme=design.scheme, k=design.k, design=design.label(),
               n_classes=_n_classes(rows))
    counts = flag_counts(rows)
    out.update(n_cap_bound=counts.cap_bound, n_cap_known=counts.cap_known,
               n_chance=counts.chance, n_chance_known=counts.chance_known)
    return out


def _numeric(rows: pd.DataFrame, col: str) -> pd.Series:
    if col not in rows:
        return pd.Series(np.nan, index=rows.index, dtype=float)
    return pd.to_numeric(rows[col], errors="coerce").astype(float)


def _n_classes(rows: pd.DataFrame) -> int:
    """Number of target classes (for the chance level 1/n); 0 when the class list is unknown."""
    if "classes" not in rows:
        return 0
    try:
        lengths = {len(json.loads(c)) for c in rows["classes"].dropna().unique()}
    except (TypeError, ValueError):
        return 0
    return lengths.pop() if len(lengths) == 1 else 0


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (task, target, sources, method, budget, origin, feature set), in table order."""
    results = with_feature_set(with_origin(results))
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
                                method_rank(r["method"]), -int(r["budget"]),
                                origin_rank(r["architecture_origin"])), axis=1)
    return df.iloc[sorted(range(len(df)), key=lambda i: order.iloc[i])].reset_index(drop=True)
