"""Which method beats which: pairing folds, running the tests, and the `*` / `†` markers.

A paired test is only valid when both methods were scored on the *same* test folds of the same
fold splits. Rows are therefore paired on (task, target, budget, origin, repeat, fold) and then
checked: the seed (which fixes the fold split), the validation fold, the fold scheme and the
fold sizes must agree, or the report refuses to compare them. Folds that only one method has
finished yet (a grid still running) are simply not paired; the count of pairs is reported with
every p-value.

Comparisons made, per (task, target, budget, architecture origin) and source set S:
  every method on S vs the DNN (sources 'none'), and every two methods on S against each other.
Cells of different architecture origins are never compared or pooled (a tuned-same-corpus
architecture is optimistic; its DNN is the baseline of its own transfer rows).
Which test drives the markers depends on the fold scheme (analysis/stats/_schemes.py): the
chosen repeated-CV test for k-fold CV (by default the calibrated test on 10 x 10 folds, the
corrected test on any other design), the chosen paired test over
speakers (paired t or Wilcoxon) for leave-one-speaker/session-out. Markers (the paper's): `*`
significantly better than the DNN; `†` significantly better than every other method it is
compared with (DNN and the other method(s) on the same S; at least two).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from paragrid.analysis.stats._bootstrap import LEVEL as BOOTSTRAP_LEVEL
from paragrid.analysis.stats._bootstrap import paired_bootstrap
from paragrid.analysis.stats._cells import CELL as CELL_COLUMNS
from paragrid.analysis.stats._cells import (Cell, cell_kind, cell_of, comparison_cells,
                                            method_rank, sources_key)
from paragrid.analysis.stats._load import with_feature_set, with_origin
from paragrid.analysis.stats._schemes import design_of, marker_test
from paragrid.analysis.stats._tests import DESIGN_TEST, MARKER_TESTS, TESTS, UNIT_TESTS, holm, run_test
from paragrid.errors import UserError

PAIR_ON = ["repeat", "fold"]
# Columns that must agree for two rows to be the same fold; the first explains a mismatch best.
SAME_FOLD = [("seed", "seed (fold split)"), ("fold_scheme", "fold scheme"),
             ("val_fold", "validation fold"), ("n_test", "test-fold size n_test"),
             ("n_val", "validation-fold size n_val"), ("n_train", "training size n_train")]
KFOLD_TESTS = ("calibrated", "corrected", "naive")
TABLE_LABEL = {"table2": "the transfer table", "crosscorpus": "the cross-corpus table"}


@dataclass
class Paired:
    diffs: np.ndarray       # A - B per paired fold
    n_repeats: int
    ratio: float            # mean n_test / n_train over the pairs (NaN if sizes unknown)
    unmatched: int          # folds that only one of the two has


def cell_rows(results: pd.DataFrame, cell: Cell) -> pd.DataFrame:
    r = results
    return r[(r["task"] == cell.task) & (r["target"] == cell.target) & (r["sources"] == cell.sources)
             & (r["method"] == cell.method) & (r["budget"] == cell.budget)
             & (r["architecture_origin"] == cell.origin)
             & (r["feature_set"] == cell.feature_set if "feature_set" in r.columns else cell.feature_set == "")]


def pair_folds(results: pd.DataFrame, a: Cell, b: Cell, source_name: str = "results.parquet") -> Paired:
    """Paired fold differences A - B on identical folds; UserError if the folds differ."""
    return _pair(cell_rows(results, a), cell_rows(results, b), a, b, source_name)


def _pair(ra: pd.DataFrame, rb: pd.DataFrame, a: Cell, b: Cell, source_name: str) -> Paired:
    cols = PAIR_ON + [c for c, _ in SAME_FOLD if c in ra.columns] + ["test_uar"]
    merged = ra[cols].merge(rb[cols], on=PAIR_ON, suffixes=("_a", "_b"), how="inner")
    for col, what in SAME_FOLD:
        if col not in ra.columns:
            continue
        va, vb = merged[f"{col}_a"], merged[f"{col}_b"]
        same = (va == vb).fillna(False).astype(bool) | (va.isna() & vb.isna())
        bad = ~same
        if bad.any():
            row = merged[bad].iloc[0]
            raise UserError(
                f"{source_name}: refusing to pair {a.label()} with {b.label()} on {a.target} "
                f"budget {a.budget}: repeat {row['repeat']} fold {row['fold']} has {what} "
                f"{row[f'{col}_a']} vs {row[f'{col}_b']}, so they were not scored on the same "
                "folds; run both methods from one spec (same seed and k) before comparing them")
    diffs = (merged["test_uar_a"] - merged["test_uar_b"]).to_numpy(dtype=float)
    if {"n_test", "n_train"} <= set(ra.columns) and len(merged):
        ratio = float((merged["n_test_a"].astype(float) / merged["n_train_a"].astype(float)).mean())
    else:
        ratio = float("nan")
    unmatched = len(ra) + len(rb) - 2 * len(merged)
    return Paired(diffs, int(merged["repeat"].nunique()), ratio, unmatched)


def comparisons(results: pd.DataFrame) -> list[tuple[Cell, Cell]]:
    """(A, B) pairs to test: A is the later method in table order (ProgNet before PT/FT), within
    one feature set; then, per (method, sources), each feature set against each earlier one of
    the spec's axis (A the later), on the same folds like methods."""
    pairs = []
    cells = with_feature_set(results)[CELL_COLUMNS].drop_duplicates()
    for (task, target, budget, origin, fs), group in cells.groupby(
            ["task", "target", "budget", "architecture_origin", "feature_set"], sort=True):
        # The baseline may be missing from partial results; its tests then report n/a.
        baseline = Cell(task, target, "none", "dnn", int(budget), origin, fs)
        transfer = group[group["method"] != "dnn"]
        for sources in sorted(transfer["sources"].unique(), key=lambda s: sources_key(s, target, task)):
            sg = transfer[transfer["sources"] == sources]
            methods = sorted(sg["method"].unique(), key=method_rank)
            for m in methods:
                pairs.append((Cell(task, target, sources, m, int(budget), origin, fs), baseline))
            for lo, hi in combinations(methods, 2):
                pairs.append((Cell(task, target, sources, hi, int(budget), origin, fs),
                              Cell(task, target, sources, lo, int(budget), origin, fs)))
    order = list(dict.fromkeys(cells["feature_set"]))  # the spec's axis order (first seen)
    for (task, target, budget, origin, sources, method), group in cells.groupby(
            ["task", "target", "budget", "architecture_origin", "sources", "method"], sort=True):
        sets = sorted(group["feature_set"].unique(), key=order.index)
        for lo, hi in combinations(sets, 2):
            pairs.append((Cell(task, target, sources, method, int(budget), origin, hi),
                          Cell(task, target, sources, method, int(budget), origin, lo)))
    return pairs


