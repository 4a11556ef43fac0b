"""The training randomness of F fold-models: each epoch's batch order and each step's dropout bits.

Every fold-model i owns a stream keyed by (seeds[i], fold_ids[i]); what it draws never depends
on which other fold-models train beside it, so a pack of trials trained as one stacked model
gets the numbers each trial would get alone. Two interchangeable implementations:

  generator  one torch.Generator per fold-model (columns.generator(seed, fold, TRAIN_STREAM)),
             drawn in a Python loop over the folds: one randperm per fold and epoch, one
             random_ per fold and step. The fastest on a CPU (bench/RESULTS.md: 7.4 ms vs 9.2 ms
             for the hash at the paper's size, F = 10), and today's numbers.
  hash       counter-based: bits = splitmix64(key(fold, epoch, step) + (index + 1) * gamma),
             computed for all folds at once by a fixed number of element-wise ops, whatever F.
             On a GPU the generator loop costs F kernel launches per step (1,000 for a pack of
             1,000 fold-models); this costs about 15. Packed == alone holds by construction.

"auto" picks generator on the CPU and hash on CUDA. The two give different (equally valid)
numbers, like a CPU and a CUDA generator do; the choice is recorded in the model's meta.
"""

from __future__ import annotations

import numpy as np
import torch

from paragrid.models.columns import TRAIN_STREAM, draw_bits, fold_seed, generator
from paragrid.models.data import upload

RNGS = ("auto", "generator", "hash")
PAD_BITS = -(1 << 15)  # the lowest 16-bit value: a unit with these bits is always dropped

_M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15          # splitmix64's increment (the golden ratio in 64 bits)
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _signed(v: int) -> int:
    """An unsigned 64-bit value as the int64 with the same bits (what torch stores)."""
    v &= _M64
    return v - (1 << 64) if v >> 63 else v


def mix64_int(z: int) -> int:
    """splitmix64's finaliser on a Python int (unsigned 64-bit): the reference for `mix64_`."""
    z &= _M64
    z = ((z ^ (z >> 30)) * _C1) & _M64
    z = ((z ^ (z >> 27)) * _C2) & _M64
    return z ^ (z >> 31)


def mix64_(x: torch.Tensor, tmp: torch.Tensor | None = None) -> torch.Tensor:
    """splitmix64's finaliser in place on an int64 tensor (the bits read as unsigned).

    torch's >> on int64 is arithmetic, so each logical shift is masked; products wrap modulo
    2^64 (two's complement), which tests/test_models_pack.py checks against `mix64_int`."""
    t = torch.empty_like(x) if tmp is None else tmp
    for shift, mult in ((30, _C1), (27, _C2), (31, None)):
        torch.bitwise_right_shift(x, shift, out=t)
        t.bitwise_and_((1 << (64 - shift)) - 1)
        x.bitwise_xor_(t)
        if mult is not None:
            x.mul_(_signed(mult))
    return x


def _tag(epoch: int, step: int, purpose: int) -> int:
    """A well-mixed 64-bit constant per (epoch, step, purpose), computed on the host."""
    return _signed(mix64_int(mix64_int((epoch << 2) | purpose) + GAMMA * (step + 1)))


def resolve_rng(rng: str, device: torch.device) -> str:
    if rng not in RNGS:
        raise ValueError(f"rng {rng!r} is unknown; use one of {list(RNGS)}")
    if rng == "auto":
        return "hash" if device.type == "cuda" else "generator"
    return rng


class GeneratorStreams:
    """Per-fold torch.Generators: the stream of fold-model i is generator(seeds[i], fold_ids[i], TRAIN_STREAM)."""

    kind = "generator"

    def __init__(self, seeds: np.ndarray, fold_ids: np.ndarray, device: torch.device) -> None:
        self.gens = [generator(int(s), int(f), TRAIN_STREAM, device) for s, f in zip(seeds, fold_ids)]

    def select(self, keep_np: np.ndarray, keep_t: torch.Tensor) -> None:
        self.gens = [g for g, k in zip(self.gens, keep_np) if k]

    def order(self, epoch: int, train_idx: torch.Tensor, n: np.ndarray) -> torch.Tensor:
        """(F, R) this epoch's order of each fold's training rows (train_idx: sorted, padded); the
        first n[i] entries of row i are a permutation of its rows, the rest padding (row 0)."""
        out = torch.zeros_like(train_idx)
        for i, g in enumerate(self.gens):
            k = int(n[i])
            out[i, :k] = train_idx[i, :k][torch.randperm(k, generator=g, device=train_idx.device)]
        return out

    def dropout_bits(self, epoch: int, step: int, bits: torch.Tensor, n_real: np.ndarray,
                     valid: torch.Tensor) -> torch.Tensor:
        """Fill bits (F, L, B, W) int16; fold i draws only its n_real[i] real rows (the same numbers
        as a fresh (L, n, W) draw alone); its padding rows get PAD_BITS."""
        layers, batch, width = bits.shape[1:]
        for i, (g, n) in enumerate(zip(self.gens, n_real)):
            if n == batch:
                draw_bits(g, bits[i])
            else:
                if n > 0:
                    bits[i, :, :n] = draw_bits(g, torch.empty((layers, int(n), width), dtype=torch.int16,
                                                              device=bits.device))
                bits[i, :, n:] = PAD_BITS
        return bits


