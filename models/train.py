"""Training of F fold-models at once as ONE stacked model: the folds of a repeat, or a pack of trials.

`train_folds` trains F fold-models as one stacked model (weights with a leading fold axis, see
nets.py). Fold-model i is fold fold_ids[i] of a trial with seed seeds[i] (by default: fold i of
one trial with `seed`), so several trials whose networks have the same shape train together
(a pack: F = folds x trials) and each gets exactly the numbers it would get alone. Each
fold-model has its own training rows, batch orders, dropout masks, optimiser state,
early-stopping state, epoch cap and best weights; nothing is shared but the kernels.

Per fold-model i, the algorithm (models/reference.py runs it one fold at a time):
  - weights from generator(seeds[i], fold_ids[i], INIT_STREAM) under arch.init; batch orders and
    dropout from its TRAIN_STREAM (streams.py: per-fold generators, or a counter-based hash)
  - each epoch: a fresh order of its training rows, cut into batches of `batch_size` (the last,
    partial batch included); one optimiser step per batch on the batch's mean loss
  - after each epoch: validation UAR (eval mode: no dropout) on its validation rows; the weights of
    the best epoch are kept (a tie keeps the earlier epoch)
  - it stops at its epoch cap (max_epochs, or more with updates = "matched", see epoch_caps), or
    after `patience` epochs without improvement
  - at the end: test UAR and confusion of the best weights. Test rows never influence selection;
    the test UAR in the curves is for learning-curve plots only.
Fold-models with fewer rows run out of batches earlier in an epoch: their remaining steps are
padding, masked out of the loss, and the optimiser leaves them where they are. Fold-models that
stop are removed from the stacked tensors, so they cost nothing afterwards. A prognet's frozen
source columns are evaluated once per call for every row (see SOURCE_CACHE_BYTES).

On CUDA nothing inside the epoch loop waits for the device: the only host-device
synchronisation is one per epoch, and only with a patience or an epoch_callback (the
early-stopping decision). The trainer lifts torch.cuda.set_sync_debug_mode around its set-up,
that one point and its finish, so a caller running under mode "error" proves the rest.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from paragrid.errors import UserError
from paragrid.models.active import EpochPlan, _Active, _dropout_masks, _epoch_batches, _SourceCache, _uar_of  # noqa: F401
from paragrid.models.config import METHODS, Architecture, TrainSettings
from paragrid.models.data import Data, FoldData, gather, prepare, resolve_device
from paragrid.models.evaluate import SingleClassWarning, evaluate, predict, source_task_uar, warn_single_class
from paragrid.models.nets import StackedModel, build_model, check_sources, forward
from paragrid.models.outcome import CURVE_COLUMNS, FoldOutcome, curves_frame
from paragrid.models.streams import upload

__all__ = [
    "FoldData", "FoldOutcome", "StackedModel", "SingleClassWarning", "train_folds", "epoch_caps",
    "predict", "evaluate", "source_task_uar", "resolve_device", "CURVE_COLUMNS",
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
# hidden layers are a fixed function of (fold, row). `train_folds` computes them once per call
# for every row and gathers them per batch, instead of a source forward pass in every step and
# every evaluation. This bounds that table (all sources, all folds, float32); above it, the
# sources are recomputed per batch as before. 1 GiB holds e.g. 3 sources of 4 x 256 for 10 folds
# of 8,000 utterances.
SOURCE_CACHE_BYTES = 1 << 30


def epoch_caps(settings: TrainSettings, n_train: np.ndarray, n_full_train: np.ndarray | None = None) -> np.ndarray:
    """(F,) epochs each fold may train. per-epoch: max_epochs. matched: as many optimiser updates
    as the full budget gets in max_epochs epochs, cap_f = ceil(max_epochs * ceil(n_full_f / B) /
    ceil(n_train_f / B)), B = batch_size (one update per batch, the last partial one included)."""
    n_train = np.asarray(n_train, dtype=np.int64)
    if settings.updates == "per-epoch" or n_full_train is None:
        return np.full(n_train.shape, settings.max_epochs, dtype=np.int64)
    b = settings.batch_size
    full_steps = -(-np.asarray(n_full_train, dtype=np.int64) // b)
    own_steps = -(-n_train // b)
    return -(-(settings.max_epochs * full_steps) // own_steps)


@contextmanager
def _sync_allowed(device: torch.device):
    """Where the trainer may wait for the device (set-up, the per-epoch stopping decision, the
    finish): lifts torch.cuda's sync debug mode for that span only."""
    if device.type != "cuda":
        yield
        return
    before = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(0)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(before)


