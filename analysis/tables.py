"""The paper's tables, built from the summary and the markers, written as Markdown, CSV, LaTeX.

Table 2 (Experiment 1): rows source set x method, columns target corpora, at the full fold
budget. The cross-corpus table (Experiment 2, the paper's Figure 4 as numbers): rows methods,
columns fold budgets grouped by direction "source corpus → target corpus". A `Table` holds the
cell texts once; each output format is a small renderer over it, so the formats cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from paragrid.analysis.cells import (cross_corpus_source, direction_label, method_label,
                                     method_rank, source_rank)
from paragrid.analysis.paper import FULL_BUDGET, paper_cell, paper_cross
from paragrid.analysis.significance import Cell

MISSING = "—"


@dataclass
class Table:
    name: str
    title: str
    row_header: list[str]
    rows: list[tuple[str, ...]]
    columns: list[str]
    groups: list[str]                 # group label per column ('' = none); cross-corpus directions
    cells: list[list[str]]
    counts: list[list[str]] = field(default_factory=list)   # "3 × 10" repeats × folds, HTML only
    notes: list[str] = field(default_factory=list)

    def flat_columns(self) -> list[str]:
        return [f"{g} · {c}" if g else c for g, c in zip(self.groups, self.columns)]

    def to_frame(self) -> pd.DataFrame:
        data = [list(r) + list(c) for r, c in zip(self.rows, self.cells)]
        return pd.DataFrame(data, columns=self.row_header + self.flat_columns())

    def to_markdown(self) -> str:
        header = self.row_header + self.flat_columns()
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * len(self.row_header) + [":---:"] * len(self.columns)) + "|"]
        for row, cells in zip(self.rows, self.cells):
            lines.append("| " + " | ".join(list(row) + cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        return self.to_frame().to_csv(index=False)

    def to_latex(self) -> str:
        spec = "l" * len(self.row_header) + "c" * len(self.columns)
        out = [r"\begin{table}[t]", r"\centering", f"\\caption{{{latex_escape(self.title)}}}",
               f"\\begin{{tabular}}{{{spec}}}", r"\toprule"]
        if any(self.groups):
            spans, start = [], 0
            for i in range(1, len(self.groups) + 1):
                if i == len(self.groups) or self.groups[i] != self.groups[start]:
                    spans.append((self.groups[start], i - start))
                    start = i
            out.append(" & " * len(self.row_header) + " & ".join(
                f"\\multicolumn{{{n}}}{{c}}{{{latex_escape(g)}}}" for g, n in spans) + r" \\")
            cols, pos = [], len(self.row_header) + 1
            for _, n in spans:
                cols.append(f"\\cmidrule(lr){{{pos}-{pos + n - 1}}}")
                pos += n
            out.append(" ".join(cols))
        out.append(" & ".join(latex_escape(h) for h in self.row_header + self.columns) + r" \\")
        out.append(r"\midrule")
        for row, cells in zip(self.rows, self.cells):
            out.append(" & ".join(latex_escape(x) for x in list(row) + cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(out) + "\n"


def latex_escape(text: str) -> str:
    text = str(text).replace("*†", "\x00")  # both markers as one superscript
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
            "±": r"$\pm$", "†": r"$^\dagger$", "*": r"$^*$", "→": r"$\rightarrow$",
            "—": "---", "·": r"$\cdot$", "×": r"$\times$", "\x00": r"$^{*\dagger}$"}
    return "".join(repl.get(ch, ch) for ch in text)


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


def _lookup(summary: pd.DataFrame) -> dict[Cell, pd.Series]:
    return {Cell(r["task"], r["target"], r["sources"], r["method"], int(r["budget"])): r
            for _, r in summary.iterrows()}


def table2_columns(summary: pd.DataFrame) -> list[tuple[str, str, int, str]]:
    """(task, target, budget, label) of Table 2's columns: per target every budget that has a
    transfer row (normally only the full budget), or the DNN's largest budget if none has."""
    rows_df = summary[summary["kind"].isin(["baseline", "transfer"])]
    transfer = rows_df[rows_df["kind"] == "transfer"]
    keys: list[tuple[str, str, int]] = []
    for (task, target), g in rows_df.groupby(["task", "target"], sort=True):
        t = transfer[(transfer["task"] == task) & (transfer["target"] == target)]
        budgets = sorted(t["budget"].unique(), reverse=True) if len(t) else [g["budget"].max()]
        keys += [(task, target, int(b)) for b in budgets]
    many_tasks = summary["task"].nunique() > 1
    per_target = pd.Series([(t, g) for t, g, _ in keys]).value_counts() if keys else {}
    out = []
    for task, target, budget in keys:
        label = f"{target} ({task})" if many_tasks else target
        out.append((task, target, budget,
                    f"{label}, budget {budget}" if per_target[(task, target)] > 1 else label))
    return out


