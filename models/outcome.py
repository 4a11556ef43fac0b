"""What a training call returns: FoldOutcome, per fold-model, and its learning curves.

A pack's outcome is split per trial with `FoldOutcome.select(positions)`: the fold-models of one
trial, renumbered 0..k-1 in the given order, equal to that trial trained alone (within float
rounding; tests/test_models_pack.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from paragrid.models.nets import StackedModel
from paragrid.models.pack import unstack

CURVE_COLUMNS = ["fold", "epoch", "train_loss", "val_uar", "test_uar"]


@dataclass
class FoldOutcome:
    model: StackedModel            # best-validation weights (a true copy)
    test_uar: np.ndarray           # (F,)
    val_uar: np.ndarray            # (F,) best validation UAR
    best_epoch: np.ndarray         # (F,) 1-based
    epochs_run: np.ndarray         # (F,)
    confusion: np.ndarray          # (F, C, C) test fold at the best epoch, rows = truth
    curves: pd.DataFrame           # fold (position on the fold axis), epoch, train_loss, val_uar, test_uar
    device: str
    n_train: np.ndarray | None = None  # (F,) utterances per split
    n_val: np.ndarray | None = None
    n_test: np.ndarray | None = None
    wall_s: float = 0.0                # of the whole call (a pack's trials share it)
    epoch_cap: np.ndarray | None = None        # (F,) epochs the fold-model was allowed (train.epoch_caps)
    optimizer_steps: np.ndarray | None = None  # (F,) optimiser updates it actually ran
    seeds: np.ndarray | None = None            # (F,) the seed of each fold-model's streams
    fold_ids: np.ndarray | None = None         # (F,) its fold id within its trial
    rng: str = "generator"                     # the random streams used (streams.py)
    test_pred: np.ndarray | None = None        # (F, N) int16 predicted class per test row, -1 elsewhere

    @property
    def n_folds(self) -> int:
        return len(self.test_uar)

    def select(self, positions: Sequence[int]) -> "FoldOutcome":
        """The outcome of the fold-models at `positions` (e.g. one trial of a pack), renumbered
        0..len-1 in that order; the model is pack.unstack'ed (sources get their own uids back)."""
        pos = np.asarray(list(positions), dtype=np.int64)
        if pos.size == 0 or pos.min() < 0 or pos.max() >= self.n_folds or len(set(pos.tolist())) != pos.size:
            raise ValueError(f"positions must be distinct fold positions in 0..{self.n_folds - 1}, got {pos.tolist()}")
        renumber = {int(p): i for i, p in enumerate(pos)}
        c = self.curves[self.curves.fold.isin(renumber)].copy()
        c["fold"] = c.fold.map(renumber).astype(np.int64)
        c = c.sort_values(["fold", "epoch"], kind="stable").reset_index(drop=True)

        def take(a):
            return None if a is None else np.asarray(a)[pos]

        return replace(self, model=unstack(self.model, pos.tolist()), test_uar=take(self.test_uar),
                       val_uar=take(self.val_uar), best_epoch=take(self.best_epoch), epochs_run=take(self.epochs_run),
                       confusion=take(self.confusion), curves=c, n_train=take(self.n_train), n_val=take(self.n_val),
                       n_test=take(self.n_test), epoch_cap=take(self.epoch_cap),
                       optimizer_steps=take(self.optimizer_steps), seeds=take(self.seeds), fold_ids=take(self.fold_ids),
                       test_pred=take(self.test_pred))


def curves_frame(records: list[tuple[np.ndarray, int, np.ndarray]]) -> pd.DataFrame:
    parts = [pd.DataFrame({"fold": folds, "epoch": epoch, "train_loss": v[0], "val_uar": v[1], "test_uar": v[2]})
             for folds, epoch, v in records]
    if not parts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    df = pd.concat(parts, ignore_index=True).astype({"fold": np.int64, "epoch": np.int64})
    return df.sort_values(["fold", "epoch"], kind="stable").reset_index(drop=True)[CURVE_COLUMNS]
