"""Protocol traps, flagged per cell where users look (the tables and the dashboard).

* cap-bound folds: the selected (best-validation) epoch lies in the last 5 % of the fold's epoch
  cap. More epochs might have found a better model, so the cell's UAR - and the ranking of the
  methods - may be an artefact of the cap (most of all at small fold budgets, where an epoch is
  a single update). The cap is `epoch_cap` (the grid writes it; with `updates: matched` it
  differs per fold), else `max_epochs` in older results.
* folds at chance: the test predictions fall in one class (the trainer's one-class warning): a
  model that never left chance, typical of too few updates or a bad normalisation.
* calibrated vs corrected: the two repeated-CV tests reach different verdicts; see DISAGREE_WHY.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from paragrid.analysis.stats._cells import cell_of, comparison_cells, method_label
# what a cap-bound fold is: one definition for the run's under-trained warning and these flags
from paragrid.grid.store import cap_bound
DISAGREE_WHY = ("The calibrated and corrected tests can disagree because the calibrated test is "
                "far more liberal: its standard error is s/√11 whatever the fold sizes, while the "
                "corrected test's, s·√(1/(k·r) + n_test/n_train), grows as the training folds "
                "shrink (at a fold budget of 1, n_test/n_train ≈ 1 and the corrected t is about a "
                "third of the calibrated one).")
CAP_WHY = ("cap-bound: the selected epoch lies in the last 5 % of the fold's epoch cap, so more "
           "epochs might change the result and the ranking")
CHANCE_WHY = "at chance: the fold's test predictions all fall in one class"


@dataclass(frozen=True)
class FoldCounts:
    """Per cell: folds flagged out of folds where the flag could be measured."""

    cap_bound: int = 0
    cap_known: int = 0
    chance: int = 0
    chance_known: int = 0


@dataclass
class CellFlags:
    counts: FoldCounts
    disagreements: list[str] = field(default_factory=list)   # one line per comparison

    def short(self) -> list[str]:
        """Short texts for the line under a table cell."""
        c, out = self.counts, []
        if c.cap_bound:
            out.append(f"{c.cap_bound}/{c.cap_known} cap-bound")
        if c.chance:
            out.append(f"{c.chance}/{c.chance_known} at chance")
        if self.disagreements:
            out.append("tests disagree")
        return out

    def lines(self) -> list[str]:
        c, out = self.counts, []
        if c.cap_bound:
            out.append(f"{c.cap_bound} of {c.cap_known} folds cap-bound (best epoch in the last "
                       "5 % of the epoch cap)")
        if c.chance:
            out.append(f"{c.chance} of {c.chance_known} folds at chance (predictions in one class)")
        out += self.disagreements
        return out

    @property
    def any(self) -> bool:
        return bool(self.counts.cap_bound or self.counts.chance or self.disagreements)


def one_class(confusion_json) -> bool | None:
    """True when a fold's predictions fall in one class (and there are at least two classes);
    None when the confusion matrix is missing or unreadable."""
    if confusion_json is None or (isinstance(confusion_json, float) and np.isnan(confusion_json)):
        return None
    try:
        cm = np.asarray(json.loads(confusion_json), dtype=float)
    except (TypeError, ValueError):
        return None
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2 or cm.sum() == 0:
        return None
    return int(np.count_nonzero(cm.sum(axis=0))) == 1


def fold_counts(rows: pd.DataFrame) -> FoldCounts:
    cb = cap_bound(rows).dropna()
    chance = [v for v in map(one_class, rows["confusion"])] if "confusion" in rows else []
    chance = [v for v in chance if v is not None]
    return FoldCounts(int(sum(bool(v) for v in cb)), len(cb), int(sum(chance)), len(chance))


def disagreement_lines(sig: pd.DataFrame) -> dict:
    """Cell -> lines naming each comparison of that cell where the two tests disagree."""
    out: dict = {}
    if sig.empty or "disagree" not in sig:
        return out
    for _, r in sig[sig["disagree"]].iterrows():
        a, b = comparison_cells(r)
        cal, cor = r["p_adj_calibrated"], r["p_adj_corrected"]
        what = "Holm-adjusted p" if r["holm"] else "p"
        line = (f"{method_label(r['method_a'])} vs {method_label(r['method_b'])}: calibrated "
                f"{what} = {cal:.2g}, corrected {what} = {cor:.2g} (α = {r['alpha']:g}): the "
                "tests disagree")
        for cell in (a, b):
            if cell.method != "dnn":
                out.setdefault(cell, []).append(line)
    return out


def cell_flags(summary: pd.DataFrame, sig: pd.DataFrame) -> dict:
    """Cell -> CellFlags for every cell of the summary (which carries the fold counts)."""
    dis = disagreement_lines(sig)
    out = {}
    for _, r in summary.iterrows():
        cell = cell_of(r)
        counts = FoldCounts(int(r["n_cap_bound"]), int(r["n_cap_known"]), int(r["n_chance"]),
                            int(r["n_chance_known"]))
        out[cell] = CellFlags(counts, dis.get(cell, []))
    return out
