"""The two option groups of a training call: who the F fold-models are (`Pack`) and how the call
runs (`Run`), so that `train_folds(data, arch, settings, method, sources, pack=..., run=...)`
reads like the paper: a network of `arch`, trained with `settings` on `data`, by `method`
from `sources`; everything else is bookkeeping of a pack or of the machine.

Why two groups: a `Pack` decides numbers (each fold-model's random streams are keyed by its
seed and fold id), a `Run` decides where and how fast they are computed, and what the caller
hears while they are (callbacks). `Run.rng` is the exception that proves the rule: the two
stream kinds give different, equally valid numbers, and "auto" picks by device, so it lives with
the device. Both import no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from paragrid.errors import UserError

if TYPE_CHECKING:
    import torch

# Called once per optimiser step (tests use it to count the rows a fold trains on):
# on_batch(epoch, folds, rows, valid) with rows/valid (F_active, B) tensors.
BatchHook = Callable[[int, np.ndarray, "torch.Tensor", "torch.Tensor"], None]
# Called after each epoch's model selection (e.g. to report to a Ray Tune scheduler):
# epoch_callback(epoch, best_val_uar) with best_val_uar (F,) the best validation UAR so far of
# every fold (nan for a fold not trained yet); returning True stops training now (all active
# folds; in the reference: the current fold), keeping the best weights so far.
EpochCallback = Callable[[int, np.ndarray], bool]


@dataclass(frozen=True)
class Pack:
    """Who the F fold-models of one call are. Fold-model i is fold fold_ids[i] of a trial with
    seed seeds[i]; by default fold i of one trial with `seed` (a pack of one). A pack of several
    trials whose networks have the same shape (F = folds x trials) passes one seed and one fold
    id per fold-model, and each gets exactly the numbers it would get alone. `class_names`:
    the names of the data's classes, kept with the trained model."""

    seed: int = 0
    seeds: Sequence[int] | None = None
    fold_ids: Sequence[int] | None = None
    class_names: Sequence[str] | None = None

    def resolved(self, n_folds: int) -> "Pack":
        """This pack with `seeds` and `fold_ids` filled in as (F,) int64 arrays for F = n_folds
        fold-models; UserError if the given ones do not fit."""
        s = np.full(n_folds, int(self.seed), dtype=np.int64) if self.seeds is None else \
            np.asarray(list(self.seeds), dtype=np.int64)
        f = np.arange(n_folds, dtype=np.int64) if self.fold_ids is None else \
            np.asarray(list(self.fold_ids), dtype=np.int64)
        for name, v in (("seeds", s), ("fold_ids", f)):
            if v.shape != (n_folds,):
                raise UserError(f"train_folds: {name} has {v.size} entries but the data has {n_folds} folds; "
                                "give one per fold")
            if (v < 0).any():
                raise UserError(f"train_folds: {name} must be >= 0, got {v.min()}")
        # Two fold-models may share a (seed, fold_id) pair on purpose: the same repeat's trials at
        # different budgets (or methods) use common random numbers, packed or not (grid/work/_train.py).
        return replace(self, seeds=s, fold_ids=f)


@dataclass(frozen=True)
class Run:
    """How a call runs. device: None = cuda if available, else cpu. rng: the random streams,
    "auto" | "generator" | "hash" (streams.py; auto = generator on the CPU, hash on CUDA).
    vectorised_adam: the optimiser's form (None: masked on CUDA, fused slices on the CPU;
    optim.py; the reference trainer uses torch.optim whatever it says). on_batch and
    epoch_callback: see BatchHook and EpochCallback above."""

    device: torch.device | str | None = None
    rng: str = "auto"
    vectorised_adam: bool | None = None
    on_batch: BatchHook | None = None
    epoch_callback: EpochCallback | None = None
