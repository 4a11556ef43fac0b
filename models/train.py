"""Training of F cross-validation folds at once, and the one-fold-at-a-time reference.

`train_folds` trains all F folds of one repeat as ONE stacked model (weights with a leading fold
axis, see nets.py). Each fold still has its own training rows, shuffles, dropout masks, optimiser
state, early-stopping state and best weights; nothing is shared between folds but the kernels.

Per fold f, both trainers run the same algorithm:
  - weights from generator(seed, f, INIT_STREAM); shuffles and dropout from generator(seed, f, TRAIN_STREAM)
  - each epoch: a fresh permutation of fold f's training rows, cut into batches of `batch_size`
    (the last, partial batch included); one optimiser step per batch on the batch's mean loss
  - after each epoch: validation UAR (eval mode: no dropout) on fold f's validation rows; the
    weights of the best epoch are cloned (a tie keeps the earlier epoch)
  - with a patience, fold f stops after `patience` epochs without improvement
  - at the end: test UAR and confusion of the best weights. Test rows never influence selection;
    the test UAR in the curves is for learning-curve plots only.
Folds with fewer rows run out of batches earlier in an epoch: their remaining steps are padding,
masked out of the loss, and the optimiser leaves them where they are. Folds that stop early are
removed from the stacked tensors, so they cost nothing afterwards. A prognet's frozen source
columns are evaluated once per trial for every row (see SOURCE_CACHE_BYTES), not in every step.

`train_folds_reference` is the textbook loop (torch.optim, F.cross_entropy, numpy UAR) over one
fold at a time: the correctness reference (same numbers within float tolerance) and the
benchmark baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torch.optim

from paragrid.errors import UserError
from paragrid.models.columns import TRAIN_STREAM, draw_bits, generator, keep_from_bits
from paragrid.models.config import METHODS, Architecture, TrainSettings
from paragrid.models.data import Data, FoldData, gather, padded_rows, prepare, resolve_device
from paragrid.models.evaluate import SingleClassWarning, evaluate, predict, source_task_uar, warn_single_class
from paragrid.models.metrics import confusion, uar_from_confusion, uar_stacked
from paragrid.models.nets import StackedModel, build_model, check_sources, forward, sources_hidden
from paragrid.models.optim import StackedOptimizer

__all__ = [
    "FoldData", "FoldOutcome", "StackedModel", "SingleClassWarning", "train_folds", "train_folds_reference",
    "predict", "evaluate", "source_task_uar", "resolve_device",
]

# Called once per optimiser step (tests use it to count the rows a fold trains on):
# on_batch(epoch, folds, rows, valid) with rows/valid (F_active, B) tensors.
BatchHook = Callable[[int, np.ndarray, torch.Tensor, torch.Tensor], None]
# Called after each epoch's model selection (e.g. to report to a Ray Tune scheduler):
# epoch_callback(epoch, best_val_uar) with best_val_uar (F,) the best validation UAR so far of
# every fold (nan for a fold not trained yet); returning True stops training now (all active
# folds; in the reference: the current fold), keeping the best weights so far.
EpochCallback = Callable[[int, np.ndarray], bool]

# A prognet's source columns are frozen and run in eval mode (no dropout) on fixed rows, so their
# hidden layers are a fixed function of (fold, row). `train_folds` computes them once per trial
# for every row and gathers them per batch, instead of a source forward pass in every step and
# every evaluation. This bounds that table (all sources, all folds, float32); above it, the
# sources are recomputed per batch as before. 1 GiB holds e.g. 3 sources of 4 x 256 for 10 folds
# of 8,000 utterances.
SOURCE_CACHE_BYTES = 1 << 30


@dataclass
class FoldOutcome:
    model: StackedModel            # best-validation weights (a true copy)
    test_uar: np.ndarray           # (F,)
    val_uar: np.ndarray            # (F,) best validation UAR
    best_epoch: np.ndarray         # (F,) 1-based
    epochs_run: np.ndarray         # (F,)
    confusion: np.ndarray          # (F, C, C) test fold at the best epoch, rows = truth
    curves: pd.DataFrame           # fold, epoch, train_loss, val_uar, test_uar
    device: str
    n_train: np.ndarray | None = None  # (F,) utterances per split
    n_val: np.ndarray | None = None
    n_test: np.ndarray | None = None
    wall_s: float = 0.0


def _checked_sources(method: str, arch: Architecture, d: Data, sources: Sequence[StackedModel],
                     device: torch.device) -> list[StackedModel]:
    if method not in METHODS:
        raise UserError(f"method {method!r} is unknown; use one of {list(METHODS)}")
    sources = list(sources)
    check_sources(method, arch, d.n_in, sources, d.n_folds)
    return [s.to(device) for s in sources]


def _outcome_model(method, arch, d: Data, params, sources, seed, settings, class_names) -> StackedModel:
    meta = {"seed": int(seed), "settings": settings.to_dict(), "source_uids": [s.uid for s in sources]}
    return StackedModel(method, arch, d.n_in, d.n_classes, params,
                        [s.clone() for s in sources] if method == "prognet" else [], class_names, meta=meta)


def _finish(model: StackedModel, d: Data, val_uar, best_epoch, epochs_run, curves, device, t0) -> FoldOutcome:
    uar, cms = evaluate(model, d.x, d.y, d.test)
    warn_single_class(cms, model.class_names, range(d.n_folds))
    return FoldOutcome(model=model, test_uar=uar, val_uar=np.asarray(val_uar, dtype=float),
                       best_epoch=np.asarray(best_epoch, dtype=np.int64), epochs_run=np.asarray(epochs_run, dtype=np.int64),
                       confusion=cms, curves=curves, device=str(device),
                       n_train=d.train.sum(1), n_val=d.val.sum(1), n_test=d.test.sum(1), wall_s=time.perf_counter() - t0)


CURVE_COLUMNS = ["fold", "epoch", "train_loss", "val_uar", "test_uar"]


# ---- the fold-vectorised trainer ----------------------------------------------------------------
class _Active:
    """Everything per fold that changes while training, for the folds still training (stacked)."""

    def __init__(self, model: StackedModel, d: Data, settings: TrainSettings, seed: int, device: torch.device):
        n_folds = d.n_folds
        self.folds = np.arange(n_folds)
        self.fold_t = torch.arange(n_folds, device=device)
        self.model = model
        for p in model.params.values():
            p.requires_grad_(True)
        self.opt = StackedOptimizer(list(model.params.values()), settings)
        self.gens = [generator(seed, f, TRAIN_STREAM, device) for f in range(n_folds)]
        self.train_rows = [torch.as_tensor(np.flatnonzero(d.train[f]), device=device) for f in range(n_folds)]
        self.n_train = d.train.sum(1)
        self.val_idx, self.val_valid = padded_rows(d.val, device)
        self.test_idx, self.test_valid = padded_rows(d.test, device)
        self.x_val, self.y_val = gather(d.x, self.fold_t, self.val_idx), d.y[self.val_idx]   # gathered once
        self.x_test, self.y_test = gather(d.x, self.fold_t, self.test_idx), d.y[self.test_idx]
        self.best_val = torch.full((n_folds,), -math.inf, dtype=torch.float64, device=device)
        self.best_epoch = torch.zeros(n_folds, dtype=torch.long, device=device)
        self.bad_epochs = torch.zeros(n_folds, dtype=torch.long, device=device)
        self.dropout_buffers: tuple[torch.Tensor, torch.Tensor] | None = None  # (bits, multipliers), see below

    def dropout_buffer(self, shape: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """One step's (bits, multipliers) buffers, reused by the next step: a step's multipliers
        are only read by its own forward and backward, which end before the next step draws."""
        if self.dropout_buffers is None or self.dropout_buffers[0].shape != shape:
            self.dropout_buffers = (torch.empty(shape, dtype=torch.int16, device=device),
                                    torch.empty(shape, dtype=torch.float32, device=device))
        return self.dropout_buffers

    def keep(self, keep_np: np.ndarray) -> None:
        """Drop the folds that stopped: from here on they cost no compute."""
        k = torch.as_tensor(np.flatnonzero(keep_np), device=self.fold_t.device)
        self.folds = self.folds[keep_np]
        self.fold_t = self.fold_t[k]
        params = {n: p.detach().index_select(0, k).requires_grad_(True) for n, p in self.model.params.items()}
        self.model = self.model._replace(params, [s.select(k) for s in self.model.sources])
        self.opt.select(k, keep_np, list(params.values()))
        self.gens = [g for g, kk in zip(self.gens, keep_np) if kk]
        self.train_rows = [r for r, kk in zip(self.train_rows, keep_np) if kk]
        self.n_train = self.n_train[keep_np]
        for name in ("val_idx", "test_idx", "val_valid", "test_valid", "x_val", "y_val", "x_test", "y_test",
                     "best_val", "best_epoch", "bad_epochs"):
            setattr(self, name, getattr(self, name)[k])


class _SourceCache:
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
              chunk: int = 1024) -> "_SourceCache | None":
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
        return _SourceCache([[t.view(n_folds * n, -1) for t in per_layer] for per_layer in tables], n)

    def rows(self, folds: torch.Tensor, idx: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per source, per layer: (F_active, R, width) for rows idx (F_active, R) of fold ids `folds`."""
        flat = (folds.unsqueeze(1) * self.n_rows + idx).reshape(-1)
        return [[t.index_select(0, flat).view(*idx.shape, -1) for t in per_layer] for per_layer in self.tables]