def check_test(test: str, unit_test: str = "paired") -> None:
    if test == "naive":
        raise UserError("the naive paired t-test overstates significance (overlapping training "
                        "sets); it is reported beside the others but cannot drive the markers: "
                        f"choose one of {', '.join(MARKER_TESTS)}")
    if test not in (DESIGN_TEST, *MARKER_TESTS):
        raise UserError(f"unknown significance test {test!r}; choose one of "
                        f"{', '.join((DESIGN_TEST, *MARKER_TESTS))}")
    if unit_test not in UNIT_TESTS:
        raise UserError(f"unknown test {unit_test!r} for leave-one-speaker/session-out folds; "
                        f"choose one of {', '.join(UNIT_TESTS)}")


def _record(a: Cell, b: Cell, paired: Paired, rows: pd.DataFrame, test: str, unit_test: str) -> dict:
    design = design_of(rows) if len(rows) else None
    unit = design.unit if design else None
    rec = {"task": a.task, "target": a.target, "budget": a.budget, "sources": a.sources,
           "architecture_origin": a.origin, "feature_set": a.feature_set,
           "feature_set_a": a.feature_set, "feature_set_b": b.feature_set,
           "method_a": a.method, "sources_a": a.sources, "method_b": b.method,
           "sources_b": b.sources, "n_pairs": len(paired.diffs), "n_repeats": paired.n_repeats,
           "unmatched_folds": paired.unmatched, "test_train_ratio": paired.ratio,
           "mean_diff": float(paired.diffs.mean()) if len(paired.diffs) else float("nan"),
           "diffs": paired.diffs, "fold_scheme": design.scheme if design else "",
           "design": design.label() if design else "", "unit": unit or "",
           "table": "crosscorpus" if cell_kind(a.sources, a.target, a.task, a.method) == "crosscorpus"
           else "table2"}
    applicable = UNIT_TESTS if unit else KFOLD_TESTS
    nan = float("nan")
    for name in TESTS:
        if name in applicable:
            res = run_test(name, paired.diffs, paired.ratio)
            rec[f"t_{name}"], rec[f"df_{name}"], rec[f"p_{name}"] = res.t, res.df, res.p
        else:  # not this design's test: left empty rather than computed on the wrong design
            rec[f"t_{name}"] = rec[f"df_{name}"] = rec[f"p_{name}"] = nan
    rec["test"] = unit_test if unit else (marker_test(test, design) if design else test)
    return rec


