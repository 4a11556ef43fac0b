"""Whether a run's models were trained long enough, read from its results rows.

A cell (method, sources, target, budget, architecture) whose mean best epoch lies within
UNDERTRAINED_FRACTION of max_epochs kept improving until the cap: more epochs might change its
UAR and the ranking. `paragrid run` says so in its last lines and `paragrid report` beside the
tables, each with the count of cap-bound folds (best epoch in the cap's last CAP_BOUND_FRACTION,
the report's ⚑ flag).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

UNDERTRAINED_FRACTION = 0.10   # mean best epoch within 10 % of max_epochs
CAP_BOUND_FRACTION = 0.05      # a fold is cap-bound when its best epoch is in the last 5 % of the cap
CELL_KEYS = ["method", "sources", "target", "budget"]


@dataclass(frozen=True)
class UnderTrained:
    cell: str              # "method sources target budget"
    mean_best_epoch: float
    max_epochs: int
    cap_bound: int         # folds whose best epoch is in the cap's last 5 %
    folds: int

    def text(self) -> str:
        return (f"{self.cell}: mean best epoch {self.mean_best_epoch:.1f} of {self.max_epochs}, "
                f"{self.cap_bound} of {self.folds} folds cap-bound")


def under_trained(results: pd.DataFrame) -> list[UnderTrained]:
    """The cells whose mean best epoch is within 10 % of max_epochs (none without the columns)."""
    need = set(CELL_KEYS) | {"best_epoch", "max_epochs"}
    if results is None or results.empty or not need <= set(results.columns):
        return []
    rows = results[results["max_epochs"].notna() & results["best_epoch"].notna()]
    keys = CELL_KEYS + [c for c in ("architecture_origin",) if c in rows.columns]
    out = []
    for key, g in rows.groupby(keys, sort=True):
        cap = float(g["max_epochs"].max())
        mean_best = float(g["best_epoch"].mean())
        if cap > 0 and mean_best >= (1.0 - UNDERTRAINED_FRACTION) * cap:
            n_cap = int((g["best_epoch"].astype(float) > (1.0 - CAP_BOUND_FRACTION) * g["max_epochs"].astype(float)).sum())
            out.append(UnderTrained(" ".join(str(k) for k in key[:4]), mean_best, int(cap), n_cap, len(g)))
    return out


def under_trained_line(results: pd.DataFrame, limit: int = 3) -> str | None:
    """One warning line naming the under-trained cells (the first `limit` of them), or None."""
    cells = under_trained(results)
    if not cells:
        return None
    n_cap = sum(c.cap_bound for c in cells)
    n_folds = sum(c.folds for c in cells)
    shown = "; ".join(c.text() for c in cells[:limit]) + ("; …" if len(cells) > limit else "")
    return (f"{len(cells)} cell(s) may be under-trained (mean best epoch within "
            f"{UNDERTRAINED_FRACTION:.0%} of max_epochs; {n_cap} of their {n_folds} folds cap-bound): "
            f"{shown}. Raise training.max_epochs (a changed spec runs in a folder of its own)")