@torch.no_grad()
def _uar_of(model: StackedModel, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor,
            src: list[list[torch.Tensor]] | None = None) -> torch.Tensor:
    return uar_stacked(y, forward(model, x, None, src).argmax(-1), valid, model.n_classes)


def _epoch_batches(a: _Active, batch_size: int, device: torch.device):
    """This epoch's batches: a fresh permutation of each fold's training rows, padded to a common
    number of steps S. Returns rows (F, S, B), valid (F, S, B) and real rows per step (S, F) on the host."""
    n = a.n_train
    n_steps = int(math.ceil(n.max() / batch_size))
    rows = torch.zeros((len(n), n_steps * batch_size), dtype=torch.long, device=device)
    for i, (g, r) in enumerate(zip(a.gens, a.train_rows)):
        rows[i, : n[i]] = r[torch.randperm(int(n[i]), generator=g, device=device)]
    valid = torch.arange(n_steps * batch_size, device=device)[None, :] < torch.as_tensor(n, device=device)[:, None]
    n_real = np.clip(n[None, :] - np.arange(n_steps)[:, None] * batch_size, 0, batch_size)
    shape = (len(n), n_steps, batch_size)
    return rows.view(shape), valid.view(shape), n_real


def _dropout_masks(a: _Active, arch: Architecture, n_real: np.ndarray, batch_size: int,
                   device: torch.device) -> torch.Tensor:
    """(F, L, B, width) dropout multipliers of one step. Each fold draws only its real rows, from
    its own generator (the same numbers as training that fold alone); padding rows get 0."""
    bits, keep = a.dropout_buffer((len(n_real), arch.layers, batch_size, arch.width), device)
    for i, (g, n) in enumerate(zip(a.gens, n_real)):
        if n == batch_size:
            draw_bits(g, bits[i])
        else:
            if n > 0:
                bits[i, :, :n] = draw_bits(g, torch.empty((arch.layers, int(n), arch.width), dtype=torch.int16,
                                                          device=device))
            bits[i, :, n:] = -(1 << 15)  # the lowest value: always dropped
    return keep_from_bits(bits, arch.dropout, out=keep)


