"""Adam and SGD over stacked (F, ...) tensors: every fold is its own optimisation problem.

Each fold keeps its own moments and its own step count. Folds hold different numbers of
training rows, so in some steps of an epoch a fold has no batch left; it then takes no step:
its weights and moments do not move (bit for bit). Which folds step depends only on how many
rows each fold has, which the host knows, so it is planned once per epoch: no host-device
synchronisation inside the batch loop.

Adam comes in two forms with the same arithmetic as torch.optim.Adam (L2 weight decay added to
the gradient), chosen by `vectorised`:
  slices (CPU default)  torch.optim.adam.adam, the public functional form that torch.optim.Adam
                        runs, with fused=True, over the moving folds' slices of every tensor: one
                        pass over weights, moments and gradients (5.8 ms per step at the paper's
                        size, F = 10, where the masked form below takes 12-23 ms on one core).
                        A fold's step count is its own 0-d tensor, advanced by the kernel.
  masked (CUDA default) a fixed handful of element-wise ops over whole stacked tensors with
                        per-fold coefficients (step size 0 and moment weights 0 for a fold that
                        does not step), computed on the device: the same number of kernels for
                        10 or 10,000 fold-models, and no Python loop over folds.
SGD is the same arithmetic as torch.optim.SGD. The reference trainer uses torch.optim itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.optim.adam import adam as functional_adam

from paragrid.models.config import TrainSettings
from paragrid.models.data import upload

BETAS = (0.9, 0.999)
EPS = 1e-8


@dataclass
class MaskedStep:
    """Per-fold coefficients (F,) of one Adam step of the masked form, on the device."""

    all_moving: bool           # host-known: no fold idles in this step (then no masking is needed)
    moving: torch.Tensor       # 1.0 for a fold that steps, else 0.0
    w1: torch.Tensor           # (1 - beta1) or 0: the first moment's lerp weight
    b2: torch.Tensor           # beta2 or 1: the second moment's decay
    bc2_sqrt: torch.Tensor     # sqrt(1 - beta2^t) or 1
    neg_step: torch.Tensor     # -lr / (1 - beta1^t) or 0


def _per_fold(c: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return c.view(-1, *([1] * (like.dim() - 1)))


class StackedOptimizer:
    def __init__(self, params: list[torch.Tensor], settings: TrainSettings, vectorised: bool | None = None) -> None:
        self.params = params
        self.kind = settings.optimizer
        self.lr = float(settings.lr)
        self.weight_decay = float(settings.weight_decay)
        device = params[0].device
        self.vectorised = device.type == "cuda" if vectorised is None else bool(vectorised)
        n_folds = params[0].shape[0]
        self.steps = np.zeros(n_folds, dtype=np.int64)  # host-side: each fold's number of updates
        if self.kind == "adam":
            self.m = [torch.zeros_like(p) for p in params]
            self.v = [torch.zeros_like(p) for p in params]
            # per fold (and, for the fused kernel, per tensor) step counts on the device
            self.t = torch.zeros((n_folds, len(params)), dtype=torch.float32, device=device)

    def select(self, keep: torch.Tensor, keep_np: np.ndarray, params: list[torch.Tensor]) -> None:
        """Keep only some folds (when others have stopped early)."""
        self.params = params
        self.steps = self.steps[keep_np]
        if self.kind == "adam":
            self.m = [m.index_select(0, keep) for m in self.m]
            self.v = [v.index_select(0, keep) for v in self.v]
            self.t = self.t.index_select(0, keep)

    def plan_epoch(self, moving: np.ndarray, device: torch.device, moving_t: torch.Tensor | None = None) -> list:
        """What each of the S steps of one epoch does. moving: (S, F) bool, fold f has a batch at step s
        (moving_t: the same on the device, if the caller keeps it there). Returns one entry per
        step; `step(grads, plan[s])` applies step s. Nothing here waits for the device."""
        moving = np.asarray(moving, dtype=bool)
        self.steps = self.steps + moving.sum(axis=0)
        if self.kind == "sgd" or (self.kind == "adam" and self.vectorised):
            if moving_t is None:
                moving_t = upload(moving, device)
            mv = moving_t.to(torch.float64)
        if self.kind == "sgd":
            return list((-self.lr * mv).to(torch.float32))            # (F,): -lr for a moving fold, else 0
        if not self.vectorised:
            return [np.flatnonzero(row) for row in moving]
        b1, b2 = BETAS
        t = self.t[:, 0].to(torch.float64)[None, :] + torch.cumsum(mv, 0)     # (S, F) counts after step s
        self.t += mv.sum(0).to(torch.float32)[:, None]
        on = mv > 0
        coef = torch.stack([mv, (1 - b1) * mv, torch.where(on, b2, 1.0),
                            torch.where(on, torch.sqrt(1 - b2 ** t), 1.0),
                            torch.where(on, -self.lr / (1 - b1 ** t), 0.0)]).to(torch.float32)
        return [MaskedStep(bool(moving[s].all()), *coef[:, s]) for s in range(moving.shape[0])]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], plan) -> None:
        if self.kind == "sgd":
            for p, g in zip(self.params, grads):
                if self.weight_decay:
                    g = g.add(p, alpha=self.weight_decay)
                p.addcmul_(g, _per_fold(plan, p))
            return
        if self.vectorised:
            self._masked_adam(grads, plan)
            return
        folds = plan.tolist()
        if not folds:
            return
        n = len(self.params)
        per_fold = [t.unbind(0) for t in (*self.params, *grads, *self.m, *self.v)]
        ps, gs, ms, vs = ([u[f] for f in folds for u in per_fold[i * n:(i + 1) * n]] for i in range(4))
        t_rows = self.t.unbind(0)
        steps = [t for f in folds for t in t_rows[f].unbind(0)]   # advanced by one inside the kernel
        functional_adam(ps, gs, ms, vs, [], steps, fused=True, amsgrad=False, beta1=BETAS[0], beta2=BETAS[1],
                        lr=self.lr, weight_decay=self.weight_decay, eps=EPS, maximize=False)

    def _masked_adam(self, grads: list[torch.Tensor], c: MaskedStep) -> None:
        """torch.optim.Adam's update (single-tensor form) with per-fold coefficients. A fold that
        does not step gets lerp weight 0, decay 1 and step size 0 on a zeroed gradient, so its
        weights and moments keep their bits."""
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            if c.all_moving:
                m.lerp_(g, 1 - BETAS[0])
                v.mul_(BETAS[1]).addcmul_(g, g, value=1 - BETAS[1])
            else:
                g = g * _per_fold(c.moving, g)
                m.lerp_(g, _per_fold(c.w1, m))
                v.mul_(_per_fold(c.b2, v)).addcmul_(g, g, value=1 - BETAS[1])
            denom = v.sqrt().div_(_per_fold(c.bc2_sqrt, v)).add_(EPS)
            p.addcmul_(m.div(denom), _per_fold(c.neg_step, p))
