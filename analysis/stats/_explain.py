"""The words beside the numbers: each cell's hover text and the notes under each table.

A marker is only as good as the test behind it, so every cell names the test, its correction
and its protocol flags in its hover text, and every table carries, as notes, the sentences a
reviewer needs: which origins its architectures have (tuned-same-corpus is optimistic), where
the calibrated test's df = 10 does not strictly apply, why the two repeated-CV tests can
disagree, and which cells are cap-bound or sit at chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from paragrid.analysis.stats._cells import (Cell, cell_of, comparison_cells, method_label,
                                            origin_explain, origin_label)
from paragrid.analysis.stats._flags import CAP_WHY, CHANCE_WHY, DISAGREE_WHY, CellFlags
from paragrid.analysis.stats._fmt import fmt_p
from paragrid.analysis.stats._schemes import Design, design_note, table_test
from paragrid.analysis.stats._tests import TEST_LABEL


@dataclass
class Context:
    """What a table needs besides the summary: markers, the tests behind them and the flags."""

    marks: dict[Cell, str]
    sig: pd.DataFrame
    flags: dict[Cell, CellFlags] = field(default_factory=dict)
    test: str = "auto"  # DESIGN_TEST: by each cell's design
    unit_test: str = "paired"
    compare_paper: bool = False
    by_cell: dict[Cell, list] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.sig is None or self.sig.empty:
            return
        for _, r in self.sig.iterrows():
            a, b = comparison_cells(r)
            self.by_cell.setdefault(a, []).append(("a", r))
            self.by_cell.setdefault(b, []).append(("b", r))

    @property
    def holm(self) -> bool:
        return bool(self.sig is not None and not self.sig.empty and self.sig["holm"].any())


def cell_title(cell: Cell) -> str:
    what = "DNN (no source)" if cell.sources == "none" else \
        f"{method_label(cell.method)} · {cell.sources}"
    features = f" · features: {cell.feature_set}" if cell.feature_set else ""
    return (f"{what} → {cell.target} ({cell.task}), budget {cell.budget}{features} · "
            f"architecture: {origin_label(cell.origin)}")


def _comparison_line(side: str, r) -> str:
    other = r["method_b"] if side == "a" else r["method_a"]
    diff = r["mean_diff"] if side == "a" else -r["mean_diff"]
    if math.isnan(r["p_adj"]):
        verdict = "n/a (fewer than two paired folds)"
    elif r["significant"]:
        verdict = "significantly better" if diff > 0 else "significantly worse"
    else:
        verdict = "n.s."
    p_what = "Holm-adjusted p" if r["holm"] else "p"
    return (f"vs {method_label(other)}: {verdict}, Δ = {diff:+.3f}, {p_what} = {fmt_p(r['p_adj'])}"
            f" ({r['n_pairs']} pairs)")


def test_lines(rows: list) -> list[str]:
    """'Test: …; correction: …' for the comparisons of one cell (one line per distinct pair)."""
    seen = []
    for _, r in rows:
        line = f"Test: {TEST_LABEL[r['test']]}; correction: {r['correction']}"
        if line not in seen:
            seen.append(line)
    return seen


def cell_hover(cell: Cell, rec, mark: str, ctx: Context) -> str:
    """Plain-text hover of one table cell (HTML `title`, Plotly hover)."""
    lines = [cell_title(cell)]
    if rec is None:
        return "\n".join(lines + ["no results yet"])
    lines.append(f"UAR {rec['uar_mean']:.3f}, {rec['n_repeats']} repeat(s), {rec['n_folds']} folds "
                 f"({rec['design']})")
    rows = ctx.by_cell.get(cell, [])
    if cell.method == "dnn":
        lines.append(f"baseline of {len(rows)} comparison(s)" if rows else "no comparisons")
    else:
        lines.append(f"markers: {mark}" if mark else "no marker")
        lines += [_comparison_line(side, r) for side, r in rows]
    lines += test_lines(rows)
    flags = ctx.flags.get(cell)
    if flags is not None and flags.any:
        lines += ["Flag: " + line for line in flags.lines()]
    return "\n".join(lines)


def table_notes(cells: list[Cell], summary_rows: dict[Cell, pd.Series], ctx: Context) -> list[str]:
    """The notes under a table holding `cells` (those with results)."""
    notes = []
    present = list(dict.fromkeys(c for c in cells if c in summary_rows))
    origins = sorted({c.origin for c in present})
    notes.append("Architecture origin: " + "; ".join(
        f"{origin_label(o)} = {origin_explain(o)}" for o in origins) + ".")
    designs = [Design(summary_rows[c]["fold_scheme"], int(summary_rows[c]["k"]),
                      int(summary_rows[c]["n_repeats"])) for c in present]
    kfold = any(d.unit is None for d in designs)
    units = any(d.unit is not None for d in designs)
    correction = "Holm-corrected within this table" if ctx.holm else "no multiple-comparison correction"
    tests = []
    if kfold:
        tests.append(f"{TEST_LABEL[table_test(ctx.test, designs)]} on k-fold cells")
    if units:
        tests.append(f"{TEST_LABEL[ctx.unit_test]} on leave-one-out cells")
    if tests:
        notes.append(f"Markers: {' and '.join(tests)}; {correction}.")
    note = design_note(designs, table_test(ctx.test, designs))
    if note:
        notes.append(note)
    line = flags_line(cells, ctx)
    if line:
        notes.append(line)
    return notes


def _flagged(cells: list[Cell], ctx: Context) -> list[tuple[Cell, CellFlags]]:
    return [(c, ctx.flags[c]) for c in dict.fromkeys(cells) if c in ctx.flags and ctx.flags[c].any]


def flags_line(cells: list[Cell], ctx: Context) -> str | None:
    """One line per table: how many cells carry each kind of flag (the details are one
    `paragrid report --flags` or one click on the dashboard's ⚑ away)."""
    flagged = _flagged(cells, ctx)
    if not flagged:
        return None
    kinds = [(sum(1 for _, f in flagged if f.counts.cap_bound), "with cap-bound folds"),
             (sum(1 for _, f in flagged if f.counts.chance), "with folds at chance"),
             (sum(1 for _, f in flagged if f.disagreements), "where the calibrated and corrected tests disagree")]
    counts = "; ".join(f"{n} cell{'s' if n != 1 else ''} {what}" for n, what in kinds if n)
    return f"Flags ⚑: {counts} (details: paragrid report --flags, or the ⚑ under a dashboard cell)."


def flag_details(cells: list[Cell], ctx: Context) -> list[str]:
    """What each flag means, then one line per flagged cell."""
    flagged = _flagged(cells, ctx)
    out = []
    if any(f.counts.cap_bound for _, f in flagged):
        out.append(f"Flag {CAP_WHY}.")
    if any(f.counts.chance for _, f in flagged):
        out.append(f"Flag {CHANCE_WHY}.")
    if any(f.disagreements for _, f in flagged):
        out.append(DISAGREE_WHY)
    out += [f"Flag, {cell_title(c)}: " + "; ".join(f.lines()) + "." for c, f in flagged]
    return out


def summary_lookup(summary: pd.DataFrame) -> dict[Cell, pd.Series]:
    return {cell_of(r): r for _, r in summary.iterrows()}
