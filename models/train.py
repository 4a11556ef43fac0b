"""Training of F fold-models at once as ONE stacked model: the folds of a repeat, or a pack of trials.

`train_folds(data, arch, settings, method, sources, pack=Pack(...), run=Run(...))` trains F
fold-models as one stacked model (weights with a leading fold axis, see nets.py). Fold-model i
is fold pack.fold_ids[i] of a trial with seed pack.seeds[i] (by default: fold i of one trial with
pack.seed), so several trials whose networks have the same shape train together (a pack:
F = folds x trials) and each gets exactly the numbers it would get alone (options.py). Each
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
synchronisation is one per epoch, and only with a patience or run.epoch_callback (the
early-stopping decision). The trainer lifts torch.cuda.set_sync_debug_mode around its set-up,
that one point and its finish, so a caller running under mode "error" proves the rest.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from paragrid.errors import UserError
from paragrid.models.active import ActiveFolds, SourceCache
from paragrid.models.config import METHODS, Architecture, TrainSettings
from paragrid.models.data import Data, FoldData, gather, prepare, resolve_device, upload
from paragrid.models.evaluate import evaluate_with_predictions, warn_single_class
from paragrid.models.nets import StackedModel, build_model, check_sources, forward
from paragrid.models.options import BatchHook, Pack, Run
from paragrid.models.outcome import FoldOutcome, curves_frame
from paragrid.models.streams import make_streams

__all__ = ["train_folds", "epoch_caps", "checked_sources", "outcome_model", "finish"]

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


def checked_sources(method: str, arch: Architecture, d: Data, sources: Sequence[StackedModel],
                    device: torch.device) -> list[StackedModel]:
    """The source models on the device, after checking they fit `method` and `arch` (UserError)."""
    if method not in METHODS:
        raise UserError(f"method {method!r} is unknown; use one of {list(METHODS)}")
    sources = list(sources)
    check_sources(method, arch, d.n_in, sources, d.n_folds)
    return [s.to(device) for s in sources]


def outcome_model(init: StackedModel, params: dict[str, torch.Tensor], settings: TrainSettings,
                  pack: Pack, rng: str) -> StackedModel:
    """The trained model: the network of `init` (the F fold-models as built, sources included)
    with the best weights `params`, and in its meta what it was trained with (pack: resolved)."""
    meta = {"seed": int(pack.seed), "seeds": [int(v) for v in pack.seeds], "fold_ids": [int(v) for v in pack.fold_ids],
            "rng": rng, "settings": settings.to_dict(), "source_uids": init.meta["source_uids"],
            "source_parts": init.meta["source_parts"]}
    return StackedModel(init.method, init.arch, init.n_in, init.n_classes, params,
                        [s.clone() for s in init.sources], pack.class_names, meta=meta)


def finish(model: StackedModel, d: Data, device: torch.device, t0: float, curves, **per_fold) -> FoldOutcome:
    """Test UAR and confusion of the trained model, wrapped as a FoldOutcome. per_fold: val_uar,
    best_epoch, epochs_run, epoch_cap and optimizer_steps, (F,) each; the pack's keys and the
    random streams' kind are read from the model's meta."""
    seeds, fold_ids = (np.asarray(model.meta[k], dtype=np.int64) for k in ("seeds", "fold_ids"))
    uar, cms, pred = evaluate_with_predictions(model, d.x, d.y, d.test)
    warn_single_class(cms, model.class_names, fold_ids, seeds if len(set(seeds.tolist())) > 1 else None)
    ints = {k: np.asarray(v, dtype=np.int64) for k, v in per_fold.items() if k != "val_uar"}
    return FoldOutcome(model=model, test_uar=uar, val_uar=np.asarray(per_fold["val_uar"], dtype=float),
                       confusion=cms, curves=curves, device=str(device), n_train=d.train.sum(1), n_val=d.val.sum(1),
                       n_test=d.test.sum(1), wall_s=time.perf_counter() - t0, seeds=seeds, fold_ids=fold_ids,
                       rng=model.meta["rng"], test_pred=pred.astype(np.int16), **ints)


def class_weights(settings: TrainSettings, d: Data) -> torch.Tensor | None:
    """(F, C) loss weight of a training row of class c in fold f under `balanced`:
    n_f / (C_f * n_{f,c}) over fold f's training rows (C_f: classes it holds; 0 for a class it
    lacks), the weights of scikit-learn's `balanced`; None for the paper's unweighted loss."""
    if settings.class_weights == "none":
        return None
    y = d.y.cpu().numpy()                                                       # host, before training
    counts = d.train.astype(np.float64) @ np.eye(d.n_classes)[y]               # (F, C)
    held = np.maximum((counts > 0).sum(1, keepdims=True), 1)
    w = np.where(counts > 0, counts.sum(1, keepdims=True) / (held * np.maximum(counts, 1)), 0.0)
    return upload(w.astype(np.float32), d.y.device)


def _train_epoch(a: ActiveFolds, d: Data, epoch: int, on_batch: BatchHook | None,
                 cache: SourceCache | None, weights: torch.Tensor | None = None) -> torch.Tensor:
    """One pass over every active fold's training rows; returns each fold's summed training loss.

    No host-device synchronisation inside: batch sizes, optimiser coefficients and loss weights
    follow from the fold sizes, which the host knows (a.plan)."""
    rows, valid, n_real = a.next_epoch()
    coef = a.opt.plan_epoch(a.plan.moving, a.device, a.plan.moving_t)
    inv_n = a.plan.inv_n
    xe, ye = gather(d.x, a.fold_t, rows.flatten(1)).view(*rows.shape, -1), d.y[rows]  # this epoch's rows
    params = list(a.model.params.values())
    loss_sum = torch.zeros(len(a.folds), device=a.device)
    for s in range(rows.shape[1]):
        keep = a.dropout_masks(n_real[s]) if a.model.arch.dropout > 0 else None
        logits = forward(a.model, xe[:, s], keep, cache.rows(a.fold_t, rows[:, s]) if cache else None)
        ce = F.cross_entropy(logits.flatten(0, 1), ye[:, s].flatten(), reduction="none").view(valid[:, s].shape)
        if weights is not None:  # training.class_weights: balanced
            ce = ce * torch.gather(weights.index_select(0, a.fold_t), 1, ye[:, s])
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


@contextmanager
def _matmul_precision(precision: str, device: torch.device):
    """training.precision on CUDA for this call only: tf32 lets float32 matmuls use TF32 tensor
    cores (torch.set_float32_matmul_precision("high")), fp32 keeps them exact ("highest"). The
    CPU is left alone."""
    if device.type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def train_folds(data: FoldData, arch: Architecture, settings: TrainSettings, method: str = "dnn",
                sources: Sequence[StackedModel] = (), *, pack: Pack = Pack(), run: Run = Run()) -> FoldOutcome:
    """F fold-models trained at once as one stacked model: _train_folds under the call's
    training.precision (see there)."""
    with _matmul_precision(settings.precision, resolve_device(run.device)):
        return _train_folds(data, arch, settings, method, sources, pack=pack, run=run)


def _train_folds(data: FoldData, arch: Architecture, settings: TrainSettings, method: str = "dnn",
                 sources: Sequence[StackedModel] = (), *, pack: Pack = Pack(), run: Run = Run()) -> FoldOutcome:
    """F fold-models trained at once as one stacked model (see the module docstring).

    Source model fold i feeds target fold-model i (a pack stacks its trials' sources with
    pack.stack_models). dnn: no sources. ptft: exactly one source; its hidden layers are copied,
    the output layer is new, all layers are fine-tuned. prognet: >= 1 frozen source columns with
    lateral connections into a new column. pack: who the fold-models are (seeds, fold ids, class
    names); run: device, random streams, optimiser form, callbacks (options.py). Misuse raises
    UserError."""
    t0 = time.perf_counter()
    device = resolve_device(run.device)
    with _sync_allowed(device):
        d = prepare(data, device)
        weights = class_weights(settings, d)
        pack = pack.resolved(d.n_folds)
        srcs = checked_sources(method, arch, d, sources, device)
        init = build_model(method, arch, d.n_in, d.n_classes, srcs, pack.seeds, pack.fold_ids).to(device)
        best = {n: p.clone() for n, p in init.params.items()}  # full-F store of the best weights (true copies)
        streams = make_streams(run.rng, pack.seeds, pack.fold_ids, device)
        a = ActiveFolds(init, d, settings, streams, run.vectorised_adam)
        caps = epoch_caps(settings, a.n_train, d.n_full_train)
        a.cap = caps.copy()
        cache = SourceCache.build(init, d, device, SOURCE_CACHE_BYTES)
        n_folds = d.n_folds
        final_val = torch.full((n_folds,), math.nan, dtype=torch.float64, device=device)
        final_epoch = torch.zeros(n_folds, dtype=torch.long, device=device)
    epochs_run = caps.copy()
    optimizer_steps = np.zeros(n_folds, dtype=np.int64)
    best_so_far = np.full(n_folds, np.nan)  # host copy for run.epoch_callback only
    records: list[tuple[np.ndarray, int, torch.Tensor]] = []  # (folds, epoch, (3, F) loss/val/test)

    for epoch in range(1, int(caps.max()) + 1):
        loss_sum = _train_epoch(a, d, epoch, run.on_batch, cache, weights)

        # -- validation and model selection (test rows play no part)
        val = a.val_uar(cache)
        improved = val > a.best_val                                      # strict: a tie keeps the earlier epoch
        a.best_val = torch.where(improved, val, a.best_val)
        a.best_epoch = torch.where(improved, epoch, a.best_epoch)
        a.bad_epochs = torch.where(improved, 0, a.bad_epochs + 1)
        with torch.no_grad():
            for n, p in a.model.params.items():
                kept = best[n].index_select(0, a.fold_t)
                best[n].index_copy_(0, a.fold_t, torch.where(improved.view(-1, *([1] * (p.dim() - 1))), p, kept))

        stopping = epoch >= a.cap                                        # host-known: no sync
        if settings.patience is not None or run.epoch_callback is not None:
            with _sync_allowed(device):                                  # the one sync of an epoch
                host = torch.stack([a.bad_epochs.to(torch.float64), a.best_val]).cpu().numpy()
            if settings.patience is not None:
                stopping = stopping | (host[0] >= settings.patience)
            if run.epoch_callback is not None:
                best_so_far[a.folds] = host[1]
                if run.epoch_callback(epoch, best_so_far.copy()):
                    stopping = np.ones_like(stopping)
        if epoch % settings.curve_stride == 0 or stopping.any():
            test = a.test_uar(cache)                                     # for learning curves only
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
        model = outcome_model(init, {n: p.detach() for n, p in best.items()}, settings, pack, a.streams.kind)
        return finish(model, d, device, t0, curves, val_uar=final_val.cpu().numpy(),
                      best_epoch=final_epoch.cpu().numpy(), epochs_run=epochs_run, epoch_cap=caps,
                      optimizer_steps=optimizer_steps)
