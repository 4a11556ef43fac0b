"""Adam and SGD over stacked (F, ...) tensors: every fold is its own optimisation problem.

Each fold keeps its own moments and its own step count. Folds hold different numbers of
training rows, so in some steps of an epoch a fold has no batch left; it then takes no step:
its weights and moments do not move (bit for bit). Which folds step, and each fold's step count,
depend only on how many rows each fold has, which the host knows, so they are planned once per
epoch on the host and uploaded in one transfer: no host-device synchronisation inside the
batch loop.

Adam is torch's own fused kernel (`torch._fused_adam_`, what `torch.optim.Adam(fused=True)`
runs), applied to every moving fold's slice of every tensor in one call: one pass over the
weights, moments and gradients instead of nine separate element-wise passes (3x less time
per step at the paper's size, bench/RESULTS.md). SGD is the same arithmetic as torch.optim.SGD
(L2 weight decay added to the gradient). The reference trainer uses torch.optim, so a fold
trained alone or stacked follows the same trajectory (to float rounding).
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

    def plan_epoch(self, moving: np.ndarray, device: torch.device) -> list:
        """What each of the S steps of one epoch does. moving: (S, F) bool, fold f has a batch at step s.

        Returns one entry per step; `step(grads, plan[s])` applies step s."""
        moving = moving.astype(bool)
        if self.kind == "sgd":
            coef = torch.as_tensor(-self.lr * moving, dtype=torch.float32).to(device)
            self.steps = self.steps + moving.sum(axis=0)
            return list(coef[..., None, None])          # (F, 1, 1): -lr for a moving fold, else 0
        counts = self.steps[None, :] + np.cumsum(moving, axis=0)  # each fold's step count after step s
        self.steps = counts[-1].copy()
        counts_t = torch.as_tensor(counts, dtype=torch.float32).to(device)
        return [(folds, [counts_t[s, f] for f in folds])
                for s, folds in enumerate(np.flatnonzero(row).tolist() for row in moving)]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], plan) -> None:
        if self.kind == "sgd":
            for p, g in zip(self.params, grads):
                if self.weight_decay:
                    g = g.add(p, alpha=self.weight_decay)
                p.addcmul_(g, plan)
            return
        folds, counts = plan
        if not folds:
            return
        per_fold = [t.unbind(0) for t in (*self.params, *grads, *self.m, *self.v)]
        n = len(self.params)
        ps, gs, ms, vs = ([u[f] for f in folds for u in per_fold[i * n:(i + 1) * n]] for i in range(4))
        steps = [c for c in counts for _ in range(n)]  # fold f's count for each of its tensors
        torch._fused_adam_(ps, gs, ms, vs, [], steps, lr=self.lr, beta1=BETAS[0], beta2=BETAS[1],
                           weight_decay=self.weight_decay, eps=EPS, amsgrad=False, maximize=False)
