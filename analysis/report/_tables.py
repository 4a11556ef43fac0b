"""The paper's tables, built from the summary and the markers (rendered by _table_render.Table).

Table 2 (Experiment 1): rows source set x method, columns (target corpus, architecture origin)
at the full fold budget. The cross-corpus table (Experiment 2, the paper's Figure 4 as numbers):
rows methods, columns fold budgets grouped by direction "source corpus → target corpus" and
architecture origin. Every column names its origin, so each cell's origin is on the page and
cells of different origins are never pooled. With `--compare paper`, the paper's own numbers
appear only for the corpora (directions) it used; for any other a note says it has none.
"""

from __future__ import annotations

import math

import pandas as pd

from paragrid.analysis.report._paper import (FULL_BUDGET, has_paper_direction, has_paper_figures,
                                             no_paper_note, paper_cell, paper_cross)
from paragrid.analysis.report._table_render import Table
from paragrid.analysis.stats import (Cell, Context, cell_hover, cross_corpus_source,
                                     direction_label, method_label, method_rank, origin_label,
                                     flag_details, origin_rank, source_rank, summary_lookup, table_notes)

MISSING = "—"
UAR_NOTE = ("UAR: mean over repeats of the per-repeat mean of the fold UARs ± mean over repeats "
            "of the per-repeat std (ddof = 1) of the fold UARs (one repeat, e.g. leave-one-"
            "speaker-out: ± the std over the test speakers).")


def format_cell(rec: pd.Series | None, mark: str = "") -> str:
    if rec is None:
        return MISSING
    std = rec["uar_std"]
    text = f"{rec['uar_mean']:.3f} ± " + (f"{std:.3f}" if not math.isnan(std) else "n/a")
    return f"{text} {mark}" if mark else text


def format_count(rec: pd.Series | None) -> str:
    if rec is None:
        return "no results yet"
    lo, hi = rec["folds_per_repeat_min"], rec["folds_per_repeat_max"]
    folds = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return f"{rec['n_repeats']} rep × {folds} folds"


def table2_columns(summary: pd.DataFrame) -> list[tuple[str, str, int, str, str, str]]:
    """(task, target, budget, origin, feature set, label) of Table 2's columns: per target,
    origin and feature set every budget that has a transfer row (normally only the full
    budget), else the DNN's largest."""
    rows_df = summary[summary["kind"].isin(["baseline", "transfer"])]
    if "feature_set" not in rows_df.columns:
        rows_df = rows_df.assign(feature_set="")
    transfer = rows_df[rows_df["kind"] == "transfer"]
    sets = list(dict.fromkeys(rows_df["feature_set"]))
    keys: list[tuple[str, str, int, str, str]] = []
    for (task, target), g in rows_df.groupby(["task", "target"], sort=True):
        for origin in sorted(g["architecture_origin"].unique(), key=origin_rank):
            for fs in [f for f in sets if f in set(g["feature_set"])]:
                go = g[(g["architecture_origin"] == origin) & (g["feature_set"] == fs)]
                if go.empty:
                    continue
                t = transfer[(transfer["task"] == task) & (transfer["target"] == target)
                             & (transfer["architecture_origin"] == origin) & (transfer["feature_set"] == fs)]
                budgets = sorted(t["budget"].unique(), reverse=True) if len(t) else [go["budget"].max()]
                keys += [(task, target, int(b), origin, fs) for b in budgets]
    many_tasks = summary["task"].nunique() > 1
    per_target = pd.Series([(t, g, o, f) for t, g, _, o, f in keys]).value_counts() if keys else {}
    out = []
    for task, target, budget, origin, fs in keys:
        label = f"{target} ({task})" if many_tasks else target
        if per_target[(task, target, origin, fs)] > 1:
            label += f", budget {budget}"
        features = f" · {fs}" if len(sets) > 1 else ""
        out.append((task, target, budget, origin, fs, f"{label}{features} · {origin_label(origin)}"))
    return out


def _fill(texts, counts, hovers, flags, i: int, cell: Cell, rec, ctx: Context) -> None:
    mark = ctx.marks.get(cell, "")
    texts[i].append(format_cell(rec, mark))
    counts[i].append(format_count(rec))
    hovers[i].append(cell_hover(cell, rec, mark, ctx))
    f = ctx.flags.get(cell)
    flags[i].append(" · ".join(f.short()) if f is not None else "")


