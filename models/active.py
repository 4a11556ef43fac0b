"""What the trainer holds while it trains: the fold-models still training, and the frozen sources.

`ActiveFolds` is the training state of the fold-models that have not stopped yet, stacked: their
model, optimiser, random streams, padded row indices and early-stopping state. train.py's epoch
loop reads like the algorithm because this state answers its questions: the next epoch's batches
(`next_epoch`), a step's dropout multipliers (`dropout_masks`), validation and test UAR
(`val_uar`, `test_uar`), and shrinks when folds stop (`keep`), so stopped folds cost nothing.

Everything an epoch's inner loop needs is on the device; what depends only on the fold sizes
(steps per epoch, which folds have a batch at which step, loss weights) is planned on the host
once per active set (`EpochPlan`) and uploaded without a synchronisation, so the batch loop never
waits for the device. `SourceCache` holds a prognet's frozen source columns' hidden layers for
every row, computed once per call (they never change while the new column trains).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from paragrid.models.columns import keep_from_bits
from paragrid.models.config import TrainSettings
from paragrid.models.data import Data, gather, padded_rows, upload
from paragrid.models.metrics import uar_stacked
from paragrid.models.nets import StackedModel, forward, sources_hidden
from paragrid.models.optim import StackedOptimizer
from paragrid.models.streams import GeneratorStreams, HashStreams


@dataclass
class EpochPlan:
    """What every epoch of the current active set looks like (fold sizes do not change)."""

    n_steps: int              # S = ceil(max rows / batch)
    n_real: np.ndarray        # (S, F) real rows of fold f in step s (host)
    moving: np.ndarray        # (S, F) bool: fold f has a batch at step s (host)
    moving_t: torch.Tensor    # the same on the device
    valid: torch.Tensor       # (F, S, B) bool: a real row, not padding
    inv_n: torch.Tensor       # (S, F) float32: 1 / real rows (loss weight of a row)
    n_train_t: torch.Tensor   # (F,) float32 training rows per fold

    @staticmethod
    def of(n_train: np.ndarray, batch: int, device: torch.device) -> "EpochPlan":
        s = int(math.ceil(n_train.max() / batch))
        n_real = np.clip(n_train[None, :] - np.arange(s)[:, None] * batch, 0, batch)
        valid = np.arange(s * batch)[None, :] < n_train[:, None]
        return EpochPlan(s, n_real, n_real > 0, upload(n_real > 0, device),
                         upload(valid.reshape(len(n_train), s, batch), device),
                         upload((1.0 / np.maximum(n_real, 1)).astype(np.float32), device),
                         upload(n_train.astype(np.float32), device))


class ActiveFolds:
    """The training state of the fold-models still training (stacked; see the module docstring).

    `folds` are their positions on the call's fold axis (original numbering) and `fold_t` the
    same on the device; every other per-fold attribute holds only these folds, in this order."""

    def __init__(self, model: StackedModel, d: Data, settings: TrainSettings,
                 streams: GeneratorStreams | HashStreams, vectorised_adam: bool | None = None):
        n_folds, device = d.n_folds, d.x.device
        self.folds = np.arange(n_folds)
        self.fold_t = torch.arange(n_folds, device=device)
        self.model = model
        for p in model.params.values():
            p.requires_grad_(True)
        self.opt = StackedOptimizer(list(model.params.values()), settings, vectorised_adam)
        self.streams = streams
        self.batch_size = settings.batch_size
        self.epoch, self.step = 0, 0            # stream counters (the hash streams are keyed by them)
        self.train_idx, _ = padded_rows(d.train, device)
        self.n_train = d.train.sum(1)
        self.cap = np.full(n_folds, settings.max_epochs)
        self.plan = EpochPlan.of(self.n_train, self.batch_size, device)
        self.val_idx, self.val_valid = padded_rows(d.val, device)
        self.test_idx, self.test_valid = padded_rows(d.test, device)
        self.x_val, self.y_val = gather(d.x, self.fold_t, self.val_idx), d.y[self.val_idx]   # gathered once
        self.x_test, self.y_test = gather(d.x, self.fold_t, self.test_idx), d.y[self.test_idx]
        self.best_val = torch.full((n_folds,), -math.inf, dtype=torch.float64, device=device)
        self.best_epoch = torch.zeros(n_folds, dtype=torch.long, device=device)
        self.bad_epochs = torch.zeros(n_folds, dtype=torch.long, device=device)
        self.dropout_buffers: tuple[torch.Tensor, torch.Tensor] | None = None  # (bits, multipliers), see below

    @property
    def device(self) -> torch.device:
        return self.fold_t.device

    def dropout_buffer(self, shape: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """One step's (bits, multipliers) buffers, reused by the next step: a step's multipliers
        are only read by its own forward and backward, which end before the next step draws."""
        if self.dropout_buffers is None or self.dropout_buffers[0].shape != shape:
            self.dropout_buffers = (torch.empty(shape, dtype=torch.int16, device=device),
                                    torch.empty(shape, dtype=torch.float32, device=device))
        return self.dropout_buffers

    def keep(self, keep_np: np.ndarray) -> None:
        """Drop the folds that stopped: from here on they cost no compute."""
        device = self.device
        k = upload(np.flatnonzero(keep_np), device)
        self.folds = self.folds[keep_np]
        self.fold_t = self.fold_t[k]
        params = {n: p.detach().index_select(0, k).requires_grad_(True) for n, p in self.model.params.items()}
        self.model = self.model._replace(params, [s.select(k) for s in self.model.sources])
        self.opt.select(k, keep_np, list(params.values()))
        self.streams.select(keep_np, k)
        self.n_train = self.n_train[keep_np]
        self.cap = self.cap[keep_np]
        self.plan = EpochPlan.of(self.n_train, self.batch_size, device)
        for name in ("train_idx", "val_idx", "test_idx", "val_valid", "test_valid", "x_val", "y_val", "x_test",
                     "y_test", "best_val", "best_epoch", "bad_epochs"):
            setattr(self, name, getattr(self, name)[k])

    def next_epoch(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """The next epoch's batches: a fresh order of each fold's training rows (from its stream),
        padded to a common number of steps S. Returns rows (F, S, B), valid (F, S, B) and real rows
        per step (S, F) on the host."""
        self.epoch, self.step = self.epoch + 1, 0
        p, b = self.plan, self.batch_size
        order = self.streams.order(self.epoch, self.train_idx, self.n_train)
        width = min(order.shape[1], p.n_steps * b)
        rows = torch.zeros((len(self.n_train), p.n_steps * b), dtype=torch.long, device=self.device)
        rows[:, :width] = order[:, :width]
        return rows.view(len(self.n_train), p.n_steps, b), p.valid, p.n_real

    def dropout_masks(self, n_real: np.ndarray) -> torch.Tensor:
        """(F, L, B, width) dropout multipliers of the epoch's next step. Each fold draws from its own
        stream (the same numbers as training that fold alone); padding rows get 0."""
        arch = self.model.arch
        bits, keep = self.dropout_buffer((len(n_real), arch.layers, self.batch_size, arch.width), self.device)
        self.streams.dropout_bits(self.epoch, self.step, bits, n_real, self.plan.valid[:, self.step])
        self.step += 1
        return keep_from_bits(bits, arch.dropout, out=keep)

    def val_uar(self, cache: SourceCache | None) -> torch.Tensor:
        """(F_active,) validation UAR of the current weights (eval mode: no dropout)."""
        return uar_of(self.model, self.x_val, self.y_val, self.val_valid,
                      cache.rows(self.fold_t, self.val_idx) if cache else None)

    def test_uar(self, cache: SourceCache | None) -> torch.Tensor:
        """(F_active,) test UAR of the current weights: for learning curves only, never for selection."""
        return uar_of(self.model, self.x_test, self.y_test, self.test_valid,
                      cache.rows(self.fold_t, self.test_idx) if cache else None)


class SourceCache:
    """Hidden layers of every frozen source column for every row: tables[s][k] is (F * N, width),
    row f * N + i holding layer k of fold f's source column s for utterance i. One index_select
    per layer fetches a batch as a contiguous (F, B, width) block (advanced indexing is 4x
    slower; strided views of one wide table slow the lateral products down). Fold ids are the
    ORIGINAL ones: folds that stop early are simply not asked for."""

    def __init__(self, tables: list[list[torch.Tensor]], n_rows: int) -> None:
        self.tables, self.n_rows = tables, n_rows

    @staticmethod
    @torch.no_grad()
    def build(model: StackedModel, d: Data, device: torch.device, budget: int,
              chunk: int = 1024) -> "SourceCache | None":
        """None when there is nothing to cache or the tables would exceed `budget` bytes."""
        if not model.sources:
            return None
        n, n_folds = d.y.shape[0], d.n_folds
        if 4 * n_folds * n * sum(s.arch.layers * s.arch.width for s in model.sources) > budget:
            return None
        folds = torch.arange(n_folds, device=device)
        tables = [[torch.empty((n_folds, n, s.arch.width), device=device) for _ in range(s.arch.layers)]
                  for s in model.sources]
        for start in range(0, n, chunk):
            idx = torch.arange(start, min(start + chunk, n), device=device).expand(n_folds, -1)
            for per_layer, hs in zip(tables, sources_hidden(model, gather(d.x, folds, idx))):
                for table, h in zip(per_layer, hs):
                    table[:, start : start + chunk] = h
        return SourceCache([[t.view(n_folds * n, -1) for t in per_layer] for per_layer in tables], n)

    def rows(self, folds: torch.Tensor, idx: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per source, per layer: (F_active, R, width) for rows idx (F_active, R) of fold ids `folds`."""
        flat = (folds.unsqueeze(1) * self.n_rows + idx).reshape(-1)
        return [[t.index_select(0, flat).view(*idx.shape, -1) for t in per_layer] for per_layer in self.tables]


@torch.no_grad()
def uar_of(model: StackedModel, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor,
           src: list[list[torch.Tensor]] | None = None) -> torch.Tensor:
    """(F,) eval-mode UAR of gathered rows x (F, R, D), labels y and validity valid (F, R)."""
    return uar_stacked(y, forward(model, x, None, src).argmax(-1), valid, model.n_classes)
