"""Prediction and evaluation in eval mode (no dropout), and the forgetting measure.

Scores are computed per utterance over a whole evaluation fold: predictions may be made in
chunks of rows (to bound memory) but the confusion matrix, hence the UAR, is over all rows.
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import numpy as np
import torch

from paragrid.errors import UserError
from paragrid.models.data import FoldData, gather, padded_rows, prepare
from paragrid.models.metrics import confusion, uar_from_confusion
from paragrid.models.nets import StackedModel, forward

log = logging.getLogger(__name__)


class SingleClassWarning(UserWarning):
    """A model predicted one class for every utterance of a test fold (UAR at chance)."""


def _as_features(model: StackedModel, x) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32).to(model.device)
    if x.dim() == 3 and x.shape[0] != model.n_folds:
        raise UserError(f"x has {x.shape[0]} folds but the model {model.n_folds}")
    if x.shape[-1] != model.n_in:
        raise UserError(f"x has {x.shape[-1]} features but the model takes {model.n_in}")
    return x


@torch.no_grad()
def _predict_padded(model: StackedModel, x: torch.Tensor, idx: torch.Tensor, chunk_rows: int | None) -> torch.Tensor:
    """Eval-mode class ids (F, R) for rows idx (F, R); rows are processed in chunks to bound memory."""
    folds = torch.arange(model.n_folds, device=idx.device)
    step = chunk_rows or idx.shape[1]
    out = [forward(model, gather(x, folds, idx[:, i : i + step])).argmax(-1) for i in range(0, idx.shape[1], step)]
    return torch.cat(out, dim=1)


def predict(model: StackedModel, x, mask, *, chunk_rows: int | None = 8192) -> np.ndarray:
    """(F, N) predicted class ids in eval mode (no dropout) for the rows of mask (F, N); -1 elsewhere."""
    x = _as_features(model, x)
    mask = np.asarray(mask, dtype=bool)
    idx, valid = padded_rows(mask, model.device)
    pred = _predict_padded(model, x, idx, chunk_rows).cpu().numpy()
    out = np.full(mask.shape, -1, dtype=np.int64)
    valid_np = valid.cpu().numpy()
    for f in range(mask.shape[0]):
        out[f, idx[f].cpu().numpy()[valid_np[f]]] = pred[f][valid_np[f]]
    return out


def evaluate(model: StackedModel, x, y, mask, *, chunk_rows: int | None = 8192) -> tuple[np.ndarray, np.ndarray]:
    """UAR (F,) and confusion (F, C, C) of each fold over ALL its rows in mask (one number per
    utterance set, whatever the chunking)."""
    uar, cms, _ = evaluate_with_predictions(model, x, y, mask, chunk_rows=chunk_rows)
    return uar, cms


def evaluate_with_predictions(model: StackedModel, x, y, mask, *, chunk_rows: int | None = 8192
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`evaluate` plus the (F, N) predicted class ids it scored (-1 outside mask), from which
    the results' per-speaker confusions (the speaker-level bootstrap's input) are counted."""
    pred = predict(model, x, mask, chunk_rows=chunk_rows)
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    cms = np.stack([confusion(y[mask[f]], pred[f][mask[f]], model.n_classes) for f in range(len(pred))])
    return np.array([uar_from_confusion(cm) for cm in cms]), cms, pred


def warn_single_class(cms: np.ndarray, class_names: Sequence[str] | None, folds: Sequence[int],
                      seeds: Sequence[int] | None = None) -> None:
    """Loud warning when a fold's test predictions are all one class (UAR at chance). `seeds`
    (one per fold-model) names the trial of each fold in a pack of several trials."""
    for i, (f, cm) in enumerate(zip(folds, cms)):
        predicted = np.flatnonzero(cm.sum(0))
        if predicted.size == 1 and cm.shape[0] > 1:
            c = int(predicted[0])
            name = f" ({class_names[c]!r})" if class_names else ""
            of = f" (seed {int(seeds[i])})" if seeds is not None else ""
            msg = (f"fold {int(f)}{of}: the model predicts class {c}{name} for all {int(cm.sum())} test utterances "
                   "(UAR at chance); check feature normalisation, learning rate and epochs")
            log.warning(msg)
            warnings.warn(msg, SingleClassWarning, stacklevel=4)


def source_task_uar(net: StackedModel, source: StackedModel, data: FoldData) -> np.ndarray:
    """(F,) source-task test UAR after transfer (the forgetting effect); data.y = the SOURCE task's labels.

    ptft: the fine-tuned hidden layers of `net` under `source`'s original output head.
    prognet: the frozen copy of `source` stored inside `net` (unchanged, so equal to the source's
    own UAR). dnn: there is no source, UserError."""
    if not isinstance(source, StackedModel) or not isinstance(net, StackedModel):
        raise UserError("source_task_uar needs two StackedModels (the transferred net and its source)")
    if net.method == "dnn":
        raise UserError("a dnn has no source model, so it has no source-task UAR")
    if net.method == "prognet":
        stored = [s for s in net.sources if s.uid == source.uid]
        if not stored:
            raise UserError(f"model {source.uid} is not a source column of this prognet")
        probe = stored[0]
    else:
        if source.uid not in net.meta.get("source_uids", []):
            raise UserError(f"model {source.uid} is not the source this ptft model was fine-tuned from")
        params = {n: p for n, p in net.params.items() if n.startswith("hidden.")}
        params.update({n: p.to(net.device) for n, p in source.params.items() if n.startswith("out.")})
        probe = StackedModel("dnn", net.arch, net.n_in, source.n_classes, params, (), source.class_names)
    if data.n_classes != probe.n_classes:
        raise UserError(f"data has {data.n_classes} classes but the source head predicts {probe.n_classes}; "
                        "pass the source task's labels")
    d = prepare(data, probe.device)
    if d.n_folds != probe.n_folds:
        raise UserError(f"data has {d.n_folds} folds but the model {probe.n_folds}")
    uar, _ = evaluate(probe, d.x, d.y, d.test)
    return uar