def table2(summary: pd.DataFrame, marks: dict[Cell, str], compare_paper: bool = False) -> Table | None:
    """Paralinguistic transfer: rows (source, method) incl. none/DNN; columns (task, target, budget)."""
    rows_df = summary[summary["kind"].isin(["baseline", "transfer"])]
    if rows_df.empty:
        return None
    cells = _lookup(summary)
    transfer = rows_df[rows_df["kind"] == "transfer"]
    full = summary.groupby(["task", "target"])["budget"].max()
    row_keys = [("none", "dnn")] + sorted(
        {(r["sources"], r["method"]) for _, r in transfer.iterrows()},
        key=lambda sm: (source_rank(sm[0]), method_rank(sm[1])))
    if compare_paper:
        for key in [("speaker", "ptft"), ("speaker", "prognet"), ("gender", "ptft"), ("gender", "prognet")]:
            if key not in row_keys:
                row_keys.append(key)
    columns, texts, counts = [], [[] for _ in row_keys], [[] for _ in row_keys]
    for task, target, budget, label in table2_columns(summary):
        columns.append(label)
        if compare_paper:
            columns.append(label + " (paper)")
        for i, (sources, method) in enumerate(row_keys):
            cell = Cell(task, target, sources, method, budget)
            rec = cells.get(cell)
            texts[i].append(format_cell(rec, marks.get(cell, "")))
            counts[i].append(format_count(rec))
            if compare_paper:
                at_full = budget == full[(task, target)]
                texts[i].append(paper_cell(sources, method, target) if at_full else MISSING)
                counts[i].append("paper" if at_full and texts[i][-1] != MISSING else "")
    rows = [(s, method_label(m)) for s, m in row_keys]
    notes = ["UAR: mean over repeats of the per-repeat mean of the fold UARs ± mean over repeats "
             "of the per-repeat std (ddof = 1) of the fold UARs."]
    return Table("table2", "Paralinguistic transfer (Table 2): UAR, mean ± mean within-repeat std",
                 ["Source", "Method"], rows, columns, [""] * len(columns), texts, counts, notes)


def crosscorpus(summary: pd.DataFrame, marks: dict[Cell, str], compare_paper: bool = False) -> Table | None:
    """Cross-corpus transfer: rows methods (DNN first), columns budgets per direction."""
    cc = summary[summary["kind"] == "crosscorpus"]
    if cc.empty:
        return None
    cells = _lookup(summary)
    directions = sorted({(r["task"], cross_corpus_source(r["sources"], r["target"], r["task"]),
                          r["target"], r["sources"]) for _, r in cc.iterrows()},
                        key=lambda d: (d[2], d[1], d[0]))
    methods = ["dnn"] + sorted(cc["method"].unique(), key=method_rank)
    columns, groups, col_keys = [], [], []
    for task, src, target, sources in directions:
        d = cc[(cc["task"] == task) & (cc["target"] == target) & (cc["sources"] == sources)]
        for b in sorted(d["budget"].unique()):
            columns.append(f"budget {b}")
            groups.append(direction_label(src, target))
            col_keys.append((task, src, target, sources, int(b)))
    row_keys: list[tuple[str, bool]] = [(m, False) for m in methods]
    if compare_paper:
        row_keys += [(m, True) for m in methods if m != "dnn"]
    texts, counts = [], []
    for method, is_paper in row_keys:
        trow, crow = [], []
        for task, src, target, sources, budget in col_keys:
            if is_paper:
                trow.append(paper_cross(src, target, method, budget))
                crow.append("")
                continue
            cell = Cell(task, target, "none" if method == "dnn" else sources, method, budget)
            rec = cells.get(cell)
            trow.append(format_cell(rec, marks.get(cell, "")))
            crow.append(format_count(rec))
        texts.append(trow)
        counts.append(crow)
    rows = [(method_label(m) + (" (paper)" if p else ""),) for m, p in row_keys]
    notes = [f"Cross-corpus transfer: the source model saw the whole source corpus; the target "
             f"model saw `budget` of its training folds (the paper: 1, 2, 4, {FULL_BUDGET})."]
    if compare_paper:
        notes.append("Rows '(paper)': the paper's Figure 4 findings, '*' = significantly better "
                     "than the DNN, 'n.s.' = not significant, '—' = no such setting in the paper "
                     "(it reports no numbers for this experiment).")
    return Table("crosscorpus", "Cross-corpus transfer: UAR by fold budget, mean ± mean within-repeat std",
                 ["Method"], rows, columns, groups, texts, counts, notes)
