"""The one-fold-at-a-time reference trainer: the correctness reference of train.train_folds.

A textbook loop (torch.optim, F.cross_entropy, numpy UAR) over one fold-model at a time, with
the same algorithm and the same random streams as the stacked trainer: tests compare the two
within float tolerance, and bench/ uses it as the baseline the stacked trainer is measured
against. It is not meant for production runs (it is several times slower).
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from paragrid.models.columns import keep_from_bits
from paragrid.models.config import Architecture, TrainSettings
from paragrid.models.data import FoldData, prepare, resolve_device
from paragrid.models.metrics import confusion, uar_from_confusion
from paragrid.models.nets import StackedModel, build_model, forward
from paragrid.models.options import Pack, Run
from paragrid.models.outcome import FoldOutcome, curves_frame
from paragrid.models.streams import make_streams
from paragrid.models.train import checked_sources, epoch_caps, finish, outcome_model


def train_folds_reference(data: FoldData, arch: Architecture, settings: TrainSettings, method: str = "dnn",
                          sources: Sequence[StackedModel] = (), *, pack: Pack = Pack(), run: Run = Run()) -> FoldOutcome:
    """Same algorithm and random numbers as `train_folds`, one fold-model at a time with torch.optim
    (run.vectorised_adam does not apply)."""
    t0 = time.perf_counter()
    device = resolve_device(run.device)
    d = prepare(data, device)
    pack = pack.resolved(d.n_folds)
    srcs = checked_sources(method, arch, d, sources, device)
    # The network of all F fold-models as train_folds builds it: the trained model's template
    # (method, shapes, source columns). Each fold below is built and trained alone.
    init = build_model(method, arch, d.n_in, d.n_classes, srcs, pack.seeds, pack.fold_ids).to(device)
    caps = epoch_caps(settings, d.train.sum(1), d.n_full_train)
    y_np = d.y.cpu().numpy()
    best_so_far = np.full(d.n_folds, np.nan)
    fold_params, val_uar, best_epoch, epochs_run, steps_run, records = [], [], [], [], [], []
    kind = "generator"
    on_batch, epoch_callback = run.on_batch, run.epoch_callback
    for f in range(d.n_folds):
        net = build_model(method, arch, d.n_in, d.n_classes, [s.select([f]) for s in srcs], pack.seeds[f : f + 1],
                          pack.fold_ids[f : f + 1]).to(device)
        params = [p.requires_grad_(True) for p in net.params.values()]
        if settings.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=settings.lr, weight_decay=settings.weight_decay)
        streams = make_streams(run.rng, pack.seeds[f : f + 1], pack.fold_ids[f : f + 1], device)
        kind = streams.kind
        x = d.x_of(f)
        train_rows = torch.as_tensor(np.flatnonzero(d.train[f]), device=device)
        n = np.array([len(train_rows)])
        val_rows = np.flatnonzero(d.val[f])
        test_rows = np.flatnonzero(d.test[f])
        best_val, best_state, best_ep, bad, steps = -math.inf, None, 0, 0, 0
        for epoch in range(1, int(caps[f]) + 1):
            order = streams.order(epoch, train_rows.unsqueeze(0), n)[0]
            loss_sum = torch.zeros((), device=device)
            for s, start in enumerate(range(0, len(order), settings.batch_size)):  # the last partial batch included
                rows = order[start : start + settings.batch_size]
                keep = None
                if arch.dropout > 0:
                    bits = torch.empty((1, arch.layers, settings.batch_size, arch.width), dtype=torch.int16,
                                       device=device)
                    valid = (torch.arange(settings.batch_size, device=device) < len(rows)).unsqueeze(0)
                    bits = streams.dropout_bits(epoch, s, bits, np.array([len(rows)]), valid)[:, :, : len(rows)]
                    keep = keep_from_bits(bits, arch.dropout)
                logits = forward(net, x[rows].unsqueeze(0), keep)[0]
                loss = F.cross_entropy(logits, d.y[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
                loss_sum += loss.detach() * len(rows)
                if on_batch is not None:
                    on_batch(epoch, np.array([f]), rows.unsqueeze(0), torch.ones_like(rows, dtype=torch.bool).unsqueeze(0))
            val = _uar_rows(net, x, y_np, val_rows)
            if val > best_val:
                best_val, best_ep, bad = val, epoch, 0
                best_state = {n_: p.detach().clone() for n_, p in net.params.items()}
            else:
                bad += 1
            last = epoch == caps[f] or (settings.patience is not None and bad >= settings.patience)
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
        steps_run.append(steps)
    params = {n_: torch.cat([p[n_] for p in fold_params]) for n_ in fold_params[0]}
    model = outcome_model(init, params, settings, pack, kind)
    return finish(model, d, device, t0, curves_frame(records), val_uar=val_uar, best_epoch=best_epoch,
                  epochs_run=epochs_run, epoch_cap=caps, optimizer_steps=steps_run)

@torch.no_grad()
def _uar_rows(net: StackedModel, x: torch.Tensor, y: np.ndarray, rows: np.ndarray) -> float:
    """UAR of a one-fold network over the given rows (eval mode), with the numpy metric."""
    pred = forward(net, x[torch.as_tensor(rows, device=x.device)].unsqueeze(0))[0].argmax(-1).cpu().numpy()
    return uar_from_confusion(confusion(y[rows], pred, net.n_classes))