class HashStreams:
    """Counter-based streams: one int64 key per fold-model (from fold_seed(seed, fold, TRAIN_STREAM)),
    every draw a pure function of (key, epoch, step, position) computed on the device."""

    kind = "hash"

    def __init__(self, seeds: np.ndarray, fold_ids: np.ndarray, device: torch.device) -> None:
        keys = [_signed(fold_seed(int(s), int(f), TRAIN_STREAM)) for s, f in zip(seeds, fold_ids)]
        self.keys = torch.tensor(keys, dtype=torch.int64).to(device)
        self._index: dict[tuple, torch.Tensor] = {}

    def select(self, keep_np: np.ndarray, keep_t: torch.Tensor) -> None:
        self.keys = self.keys.index_select(0, keep_t)

    def _stream_keys(self, epoch: int, step: int, purpose: int) -> torch.Tensor:
        """(F,) the key of each fold's stream for this (epoch, step, purpose), on the device."""
        return mix64_(torch.bitwise_xor(self.keys, _tag(epoch, step, purpose)))

    def _counters(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """(index + 1) * gamma for every position of `shape` (cached): splitmix64's Weyl sequence."""
        key = (shape, str(device))
        if key not in self._index:
            idx = torch.arange(1, int(np.prod(shape)) + 1, dtype=torch.int64, device=device)
            self._index[key] = idx.mul_(_signed(GAMMA)).view(shape)
        return self._index[key]

    def words(self, epoch: int, step: int, purpose: int, shape: tuple[int, ...]) -> torch.Tensor:
        """(F, *shape) int64 random words of each fold's (epoch, step, purpose) stream."""
        keys = self._stream_keys(epoch, step, purpose).view(-1, *([1] * len(shape)))
        return mix64_(keys + self._counters(shape, keys.device))

    def order(self, epoch: int, train_idx: torch.Tensor, n: np.ndarray) -> torch.Tensor:
        """Rows sorted by a random 63-bit key per position (a stable sort: ties, which are
        vanishingly rare, go by position); padding positions sort last."""
        f, r = train_idx.shape
        keys = self.words(epoch, 0, 0, (r,)).bitwise_and_((1 << 63) - 1)
        pad = self._pad(n, r, keys.device)
        keys.masked_fill_(pad, (1 << 63) - 1)
        order = torch.sort(keys, dim=1, stable=True).indices
        return torch.where(pad, 0, train_idx.gather(1, order))

    def _pad(self, n: np.ndarray, r: int, device: torch.device) -> torch.Tensor:
        key = ("pad", tuple(int(v) for v in n), r, str(device))
        if key not in self._index:
            self._index[key] = upload(np.arange(r)[None, :] >= np.asarray(n)[:, None], device)
        return self._index[key]

    def dropout_bits(self, epoch: int, step: int, bits: torch.Tensor, n_real: np.ndarray,
                     valid: torch.Tensor) -> torch.Tensor:
        """bits (F, L, B, W) int16 from 64-bit words, four units per word; padding rows (valid
        False) get PAD_BITS."""
        f, layers, batch, width = bits.shape
        words_per_row = (width + 3) // 4
        w = self.words(epoch, step, 1, (layers, batch, words_per_row))
        bits.copy_(w.view(torch.int16).view(f, layers, batch, 4 * words_per_row)[..., :width])
        return bits.masked_fill_(~valid[:, None, :, None], PAD_BITS)


def make_streams(rng: str, seeds: np.ndarray, fold_ids: np.ndarray, device: torch.device):
    cls = {"generator": GeneratorStreams, "hash": HashStreams}[resolve_rng(rng, device)]
    return cls(np.asarray(seeds), np.asarray(fold_ids), device)
