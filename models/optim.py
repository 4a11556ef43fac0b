"""Adam and SGD over stacked (F, ...) tensors: every fold is its own optimisation problem.

Each fold keeps its own moments and its own step count. Folds hold different numbers of
training rows, so in some steps of an epoch a fold has no batch left; its coefficients are
then zero and its weights and moments do not move (bit for bit). The per-step coefficients
depend only on how many rows each fold has, which the host knows, so they are computed once
per epoch on the host (float64, like torch.optim) and uploaded in one transfer: no
host-device synchronisation inside the batch loop.

The arithmetic mirrors torch.optim.Adam / SGD (L2 weight decay added to the gradient), which
the reference trainer uses, so a fold trained alone or stacked follows the same trajectory.
"""

from __future__ import annotations

import numpy as np
import torch

from paragrid.models.config import TrainSettings

BETAS = (0.9, 0.999)
EPS = 1e-8


class StackedOptimizer:
    def __init__(self, params: list[torch.Tensor], settings: TrainSettings) -> None:
        self.params = params
        self.kind = settings.optimizer
        self.lr = float(settings.lr)
        self.weight_decay = float(settings.weight_decay)
        n_folds = params[0].shape[0]
        self.steps = np.zeros(n_folds, dtype=np.int64)  # host-side: each fold's number of updates
        if self.kind == "adam":
            self.m = [torch.zeros_like(p) for p in params]
            self.v = [torch.zeros_like(p) for p in params]

    def select(self, keep: torch.Tensor, keep_np: np.ndarray, params: list[torch.Tensor]) -> None:
        """Keep only some folds (when others have stopped early)."""
        self.params = params
        self.steps = self.steps[keep_np]
        if self.kind == "adam":
            self.m = [m.index_select(0, keep) for m in self.m]
            self.v = [v.index_select(0, keep) for v in self.v]

    def plan_epoch(self, moving: np.ndarray, device: torch.device) -> torch.Tensor:
        """Coefficients for the S steps of one epoch. moving: (S, F) bool, fold f has a batch at step s.

        Returns (S, k, F, 1, 1) float32 on the device; `step(grads, coef[s])` applies step s."""
        moving = moving.astype(bool)
        m = moving.astype(np.float64)
        if self.kind == "sgd":
            coef = [-self.lr * m]
        else:
            b1, b2 = BETAS
            t = self.steps[None, :] + np.cumsum(moving, axis=0)  # step count after each step
            t = np.maximum(t, 1)  # a fold that has not moved yet: any finite value (multiplied by 0)
            coef = [
                (1 - b1) * m,                      # weight of the new gradient in m (lerp)
                np.where(moving, b2, 1.0),         # decay of v
                (1 - b2) * m,                      # weight of grad^2 in v
                np.sqrt(1 - b2 ** t),              # bias correction of v (sqrt)
                -self.lr / (1 - b1 ** t) * m,      # signed step size with the bias correction of m
            ]
        self.steps = self.steps + moving.sum(axis=0)
        c = np.stack(coef, axis=1)[..., None, None]
        return torch.as_tensor(c, dtype=torch.float32).to(device)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], coef: torch.Tensor) -> None:
        # In place and fused (addcmul_, addcdiv_) as far as per-fold coefficient tensors allow:
        # 2 full-size temporaries and 9 passes per tensor instead of 4 and 11 (bench/RESULTS.md).
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            if self.kind == "sgd":
                p.addcmul_(g, coef[0])
                continue
            w1, b2, w2, bc2_sqrt, step = coef
            m, v = self.m[i], self.v[i]
            m.lerp_(g, w1)
            v.mul_(b2).addcmul_(g, g * w2)
            denom = v.sqrt().div_(bc2_sqrt).add_(EPS)
            # p += step * m / denom; a fold that does not move has step = 0 (denom / 0 = inf, m / inf = 0)
            p.addcdiv_(m, denom.div_(step))
