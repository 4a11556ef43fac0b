"""Whether a run's models were trained long enough, read from its results rows.

A cell (method, sources, target, budget, architecture) whose mean best epoch lies within
UNDERTRAINED_FRACTION of max_epochs kept improving until the cap: more epochs might change its
UAR and the ranking. `paragrid run` says so in its last lines and `paragrid report` beside the
tables, each with the count of cap-bound folds (best epoch in the last CAP_FRACTION of the
fold's own epoch cap, `cap_bound`: the same folds the report's ⚑ flag counts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

UNDERTRAINED_FRACTION = 0.10   # mean best epoch within 10 % of max_epochs
CAP_FRACTION = 0.05            # a fold is cap-bound when its best epoch is in the last 5 % of its cap
CELL_KEYS = ["method", "sources", "target", "budget"]


def epoch_caps(rows: pd.DataFrame) -> pd.Series:
    """The epoch cap of each row: `epoch_cap`, falling back to `max_epochs` where it is null or
    absent (results written before the column existed); NaN where neither is known."""
    cap = pd.Series(np.nan, index=rows.index, dtype=float)
    if "epoch_cap" in rows:
        cap = pd.to_numeric(rows["epoch_cap"], errors="coerce").astype(float)
    if "max_epochs" in rows:
        cap = cap.fillna(pd.to_numeric(rows["max_epochs"], errors="coerce").astype(float))
    return cap


def cap_bound(rows: pd.DataFrame) -> pd.Series:
    """True where best_epoch > (1 - 5 %) x cap, i.e. in the cap's last 5 % (epochs are 1-based:
    with a cap of 600 that is epochs 571..600); NaN where best epoch or cap is unknown. The one
    definition of a cap-bound fold: the run's warning and the report's flags both count these."""
    if "best_epoch" not in rows:
        return pd.Series(np.nan, index=rows.index, dtype=object)
    best = pd.to_numeric(rows["best_epoch"], errors="coerce").astype(float)
    cap = epoch_caps(rows)
    known = best.notna() & cap.notna()
    out = pd.Series(np.nan, index=rows.index, dtype=object)
    out[known] = best[known] > (1.0 - CAP_FRACTION) * cap[known]
    return out


@dataclass(frozen=True)
class UnderTrained:
    cell: str              # "method sources target budget"
    mean_best_epoch: float
    max_epochs: int
    cap_bound: int         # folds whose best epoch is in their cap's last 5 % (`cap_bound`)
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
            n_cap = int(cap_bound(g).dropna().astype(bool).sum())
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
