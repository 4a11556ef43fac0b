"""Forgetting measured by a linear probe: how much of the source task the transferred network's
last hidden layer still holds, whatever happened to the source head.

evaluate.source_task_uar puts the source's own output layer on the transferred hidden layers: it
mixes representation drift with head mismatch (the hidden units may still carry the information,
rearranged, so that the old head no longer reads it). The probe re-fits a linear classifier for
the source task on the transferred network's last hidden layer h_L (its own column; for a
prognet the new column, whose input includes the frozen columns' laterals), on each fold's
TRAINING rows only, and scores UAR on the fold's test rows. A large gap between the two
measures means the head no longer fits; a low probe UAR means the representation drifted.

The classifier: multinomial logistic regression on features standardised with the training
rows' mean and standard deviation, weights from zero, a fixed number of full-batch Adam steps
on the mean cross-entropy plus an L2 penalty. Adam is element-wise and every fold steps every
step, so fold f's probe is independent of the other folds (L-BFGS on the stacked problem would
share its line search across folds). No randomness: the same inputs give the same probe.

Why the gradient is written out: the probe is one convex problem per fold-model, and a pack of
a thousand fold-models fits a thousand of them at once, 300 steps each, so its cost is what the
forgetting measure costs a big grid. The gradient of the mean cross-entropy with respect to the
logits is (softmax - one-hot) / n, so one step is two batched matmuls, a softmax and torch's
functional Adam, with the classes on the middle axis (F, C, R): on one CPU thread a softmax
over a last axis of 4 classes took 65 ms where the middle axis took 9 ms (620 fold-models x
810 rows), and autograd's cross-entropy backward pays it again. bench/probe_speed.py times the
two forms of the whole probe (bench/RESULTS.md, "Forgetting probe").
tests/test_models_probe.py checks the gradient against autograd's in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.optim.adam import adam as functional_adam

from paragrid.errors import UserError
from paragrid.models.data import FoldData, gather, padded_rows, prepare
from paragrid.models.metrics import uar_stacked
from paragrid.models.nets import StackedModel, hidden_states
from paragrid.models.optim import BETAS, EPS

PROBE_STEPS = 300
PROBE_LR = 0.05
PROBE_L2 = 1e-4
_VAR_FLOOR = 1e-4   # a unit constant on the training rows is scaled by at most 1 / 0.01


@dataclass
class LinearProbe:
    """F linear classifiers on standardised features: logits = ((h - mean) / scale) W + b."""

    mean: torch.Tensor    # (F, 1, W)
    scale: torch.Tensor   # (F, 1, W)
    weight: torch.Tensor  # (F, W, C)
    bias: torch.Tensor    # (F, 1, C)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, (h - self.mean) / self.scale, self.weight)


@torch.no_grad()
def last_hidden(model: StackedModel, x: torch.Tensor, idx: torch.Tensor, chunk_rows: int | None = 8192) -> torch.Tensor:
    """(F, R, W) eval-mode last hidden layer of the model's own column for rows idx (F, R)."""
    folds = torch.arange(model.n_folds, device=idx.device)
    step = chunk_rows or idx.shape[1]
    return torch.cat([hidden_states(model, gather(x, folds, idx[:, i : i + step]))[-1]
                      for i in range(0, idx.shape[1], step)], dim=1)


def probe_gradients(z: torch.Tensor, zt: torch.Tensor, w_t: torch.Tensor, b: torch.Tensor,
                    target_share: torch.Tensor, row_share: torch.Tensor, l2: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of sum_f mean_r CE_f + l2/2 |W|^2 with respect to W^T (F, C, W) and b (F, C, 1),
    for standardised features z (F, R, W) and zt, its transpose (F, W, R), both contiguous;
    row_share (F, 1, R) is 1/n_f on fold f's valid rows and 0 on padding, target_share (F, C, R)
    the one-hot labels times row_share."""
    g = torch.softmax(torch.baddbmm(b, w_t, zt), dim=1).mul_(row_share).sub_(target_share)  # dL/dlogits
    return torch.bmm(g, z).add_(w_t, alpha=l2), g.sum(2, keepdim=True)


def fit_probe(h: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, n_classes: int, *, steps: int = PROBE_STEPS,
              lr: float = PROBE_LR, l2: float = PROBE_L2) -> LinearProbe:
    """Fit F probes on features h (F, R, W) with labels y (F, R); rows with valid False (padding)
    play no part. Deterministic (see the module docstring)."""
    v = valid.to(h.dtype).unsqueeze(-1)                       # (F, R, 1)
    n = v.sum(1, keepdim=True).clamp(min=1)
    mean = (h * v).sum(1, keepdim=True) / n
    var = (((h - mean) ** 2) * v).sum(1, keepdim=True) / n
    scale = torch.sqrt(var + _VAR_FLOOR)
    z = (h - mean) / scale                                    # (F, R, W)
    zt = z.transpose(1, 2).contiguous()                       # (F, W, R)
    n_folds, width, _ = zt.shape
    row_share = (v / n).transpose(1, 2)                       # (F, 1, R): each row's share of its fold's mean
    target = torch.where(valid, y, 0)
    target_share = F.one_hot(target, n_classes).to(h.dtype).transpose(1, 2) * row_share   # (F, C, R)
    w_t = torch.zeros((n_folds, n_classes, width), dtype=h.dtype, device=h.device)
    b = torch.zeros((n_folds, n_classes, 1), dtype=h.dtype, device=h.device)
    params = [w_t, b]
    m1, m2 = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    counts = [torch.zeros((), dtype=torch.float32, device=h.device) for _ in params]
    with torch.no_grad():
        for _ in range(steps):
            grads = probe_gradients(z, zt, w_t, b, target_share, row_share, l2)
            functional_adam(params, list(grads), m1, m2, [], counts, foreach=False, amsgrad=False,
                            beta1=BETAS[0], beta2=BETAS[1], lr=lr, weight_decay=0.0, eps=EPS, maximize=False)
    return LinearProbe(mean, scale, w_t.transpose(1, 2).contiguous(), b.transpose(1, 2).contiguous())


def source_probe_uar(transferred: StackedModel, source_data: FoldData, *, steps: int = PROBE_STEPS,
                     lr: float = PROBE_LR, l2: float = PROBE_L2, chunk_rows: int | None = 8192,
                     return_probe: bool = False):
    """(F,) test UAR of a linear probe for the SOURCE task (source_data.y = its labels) fitted on
    `transferred`'s last hidden layer over each fold's training rows (see the module docstring).
    With return_probe, (uar, LinearProbe)."""
    if not isinstance(transferred, StackedModel):
        raise UserError("source_probe_uar needs the transferred StackedModel (a FoldOutcome's .model)")
    d = prepare(source_data, transferred.device)
    if d.n_folds != transferred.n_folds:
        raise UserError(f"source data has {d.n_folds} folds but the model {transferred.n_folds}")
    if d.n_in != transferred.n_in:
        raise UserError(f"source data has {d.n_in} features but the model takes {transferred.n_in}")
    train_idx, train_valid = padded_rows(d.train, d.x.device)
    test_idx, test_valid = padded_rows(d.test, d.x.device)
    probe = fit_probe(last_hidden(transferred, d.x, train_idx, chunk_rows), d.y[train_idx], train_valid,
                      d.n_classes, steps=steps, lr=lr, l2=l2)
    with torch.no_grad():
        pred = probe.logits(last_hidden(transferred, d.x, test_idx, chunk_rows)).argmax(-1)
        uar = uar_stacked(d.y[test_idx], pred, test_valid, d.n_classes).cpu().numpy()
    return (uar, probe) if return_probe else uar