def significance_table(results: pd.DataFrame, test: str = DESIGN_TEST, alpha: float = 0.05,
                       use_holm: bool = False, source_name: str = "results.parquet",
                       unit_test: str = "paired") -> pd.DataFrame:
    """Every comparison under every test its design allows; `p` / `significant` use the row's
    marker test (`test` for k-fold CV, `unit_test` for leave-one-speaker/session-out).

    Column `diffs` holds the paired differences (an array per row) for the plots. With
    `use_holm`, `p_adj` holds Holm-adjusted p-values within each table ('table2',
    'crosscorpus'), and `significant` uses them; `correction` names what was applied.
    `disagree` marks k-fold rows where the calibrated and the corrected test reach different
    verdicts at `alpha` (each under the same correction).
    """
    base = comparison_tests(results, test, unit_test, source_name)
    return decide(base, alpha, use_holm)


def comparison_tests(results: pd.DataFrame, test: str = DESIGN_TEST, unit_test: str = "paired",
                     source_name: str = "results.parquet") -> pd.DataFrame:
    """The pairing and the tests of every comparison, before any correction or verdict (the
    part the dashboard's two Holm variants share)."""
    check_test(test, unit_test)
    results = with_feature_set(with_origin(results))
    records = []
    by_cell = {cell_of(dict(zip(CELL_COLUMNS, key))): rows
               for key, rows in results.groupby(CELL_COLUMNS, sort=False)}
    empty = results.iloc[:0]
    resampled: dict = {}   # each cell's UARs under the bootstrap draws, computed once
    for a, b in comparisons(results):
        ra, rb = by_cell.get(a, empty), by_cell.get(b, empty)
        paired = _pair(ra, rb, a, b, source_name)
        rec = _record(a, b, paired, ra if len(ra) else rb, test, unit_test)
        # beside the t-tests: the speaker-level bootstrap CI of the same paired difference
        rec["ci_low"], rec["ci_high"] = paired_bootstrap(ra, rb, cache=resampled, cells=(a, b))
        rec["ci_level"] = BOOTSTRAP_LEVEL
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    if not df.empty:
        df["p"] = [r[f"p_{t}"] for t, (_, r) in zip(df["test"], df.iterrows())]
    return df


def decide(base: pd.DataFrame, alpha: float, use_holm: bool) -> pd.DataFrame:
    """Correction (Holm within each table, or none), verdicts at `alpha` and disagreement."""
    df = base.copy()
    if df.empty:
        return df
    df["p_adj"] = df["p"]
    adj = {t: df[f"p_{t}"].to_numpy(dtype=float).copy() for t in MARKER_TESTS}
    df["correction"] = "none"
    if use_holm:
        for table, idx in df.groupby("table").groups.items():
            df.loc[idx, "p_adj"] = holm(df.loc[idx, "p"].to_numpy())
            pos = df.index.get_indexer(idx)
            for t in MARKER_TESTS:
                adj[t][pos] = holm(adj[t][pos])
            m = int(df.loc[idx, "p"].notna().sum())
            df.loc[idx, "correction"] = f"Holm within {TABLE_LABEL[table]} ({m} comparisons)"
    df["holm"] = use_holm
    df["alpha"] = alpha
    df["significant"] = df["p_adj"] < alpha
    for t in MARKER_TESTS:
        df[f"p_adj_{t}"] = adj[t]
    both = ~np.isnan(adj["calibrated"]) & ~np.isnan(adj["corrected"])
    df["disagree"] = both & ((adj["calibrated"] < alpha) != (adj["corrected"] < alpha))
    return df


def markers(sig: pd.DataFrame) -> dict[Cell, str]:
    """`*` = significantly better than the DNN; `†` = significantly better than all others."""
    out: dict[Cell, str] = {}
    if sig.empty:
        return out
    wins: dict[Cell, list[bool | None]] = {}
    beats_dnn: dict[Cell, bool] = {}
    for _, r in sig.iterrows():
        a, b = comparison_cells(r)
        if a.feature_set != b.feature_set:  # a feature-set comparison: not a marker's question
            continue
        defined = not np.isnan(r["p_adj"])
        a_wins = bool(defined and r["significant"] and r["mean_diff"] > 0)
        b_wins = bool(defined and r["significant"] and r["mean_diff"] < 0)
        wins.setdefault(a, []).append(a_wins if defined else None)
        if b.method != "dnn":
            wins.setdefault(b, []).append(b_wins if defined else None)
        if b.method == "dnn":
            beats_dnn[a] = a_wins
    for cell, results in wins.items():
        mark = "*" if beats_dnn.get(cell) else ""
        if len(results) >= 2 and all(w is True for w in results):
            mark += "†"
        out[cell] = mark
    return out
