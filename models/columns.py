"""Building blocks of a stacked MLP column: F independent networks computed as one.

Every weight carries a leading fold axis F, so fold f's layer is `weight[f]` and one
`torch.baddbmm` evaluates the same layer of all F networks at once (each on its own rows).
Shapes: activations (F, B, in), weights (F, in, out), biases (F, 1, out).

Random numbers come from per-fold generators seeded from (seed, fold, stream): training fold f
alone (the reference loop) or together with the other folds draws exactly the same numbers.
`role_seed` derives the seed of one role (a source model, the target models) of a repeat.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from paragrid.models.config import DROPOUT_LEVELS, dropout_levels

# Streams of random numbers a fold uses, each from its own generator.
INIT_STREAM = 0   # weight initialisation (a CPU generator: same initial weights on every device)
TRAIN_STREAM = 1  # per-epoch shuffles and dropout masks (a generator on the training device)


def fold_seed(seed: int, fold: int, stream: int) -> int:
    """A well-mixed 63-bit seed for one (seed, fold, stream); stable across runs and platforms."""
    return int(np.random.SeedSequence([int(seed), int(fold), int(stream)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def role_seed(seed: int, role: str) -> int:
    """A seed of its own for one role of a repeat: `role_seed(repeat_seed, "source:speaker")`,
    `role_seed(repeat_seed, "target")`. Stable across runs, processes and platforms (SHA-256 of
    the role name, not Python's salted hash()), 63 bits, distinct for distinct roles.

    Why: every random stream of a model (initial weights, batch order, dropout masks) comes from
    (seed, fold). A source model and the target models of the same repeat trained with the same
    seed would start from the same weights and see the same batch orders and masks: a ptft
    target would even begin as its own source's initial state. Seeding each role with
    role_seed(seed, role) makes those streams independent.

    Target methods of one repeat (dnn, ptft, prognet on the same folds) may share one role on
    purpose: with common random numbers the same batch orders and dropout masks drive every
    method, so the paired per-fold differences that the significance tests are computed on carry
    less noise that is unrelated to the method (a standard variance-reduction device for
    comparing alternatives by simulation). The methods differ by construction (ptft copies its
    source's hidden layers, a prognet has extra lateral weights), so nothing is shared by accident."""
    if not isinstance(role, str) or not role:
        raise ValueError(f"role must be a non-empty string, got {role!r}")
    words = np.frombuffer(hashlib.sha256(role.encode("utf-8")).digest()[:16], dtype="<u4").tolist()
    state = np.random.SeedSequence([int(seed), *words]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def generator(seed: int, fold: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(fold_seed(seed, fold, stream))
    return g


def glorot_uniform(gen: torch.Generator, fan_in: int, fan_out: int) -> torch.Tensor:
    """(fan_in, fan_out) weights ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010,
    Keras' default, which suits sigmoid units)."""
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand((fan_in, fan_out), generator=gen) * 2.0 - 1.0) * a


def torch_default_uniform(gen: torch.Generator, fan_in: int, shape: tuple[int, ...]) -> torch.Tensor:
    """U(-b, b), b = 1/sqrt(fan_in): nn.Linear's default for its weight (kaiming_uniform_ with
    a = sqrt(5): gain sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1/sqrt(fan_in)) and for its bias."""
    b = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=gen) * 2.0 - 1.0) * b


def init_weight(init: str, gen: torch.Generator, fan_in: int, fan_out: int) -> torch.Tensor:
    """(fan_in, fan_out) weights of one matrix under `init` (config.INITS), from the fold's generator."""
    if init == "glorot-uniform":
        return glorot_uniform(gen, fan_in, fan_out)
    if init == "torch-default":
        return torch_default_uniform(gen, fan_in, (fan_in, fan_out))
    raise ValueError(f"unknown init {init!r}")


def init_bias(init: str, gen: torch.Generator, fan_in: int, fan_out: int) -> torch.Tensor:
    """(1, fan_out) biases: zeros for glorot-uniform (drawing nothing), U(+-1/sqrt(fan_in)) for torch-default."""
    if init == "torch-default":
        return torch_default_uniform(gen, fan_in, (1, fan_out))
    return torch.zeros(1, fan_out)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (F, B, in) @ weight (F, in, out) + bias (F, 1, out), one fused batched matmul."""
    return torch.baddbmm(bias, x, weight)


# Dropout randomness: 16 random bits per unit, a rate p applied as q / 2^16 (config.dropout_levels).
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


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