def table2(summary: pd.DataFrame, ctx: Context) -> Table | None:
    """Paralinguistic transfer: rows (source, method) incl. none/DNN; columns (target, origin)."""
    rows_df = summary[summary["kind"].isin(["baseline", "transfer"])]
    if rows_df.empty:
        return None
    lookup = summary_lookup(summary)
    transfer = rows_df[rows_df["kind"] == "transfer"]
    full = summary.groupby(["task", "target"])["budget"].max()
    targets = sorted(rows_df["target"].unique())
    paper_targets = [t for t in targets if has_paper_figures(t)] if ctx.compare_paper else []
    row_keys = [("none", "dnn")] + sorted(
        {(r["sources"], r["method"]) for _, r in transfer.iterrows()},
        key=lambda sm: (source_rank(sm[0]), method_rank(sm[1])))
    if paper_targets:
        for key in [("speaker", "ptft"), ("speaker", "prognet"), ("gender", "ptft"), ("gender", "prognet")]:
            if key not in row_keys:
                row_keys.append(key)
    n = len(row_keys)
    columns, texts, counts, hovers, flags = [], *([[] for _ in range(n)] for _ in range(4))
    cells = []
    col_keys = table2_columns(summary)
    for j, (task, target, budget, origin, fs, label) in enumerate(col_keys):
        columns.append(label)
        for i, (sources, method) in enumerate(row_keys):
            cell = Cell(task, target, sources, method, budget, origin, fs)
            cells.append(cell)
            _fill(texts, counts, hovers, flags, i, cell, lookup.get(cell), ctx)
        last_of_target = j + 1 == len(col_keys) or col_keys[j + 1][:2] != (task, target)
        if target in paper_targets and last_of_target:
            columns.append(f"{target} · paper")
            for i, (sources, method) in enumerate(row_keys):
                texts[i].append(paper_cell(sources, method, target))
                counts[i].append(f"paper, budget {full[(task, target)]}" if texts[i][-1] != MISSING else "")
                hovers[i].append("the paper's Table 2 (Gideon et al. 2017), full budget")
                flags[i].append("")
    notes = [UAR_NOTE] + table_notes(cells, lookup, ctx)
    missing = [t for t in targets if t not in paper_targets]
    if ctx.compare_paper and missing:
        notes.append("Paper comparison: " + no_paper_note(missing) + ".")
    rows = [(s, method_label(m)) for s, m in row_keys]
    return Table("table2", "Paralinguistic transfer (Table 2): UAR, mean ± mean within-repeat std",
                 ["Source", "Method"], rows, columns, [""] * len(columns), texts, counts, notes,
                 hovers, flags, flag_details=flag_details(cells, ctx))


def crosscorpus(summary: pd.DataFrame, ctx: Context) -> Table | None:
    """Cross-corpus transfer: rows methods (DNN first), columns budgets per direction and origin."""
    cc = summary[summary["kind"] == "crosscorpus"]
    if cc.empty:
        return None
    lookup = summary_lookup(summary)
    if "feature_set" not in cc.columns:
        cc = cc.assign(feature_set="")
    sets = list(dict.fromkeys(cc["feature_set"]))
    directions = sorted({(r["task"], cross_corpus_source(r["sources"], r["target"], r["task"]),
                          r["target"], r["sources"], r["architecture_origin"], r["feature_set"])
                         for _, r in cc.iterrows()},
                        key=lambda d: (d[2], d[1], d[0], origin_rank(d[4]), sets.index(d[5])))
    methods = ["dnn"] + sorted(cc["method"].unique(), key=method_rank)
    columns, groups, col_keys = [], [], []
    for task, src, target, sources, origin, fs in directions:
        d = cc[(cc["task"] == task) & (cc["target"] == target) & (cc["sources"] == sources)
               & (cc["architecture_origin"] == origin) & (cc["feature_set"] == fs)]
        for b in sorted(d["budget"].unique()):
            columns.append(f"budget {b}")
            features = f" · {fs}" if len(sets) > 1 else ""
            groups.append(f"{direction_label(src, target)}{features} · {origin_label(origin)}")
            col_keys.append((task, src, target, sources, int(b), origin, fs))
    with_paper = {(s, t) for _, s, t, _, _, _, _ in col_keys if has_paper_direction(s, t)} \
        if ctx.compare_paper else set()
    row_keys: list[tuple[str, bool]] = [(m, False) for m in methods]
    if with_paper:
        row_keys += [(m, True) for m in methods if m != "dnn"]
    n = len(row_keys)
    texts, counts, hovers, flags = ([[] for _ in range(n)] for _ in range(4))
    cells = []
    for i, (method, is_paper) in enumerate(row_keys):
        for task, src, target, sources, budget, origin, fs in col_keys:
            if is_paper:
                texts[i].append(paper_cross(src, target, method, budget)
                                if (src, target) in with_paper else MISSING)
                counts[i].append("")
                hovers[i].append("the paper's Figure 4 findings (Gideon et al. 2017)")
                flags[i].append("")
                continue
            cell = Cell(task, target, "none" if method == "dnn" else sources, method, budget, origin, fs)
            cells.append(cell)
            _fill(texts, counts, hovers, flags, i, cell, lookup.get(cell), ctx)
    rows = [(method_label(m) + (" (paper)" if p else ""),) for m, p in row_keys]
    notes = [UAR_NOTE, "Cross-corpus transfer: the source model saw the whole source corpus; the "
             f"target model saw `budget` of its training folds (the paper: 1, 2, 4, {FULL_BUDGET})."]
    notes += table_notes(cells, lookup, ctx)
    if with_paper:
        notes.append("Rows '(paper)': the paper's Figure 4 findings, '*' = significantly better "
                     "than the DNN, 'n.s.' = not significant, '—' = no such setting in the paper "
                     "(it reports no numbers for this experiment).")
    missing = sorted({direction_label(s, t) for _, s, t, _, _, _, _ in col_keys} -
                     {direction_label(s, t) for s, t in with_paper})
    if ctx.compare_paper and missing:
        notes.append("Paper comparison: " + no_paper_note(missing) + ".")
    return Table("crosscorpus", "Cross-corpus transfer: UAR by fold budget, mean ± mean within-repeat std",
                 ["Method"], rows, columns, groups, texts, counts, notes, hovers, flags,
                 flag_details=flag_details(cells, ctx))