def _train_epoch(a: _Active, d: Data, arch: Architecture, settings: TrainSettings, epoch: int,
                 device: torch.device, on_batch: BatchHook | None, cache: _SourceCache | None) -> torch.Tensor:
    """One pass over every active fold's training rows; returns each fold's summed training loss.

    No host-device synchronisation inside: batch sizes, optimiser coefficients and loss weights
    follow from the fold sizes, which the host knows."""
    b = settings.batch_size
    rows, valid, n_real = _epoch_batches(a, b, device)
    coef = a.opt.plan_epoch(n_real > 0, device)
    inv_n = torch.as_tensor(1.0 / np.maximum(n_real, 1), dtype=torch.float32).to(device)
    xe, ye = gather(d.x, a.fold_t, rows.flatten(1)).view(*rows.shape, -1), d.y[rows]  # this epoch's rows
    params = list(a.model.params.values())
    loss_sum = torch.zeros(len(a.folds), device=device)
    for s in range(rows.shape[1]):
        keep = _dropout_masks(a, arch, n_real[s], b, device) if arch.dropout > 0 else None
        logits = forward(a.model, xe[:, s], keep, cache.rows(a.fold_t, rows[:, s]) if cache else None)
        ce = F.cross_entropy(logits.flatten(0, 1), ye[:, s].flatten(), reduction="none").view(valid[:, s].shape)
        ce_sum = torch.where(valid[:, s], ce, 0.0).sum(1)  # padding rows contribute nothing
        # Folds share no weights, so the gradient of this sum w.r.t. fold f's weights is the
        # gradient of fold f's own mean loss over its real rows in this batch.
        loss = (ce_sum * inv_n[s]).sum()
        grads = torch.autograd.grad(loss, params)
        a.opt.step(grads, coef[s])
        loss_sum += ce_sum.detach()
        if on_batch is not None:
            on_batch(epoch, a.folds.copy(), rows[:, s], valid[:, s])
    return loss_sum


