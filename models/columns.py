"""Building blocks of a stacked MLP column: F independent networks computed as one.

Every weight carries a leading fold axis F, so fold f's layer is `weight[f]` and one
`torch.baddbmm` evaluates the same layer of all F networks at once (each on its own rows).
Shapes: activations (F, B, in), weights (F, in, out), biases (F, 1, out).

Random numbers come from per-fold generators seeded from (seed, fold, stream): training fold f
alone (the reference loop) or together with the other folds draws exactly the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Streams of random numbers a fold uses, each from its own generator.
INIT_STREAM = 0   # weight initialisation (a CPU generator: same initial weights on every device)
TRAIN_STREAM = 1  # per-epoch shuffles and dropout masks (a generator on the training device)


def fold_seed(seed: int, fold: int, stream: int) -> int:
    """A well-mixed 63-bit seed for one (seed, fold, stream); stable across runs and platforms."""
    return int(np.random.SeedSequence([int(seed), int(fold), int(stream)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def generator(seed: int, fold: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(fold_seed(seed, fold, stream))
    return g


def glorot_uniform(gen: torch.Generator, fan_in: int, fan_out: int) -> torch.Tensor:
    """(fan_in, fan_out) weights ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010,
    Keras' default, which suits sigmoid units)."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand((fan_in, fan_out), generator=gen) * 2.0 - 1.0) * a


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (F, B, in) @ weight (F, in, out) + bias (F, 1, out), one fused batched matmul."""
    return torch.baddbmm(bias, x, weight)


def draw_uniform(gen: torch.Generator, out: torch.Tensor) -> torch.Tensor:
    """Fill a contiguous tensor with U[0, 1) numbers from `gen`: the randomness of dropout.

    One call per fold and step, so a fold's numbers do not depend on how many other folds train
    beside it (the stacked trainer fills its slice of a shared buffer, the reference a fresh tensor)."""
    return out.uniform_(generator=gen)


def keep_from_uniform(u: torch.Tensor, p: float) -> torch.Tensor:
    """Turn uniforms into inverted-dropout multipliers in place: 0 where u < p, else 1 / (1 - p).

    (A padding row filled with zeros becomes all 0, so it stays finite and inert.)"""
    return u.ge_(p).mul_(1.0 / (1.0 - p))
