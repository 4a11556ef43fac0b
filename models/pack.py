"""Packs: several trials' models as one StackedModel along the fold axis, and back.

A pack trains several trials whose networks have the same shape as ONE stacked model (F = folds
x trials, train.train_folds with one seed and fold id per fold-model: options.Pack). Their source
models are stacked the same way, trial after trial, so that fold-model i reads its own trial's
source fold:

    src = stack_models([speaker_model_repeat0, speaker_model_repeat1])   # F = 10 + 10
    out = train_folds(stack_data([data0, data1]), arch, settings, "prognet", [src],
                      pack=Pack(seeds=[s0] * 10 + [s1] * 10, fold_ids=[*range(10), *range(10)]))
    trial0, trial1 = out.select(range(10)), out.select(range(10, 20))

A stacked model remembers its parts (uid, folds, meta), so `unstack` of exactly one part's
positions gives that part back with its own uid: a trial's prognet then holds source columns
that source_task_uar recognises as the trial's own sources.
"""

from __future__ import annotations

import uuid
from typing import Sequence

import numpy as np
import torch

from paragrid.errors import UserError
from paragrid.models.data import FoldData
from paragrid.models.nets import StackedModel


def _host(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def stack_data(datas: Sequence[FoldData]) -> FoldData:
    """Several trials' FoldData on the same rows (same corpus, task and labels) as one pack:
    masks concatenated along the fold axis, trial after trial. Features shared by every fold
    ((N, D), the same values in each trial) stay shared; otherwise each trial's are broadcast
    to (k, N, D) and concatenated (e.g. per-step normalisation). n_full_train is concatenated,
    a trial without it counting its own training sizes."""
    datas = list(datas)
    if not datas:
        raise UserError("stack_data needs at least one FoldData")
    first = datas[0]
    y0 = _host(first.y)
    for i, d in enumerate(datas[1:], 1):
        if d.n_classes != first.n_classes or not np.array_equal(_host(d.y), y0):
            raise UserError(f"stack_data: trial {i} has other labels or classes than trial 0; a pack shares its rows and task")
    xs = [_host(d.x) for d in datas]
    if all(x.ndim == 2 for x in xs) and all(x is xs[0] or np.array_equal(x, xs[0]) for x in xs[1:]):
        x = xs[0]
    else:
        x = np.concatenate([np.broadcast_to(x, (d.n_folds, *x.shape[-2:])) for x, d in zip(xs, datas)])
    cat = {name: np.concatenate([np.asarray(getattr(d, name)) for d in datas]) for name in ("train", "val", "test")}
    full = None
    if any(d.n_full_train is not None for d in datas):
        full = np.concatenate([np.asarray(d.n_full_train if d.n_full_train is not None else np.asarray(d.train).sum(1))
                               for d in datas]).astype(np.int64)
    return FoldData(x, y0, cat["train"], cat["val"], cat["test"], first.n_classes, full)


def stack_models(models: Sequence[StackedModel]) -> StackedModel:
    """One StackedModel whose folds are the models' folds, in order (a true copy, on the first
    model's device). All must have the same method, architecture, inputs, classes and sources' shapes."""
    models = list(models)
    if not models or not all(isinstance(m, StackedModel) for m in models):
        raise UserError("stack_models needs a non-empty list of StackedModels")
    first = models[0]
    for i, m in enumerate(models[1:], 1):
        same = (m.method, m.arch, m.n_in, m.n_classes, len(m.sources)) == \
            (first.method, first.arch, first.n_in, first.n_classes, len(first.sources))
        shapes = {n: tuple(p.shape[1:]) for n, p in m.params.items()} == \
            {n: tuple(p.shape[1:]) for n, p in first.params.items()}
        if not (same and shapes):
            raise UserError(f"stack_models: model {i} ({m!r}) differs in shape from model 0 ({first!r}); "
                            "only networks of the same shape can share a pack")
        if m.class_names != first.class_names:
            raise UserError(f"stack_models: model {i} has classes {m.class_names}, model 0 {first.class_names}")
    device = first.device
    params = {n: torch.cat([m.params[n].detach().to(device) for m in models]) for n in first.params}
    sources = [stack_models([m.sources[j] for m in models]) for j in range(len(first.sources))]
    parts = [{"uid": m.uid, "n_folds": m.n_folds, "meta": m.meta} for m in models]
    return StackedModel(first.method, first.arch, first.n_in, first.n_classes, params, sources,
                        first.class_names, meta={"parts": parts})


def part_of(parts: list[dict] | None, positions: Sequence[int]) -> dict | None:
    """The part whose folds are exactly `positions` (in order), or None."""
    if not parts:
        return None
    start = 0
    for p in parts:
        if list(positions) == list(range(start, start + p["n_folds"])):
            return p
        start += p["n_folds"]
    return None


def unstack(model: StackedModel, positions: Sequence[int]) -> StackedModel:
    """The fold-models at `positions`; exactly one stacked part comes back as that part (its uid and
    meta), anything else as a selection with a fresh uid. Sources are unstacked alike."""
    positions = [int(p) for p in positions]
    sub = model.select(positions)
    sources = [unstack(s, positions) for s in model.sources]
    part = part_of(model.meta.get("parts"), positions)
    if part is not None:
        return StackedModel(model.method, model.arch, model.n_in, model.n_classes, sub.params, sources,
                            model.class_names, part["uid"], part["meta"])
    if positions == list(range(model.n_folds)):
        return StackedModel(model.method, model.arch, model.n_in, model.n_classes, sub.params, sources,
                            model.class_names, model.uid, model.meta)
    meta = dict(model.meta)
    for key in ("seeds", "fold_ids"):
        if key in meta:
            meta[key] = [meta[key][p] for p in positions]
    if len(set(meta.get("seeds", []))) == 1:
        meta["seed"] = meta["seeds"][0]
    if "source_uids" in meta:
        uids = []
        for j, uid in enumerate(meta["source_uids"]):
            parts = (meta.get("source_parts") or [None] * (j + 1))[j]
            p = part_of(parts, positions)
            uids.append(p["uid"] if p else uid)
        meta["source_uids"] = uids
        meta["source_parts"] = [None] * len(uids)
    return StackedModel(model.method, model.arch, model.n_in, model.n_classes, sub.params, sources,
                        model.class_names, uuid.uuid4().hex, meta)