def train_folds(data: FoldData, arch: Architecture, settings: TrainSettings, *, method: str = "dnn",
                sources: Sequence[StackedModel] = (), seed: int = 0, device: torch.device | str | None = None,
                class_names: Sequence[str] | None = None, on_batch: BatchHook | None = None,
                epoch_callback: EpochCallback | None = None) -> FoldOutcome:
    """All F folds trained at once as one stacked model (see the module docstring).

    Source model fold f feeds target fold f. dnn: no sources. ptft: exactly one source; its hidden
    layers are copied, the output layer is new, all layers are fine-tuned. prognet: >= 1 frozen
    source columns with lateral connections into a new column. Misuse raises UserError."""
    t0 = time.perf_counter()
    device = resolve_device(device)
    d = prepare(data, device)
    srcs = _checked_sources(method, arch, d, sources, device)
    init = build_model(method, arch, d.n_in, d.n_classes, srcs, seed, range(d.n_folds), class_names).to(device)
    best = {n: p.clone() for n, p in init.params.items()}  # full-F store of the best weights (true copies)
    a = _Active(init, d, settings, seed, device)
    cache = _SourceCache.build(init, d, device, SOURCE_CACHE_BYTES)
    n_folds = d.n_folds
    epochs_run = np.full(n_folds, settings.max_epochs)
    val_uar = np.full(n_folds, np.nan)
    best_epoch = np.zeros(n_folds, dtype=np.int64)
    best_so_far = np.full(n_folds, np.nan)  # host copy for epoch_callback only
    records: list[tuple[np.ndarray, int, torch.Tensor]] = []  # (folds, epoch, (3, F) loss/val/test)

    for epoch in range(1, settings.max_epochs + 1):
        loss_sum = _train_epoch(a, d, arch, settings, epoch, device, on_batch, cache)

        # -- validation and model selection (test rows play no part)
        val = _uar_of(a.model, a.x_val, a.y_val, a.val_valid, cache.rows(a.fold_t, a.val_idx) if cache else None)
        improved = val > a.best_val                                      # strict: a tie keeps the earlier epoch
        a.best_val = torch.where(improved, val, a.best_val)
        a.best_epoch = torch.where(improved, epoch, a.best_epoch)
        a.bad_epochs = torch.where(improved, 0, a.bad_epochs + 1)
        with torch.no_grad():
            for n, p in a.model.params.items():
                kept = best[n].index_select(0, a.fold_t)
                best[n].index_copy_(0, a.fold_t, torch.where(improved.view(-1, 1, 1), p, kept))

        stopping = np.zeros(len(a.folds), dtype=bool)
        if settings.patience is not None:
            stopping = (a.bad_epochs >= settings.patience).cpu().numpy()  # one sync per epoch
        if epoch_callback is not None:
            best_so_far[a.folds] = a.best_val.cpu().numpy()
            if epoch_callback(epoch, best_so_far.copy()):
                stopping[:] = True
        if epoch == settings.max_epochs:
            stopping[:] = True
        if epoch % settings.curve_stride == 0 or stopping.any():
            test = _uar_of(a.model, a.x_test, a.y_test, a.test_valid,    # for learning curves only
                           cache.rows(a.fold_t, a.test_idx) if cache else None)
            train_loss = loss_sum / torch.as_tensor(a.n_train, device=device)
            record = np.ones(len(a.folds), bool) if epoch % settings.curve_stride == 0 else stopping
            at = torch.as_tensor(np.flatnonzero(record), device=device)
            records.append((a.folds[record], epoch, torch.stack([train_loss.double(), val, test])[:, at]))
        if stopping.any():
            at = torch.as_tensor(np.flatnonzero(stopping), device=device)
            epochs_run[a.folds[stopping]] = epoch
            val_uar[a.folds[stopping]] = a.best_val[at].cpu().numpy()
            best_epoch[a.folds[stopping]] = a.best_epoch[at].cpu().numpy()
            if stopping.all():
                break
            a.keep(~stopping)

    curves = _curves_frame([(f, e, v.cpu().numpy()) for f, e, v in records])
    model = _outcome_model(method, arch, d, {n: p.detach() for n, p in best.items()}, srcs, seed, settings, class_names)
    return _finish(model, d, val_uar, best_epoch, epochs_run, curves, device, t0)


