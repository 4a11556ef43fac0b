"""Unweighted average recall (UAR), the paper's metric, and the confusion matrix it comes from.

UAR = mean over classes of recall = TP_c / (number of utterances whose TRUE class is c).
It is computed per utterance over a whole evaluation fold, never averaged per mini-batch.

Classes absent from a fold's truth have an undefined recall (0 / 0). They are EXCLUDED from
the mean: UAR is the mean recall over the classes that occur in the fold's truth. A fold whose
truth is empty gives nan. Predictions of an absent class still count, as errors of the true
class of those utterances.

`uar_stacked` is the same rule on torch tensors for F folds at once (rows selected by masks);
the trainer uses it every epoch without leaving the device.
"""

from __future__ import annotations

import numpy as np
import torch

from paragrid.errors import UserError


def _check_labels(name: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise UserError(f"{name} must be a 1-D array of class ids, got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise UserError(f"{name} holds class ids outside 0..{n_classes - 1} (min {y.min()}, max {y.max()})")
    return y.astype(np.int64, copy=False)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts: rows = truth, columns = prediction."""
    t = _check_labels("y_true", y_true, n_classes)
    p = _check_labels("y_pred", y_pred, n_classes)
    if t.shape != p.shape:
        raise UserError(f"y_true and y_pred differ in length ({t.size} vs {p.size})")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def uar_from_confusion(cm: np.ndarray) -> float:
    """Mean recall over the classes present in the truth (rows with a non-zero sum); nan if none."""
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def uar(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted average recall of predictions `y_pred` against the truth `y_true` (order matters)."""
    return uar_from_confusion(confusion(y_true, y_pred, n_classes))


def confusion_stacked(y_true: torch.Tensor, y_pred: torch.Tensor, valid: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(F, C, C) float counts from (F, R) truth, prediction and row-validity tensors.

    A scatter-add instead of bincount so that no host synchronisation happens on CUDA."""
    n_folds = y_true.shape[0]
    fold = torch.arange(n_folds, device=y_true.device).unsqueeze(1)
    y_true = torch.where(valid, y_true, 0)  # padding rows may hold any label; they are not counted
    y_pred = torch.where(valid, y_pred, 0)
    cell = (fold * n_classes + y_true) * n_classes + y_pred
    counts = torch.zeros(n_folds * n_classes * n_classes, dtype=torch.float64, device=y_true.device)
    counts.scatter_add_(0, cell.reshape(-1), valid.reshape(-1).to(counts.dtype))
    return counts.view(n_folds, n_classes, n_classes)


def uar_from_confusion_stacked(cm: torch.Tensor) -> torch.Tensor:
    """(F,) UAR from (F, C, C) confusions with the same absent-class rule as `uar_from_confusion`."""
    support = cm.sum(dim=2)
    present = support > 0
    recall = torch.where(present, torch.diagonal(cm, dim1=1, dim2=2) / support.clamp(min=1), 0.0)
    return recall.sum(dim=1) / present.sum(dim=1)  # 0 / 0 = nan when no class is present


def uar_stacked(y_true: torch.Tensor, y_pred: torch.Tensor, valid: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(F,) UAR of each fold over its valid rows."""
    return uar_from_confusion_stacked(confusion_stacked(y_true, y_pred, valid, n_classes))
