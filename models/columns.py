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


# Dropout randomness: 16 random bits per unit. One 64-bit word from the fold's generator gives
# four units' bits, a quarter of the generator calls of one float uniform per unit (the cost of
# the masks fell from ~15 % of a CPU training step to ~5 %, bench/RESULTS.md). A rate p is
# applied as q / 2^16 with q = round(p * 2^16): within 7.6e-6 of p, exact for 0.5, 0.25, ...
DROPOUT_LEVELS = 1 << 16
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def dropout_levels(p: float) -> int:
    """q: how many of the 2^16 equally likely 16-bit values drop a unit at dropout rate p."""
    q = round(float(p) * DROPOUT_LEVELS)
    if p > 0 and not 0 < q < DROPOUT_LEVELS:
        raise ValueError(f"dropout {p!r} is below 1/65536 or rounds to 1; use 0 (no dropout) or a rate in "
                         f"[{1 / DROPOUT_LEVELS:.2g}, {1 - 1 / DROPOUT_LEVELS:.6f}]")
    return q


def draw_bits(gen: torch.Generator, out: torch.Tensor) -> torch.Tensor:
    """Fill an int16 tensor with uniform random 16-bit values from `gen`: the randomness of dropout.

    All 64 bits of each word are used: torch's default random_() on int64 leaves the sign bit 0,
    so the full range is asked for explicitly. One call per fold and step, so a fold's numbers do
    not depend on how many other folds train beside it (the stacked trainer fills its slice of a
    shared buffer, the reference a fresh tensor); both routes below give the same values."""
    n = out.numel()
    if n % 4 == 0 and out.is_contiguous():
        out.view(-1).view(torch.int64).random_(_I64_MIN, _I64_MAX, generator=gen)
    else:
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=out.device).random_(_I64_MIN, _I64_MAX, generator=gen)
        out.copy_(words.view(torch.int16)[:n].view(out.shape))
    return out


def keep_from_bits(bits: torch.Tensor, p: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """Inverted-dropout multipliers (float32) from 16-bit values: 0 for the q lowest of the 2^16
    values, else 2^16 / (2^16 - q), so every unit's expected multiplier is exactly 1.

    Set a padding row's bits to -32768 (the lowest value) and its multipliers are 0. `out`: a
    float32 buffer of the same shape to write into (reused step after step, it spares the
    trainer a fresh 10 MB allocation and its page faults)."""
    q = dropout_levels(p)
    t = q - DROPOUT_LEVELS // 2                         # drop iff bits < t
    keep = bits.to(torch.float32) if out is None else out.copy_(bits)
    keep.sub_(t - 1).clamp_(0.0, 1.0)                   # exact small integers: 1 iff bits >= t
    return keep.mul_(DROPOUT_LEVELS / (DROPOUT_LEVELS - q))