def _curves_frame(records: list[tuple[np.ndarray, int, np.ndarray]]) -> pd.DataFrame:
    parts = [pd.DataFrame({"fold": folds, "epoch": epoch, "train_loss": v[0], "val_uar": v[1], "test_uar": v[2]})
             for folds, epoch, v in records]
    if not parts:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    df = pd.concat(parts, ignore_index=True).astype({"fold": np.int64, "epoch": np.int64})
    return df.sort_values(["fold", "epoch"], kind="stable").reset_index(drop=True)[CURVE_COLUMNS]


# ---- the reference: one fold at a time, textbook loop -------------------------------------------
def train_folds_reference(data: FoldData, arch: Architecture, settings: TrainSettings, *, method: str = "dnn",
                          sources: Sequence[StackedModel] = (), seed: int = 0, device: torch.device | str | None = None,
                          class_names: Sequence[str] | None = None, on_batch: BatchHook | None = None,
                          epoch_callback: EpochCallback | None = None) -> FoldOutcome:
    """Same algorithm and random numbers as `train_folds`, one fold at a time with torch.optim."""
    t0 = time.perf_counter()
    device = resolve_device(device)
    d = prepare(data, device)
    srcs = _checked_sources(method, arch, d, sources, device)
    y_np = d.y.cpu().numpy()
    best_so_far = np.full(d.n_folds, np.nan)
    fold_params, val_uar, best_epoch, epochs_run, records = [], [], [], [], []
    for f in range(d.n_folds):
        net = build_model(method, arch, d.n_in, d.n_classes, [s.select([f]) for s in srcs], seed, [f]).to(device)
        params = [p.requires_grad_(True) for p in net.params.values()]
        if settings.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=settings.lr, weight_decay=settings.weight_decay)
        gen = generator(seed, f, TRAIN_STREAM, device)
        x = d.x_of(f)
        train_rows = torch.as_tensor(np.flatnonzero(d.train[f]), device=device)
        val_rows = np.flatnonzero(d.val[f])
        test_rows = np.flatnonzero(d.test[f])
        best_val, best_state, best_ep, bad = -math.inf, None, 0, 0
        for epoch in range(1, settings.max_epochs + 1):
            order = train_rows[torch.randperm(len(train_rows), generator=gen, device=device)]
            loss_sum = torch.zeros((), device=device)
            for start in range(0, len(order), settings.batch_size):  # the last partial batch included
                rows = order[start : start + settings.batch_size]
                keep = None
                if arch.dropout > 0:
                    bits = draw_bits(gen, torch.empty((arch.layers, len(rows), arch.width), dtype=torch.int16,
                                                      device=device))
                    keep = keep_from_bits(bits, arch.dropout).unsqueeze(0)
                logits = forward(net, x[rows].unsqueeze(0), keep)[0]
                loss = F.cross_entropy(logits, d.y[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * len(rows)
                if on_batch is not None:
                    on_batch(epoch, np.array([f]), rows.unsqueeze(0), torch.ones_like(rows, dtype=torch.bool).unsqueeze(0))
            val = _uar_rows(net, x, y_np, val_rows)
            if val > best_val:
                best_val, best_ep, bad = val, epoch, 0
                best_state = {n: p.detach().clone() for n, p in net.params.items()}
            else:
                bad += 1
            last = epoch == settings.max_epochs or (settings.patience is not None and bad >= settings.patience)
            if epoch_callback is not None:
                best_so_far[f] = best_val
                last = bool(epoch_callback(epoch, best_so_far.copy())) or last
            if epoch % settings.curve_stride == 0 or last:
                records.append((np.array([f]), epoch, np.array([[loss_sum.item() / len(order)], [val],
                                                                [_uar_rows(net, x, y_np, test_rows)]])))
            if last:
                break
        fold_params.append(best_state)
        val_uar.append(best_val)
        best_epoch.append(best_ep)
        epochs_run.append(epoch)
    params = {n: torch.cat([p[n] for p in fold_params]) for n in fold_params[0]}
    model = _outcome_model(method, arch, d, params, srcs, seed, settings, class_names)
    return _finish(model, d, val_uar, best_epoch, epochs_run, _curves_frame(records), device, t0)


@torch.no_grad()
def _uar_rows(net: StackedModel, x: torch.Tensor, y: np.ndarray, rows: np.ndarray) -> float:
    """UAR of a one-fold network over the given rows (eval mode), with the numpy metric."""
    pred = forward(net, x[torch.as_tensor(rows, device=x.device)].unsqueeze(0))[0].argmax(-1).cpu().numpy()
    return uar_from_confusion(confusion(y[rows], pred, net.n_classes))