def pack_keys(seed: int, seeds: Sequence[int] | None, fold_ids: Sequence[int] | None,
              n_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, fold_ids) of the F fold-models: defaults `seed` for all, fold ids 0..F-1."""
    s = np.full(n_folds, int(seed), dtype=np.int64) if seeds is None else np.asarray(list(seeds), dtype=np.int64)
    f = np.arange(n_folds, dtype=np.int64) if fold_ids is None else np.asarray(list(fold_ids), dtype=np.int64)
    for name, v in (("seeds", s), ("fold_ids", f)):
        if v.shape != (n_folds,):
            raise UserError(f"train_folds: {name} has {v.size} entries but the data has {n_folds} folds; give one per fold")
        if (v < 0).any():
            raise UserError(f"train_folds: {name} must be >= 0, got {v.min()}")
    # Two fold-models may share a (seed, fold_id) pair on purpose: the same repeat's trials at
    # different budgets (or methods) use common random numbers, packed or not (grid/trial.py).
    return s, f


def _checked_sources(method: str, arch: Architecture, d: Data, sources: Sequence[StackedModel],
                     device: torch.device) -> list[StackedModel]:
    if method not in METHODS:
        raise UserError(f"method {method!r} is unknown; use one of {list(METHODS)}")
    sources = list(sources)
    check_sources(method, arch, d.n_in, sources, d.n_folds)
    return [s.to(device) for s in sources]


def _outcome_model(method, arch, d: Data, params, sources, seed, settings, class_names, seeds, fold_ids,
                   rng: str) -> StackedModel:
    meta = {"seed": int(seed), "seeds": [int(v) for v in seeds], "fold_ids": [int(v) for v in fold_ids],
            "rng": rng, "settings": settings.to_dict(), "source_uids": [s.uid for s in sources],
            "source_parts": [s.meta.get("parts") for s in sources]}
    return StackedModel(method, arch, d.n_in, d.n_classes, params,
                        [s.clone() for s in sources] if method == "prognet" else [], class_names, meta=meta)


def _finish(model: StackedModel, d: Data, val_uar, best_epoch, epochs_run, curves, device, t0, *,
            epoch_cap, optimizer_steps, seeds, fold_ids, rng) -> FoldOutcome:
    uar, cms = evaluate(model, d.x, d.y, d.test)
    warn_single_class(cms, model.class_names, fold_ids, seeds if len(set(seeds.tolist())) > 1 else None)
    return FoldOutcome(model=model, test_uar=uar, val_uar=np.asarray(val_uar, dtype=float),
                       best_epoch=np.asarray(best_epoch, dtype=np.int64), epochs_run=np.asarray(epochs_run, dtype=np.int64),
                       confusion=cms, curves=curves, device=str(device),
                       n_train=d.train.sum(1), n_val=d.val.sum(1), n_test=d.test.sum(1), wall_s=time.perf_counter() - t0,
                       epoch_cap=np.asarray(epoch_cap, dtype=np.int64),
                       optimizer_steps=np.asarray(optimizer_steps, dtype=np.int64),
                       seeds=np.asarray(seeds, dtype=np.int64), fold_ids=np.asarray(fold_ids, dtype=np.int64), rng=rng)


def _train_epoch(a: _Active, d: Data, arch: Architecture, settings: TrainSettings, epoch: int,
                 device: torch.device, on_batch: BatchHook | None, cache: _SourceCache | None) -> torch.Tensor:
    """One pass over every active fold's training rows; returns each fold's summed training loss.

    No host-device synchronisation inside: batch sizes, optimiser coefficients and loss weights
    follow from the fold sizes, which the host knows (a.plan)."""
    b = settings.batch_size
    rows, valid, n_real = _epoch_batches(a, b, device)
    coef = a.opt.plan_epoch(a.plan.moving, device, a.plan.moving_t)
    inv_n = a.plan.inv_n
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
                epoch_callback: EpochCallback | None = None, seeds: Sequence[int] | None = None,
                fold_ids: Sequence[int] | None = None, rng: str = "auto",
                vectorised_adam: bool | None = None) -> FoldOutcome:
    """F fold-models trained at once as one stacked model (see the module docstring).

    Source model fold i feeds target fold-model i (a pack stacks its trials' sources with
    pack.stack_models). dnn: no sources. ptft: exactly one source; its hidden layers are copied,
    the output layer is new, all layers are fine-tuned. prognet: >= 1 frozen source columns with
    lateral connections into a new column. seeds / fold_ids (F each): the random streams of each
    fold-model. rng: "auto" | "generator" | "hash" (streams.py). vectorised_adam: the optimiser's
    form (None: masked on CUDA, fused slices on the CPU; optim.py). Misuse raises UserError."""
    t0 = time.perf_counter()
    device = resolve_device(device)
    with _sync_allowed(device):
        d = prepare(data, device)
        seeds_np, fold_ids_np = pack_keys(seed, seeds, fold_ids, d.n_folds)
        srcs = _checked_sources(method, arch, d, sources, device)
        init = build_model(method, arch, d.n_in, d.n_classes, srcs, seed, fold_ids_np, class_names,
                           seeds=seeds_np).to(device)
        best = {n: p.clone() for n, p in init.params.items()}  # full-F store of the best weights (true copies)
        a = _Active(init, d, settings, seed, device, seeds_np, fold_ids_np, rng, vectorised_adam)
        caps = epoch_caps(settings, a.n_train, d.n_full_train)
        a.cap = caps.copy()
        cache = _SourceCache.build(init, d, device, SOURCE_CACHE_BYTES)
        n_folds = d.n_folds
        final_val = torch.full((n_folds,), math.nan, dtype=torch.float64, device=device)
        final_epoch = torch.zeros(n_folds, dtype=torch.long, device=device)
    epochs_run = caps.copy()
    optimizer_steps = np.zeros(n_folds, dtype=np.int64)
    best_so_far = np.full(n_folds, np.nan)  # host copy for epoch_callback only
    records: list[tuple[np.ndarray, int, torch.Tensor]] = []  # (folds, epoch, (3, F) loss/val/test)

    for epoch in range(1, int(caps.max()) + 1):
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
                best[n].index_copy_(0, a.fold_t, torch.where(improved.view(-1, *([1] * (p.dim() - 1))), p, kept))

        stopping = epoch >= a.cap                                        # host-known: no sync
        if settings.patience is not None or epoch_callback is not None:
            with _sync_allowed(device):                                  # the one sync of an epoch
                host = torch.stack([a.bad_epochs.to(torch.float64), a.best_val]).cpu().numpy()
            if settings.patience is not None:
                stopping = stopping | (host[0] >= settings.patience)
            if epoch_callback is not None:
                best_so_far[a.folds] = host[1]
                if epoch_callback(epoch, best_so_far.copy()):
                    stopping = np.ones_like(stopping)
        if epoch % settings.curve_stride == 0 or stopping.any():
            test = _uar_of(a.model, a.x_test, a.y_test, a.test_valid,    # for learning curves only
                           cache.rows(a.fold_t, a.test_idx) if cache else None)
            train_loss = loss_sum / a.plan.n_train_t
            record = np.ones(len(a.folds), bool) if epoch % settings.curve_stride == 0 else stopping
            at = upload(np.flatnonzero(record), device)
            records.append((a.folds[record], epoch, torch.stack([train_loss.double(), val, test])[:, at]))
        if stopping.any():
            at = upload(np.flatnonzero(stopping), device)
            epochs_run[a.folds[stopping]] = epoch
            optimizer_steps[a.folds[stopping]] = a.opt.steps[stopping]
            final_val.index_copy_(0, a.fold_t[at], a.best_val[at])
            final_epoch.index_copy_(0, a.fold_t[at], a.best_epoch[at])
            if stopping.all():
                break
            a.keep(~stopping)

    with _sync_allowed(device):
        curves = curves_frame([(f, e, v.cpu().numpy()) for f, e, v in records])
        model = _outcome_model(method, arch, d, {n: p.detach() for n, p in best.items()}, srcs, seed, settings,
                               class_names, seeds_np, fold_ids_np, a.streams.kind)
        return _finish(model, d, final_val.cpu().numpy(), final_epoch.cpu().numpy(), epochs_run, curves, device, t0,
                       epoch_cap=caps, optimizer_steps=optimizer_steps, seeds=seeds_np, fold_ids=fold_ids_np,
                       rng=a.streams.kind)
