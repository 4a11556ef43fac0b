"""Dropout masks from 16-bit random values: the rate, the multipliers and the random streams."""

import numpy as np
import pytest
import torch

from paragrid.errors import UserError
from paragrid.models.columns import DROPOUT_LEVELS, draw_bits, dropout_levels, keep_from_bits
from paragrid.models.config import Architecture

EVERY_VALUE = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)  # each 16-bit value once


@pytest.mark.parametrize("p", [0.5, 0.2, 0.415, 0.05, 0.9, 1 / 65536])
def test_rate_is_exact_over_every_16_bit_value(p):
    """Each of the 2^16 values is equally likely, so counting over all of them IS the rate."""
    keep = keep_from_bits(EVERY_VALUE, p)
    q = dropout_levels(p)
    assert int((keep == 0).sum()) == q
    assert abs(q / DROPOUT_LEVELS - p) <= 0.5 / DROPOUT_LEVELS
    scale = torch.tensor(DROPOUT_LEVELS / (DROPOUT_LEVELS - q), dtype=torch.float32).item()  # float32 rounding
    assert set(keep.unique().tolist()) == {0.0, scale}
    assert float(keep.double().mean()) == pytest.approx(1.0, abs=1e-7)  # inverted dropout: E[multiplier] = 1
    assert torch.all(keep[:q] == 0) and torch.all(keep[q:] > 0)        # the q lowest values drop


def test_half_is_exact_and_scales_by_two():
    assert dropout_levels(0.5) == DROPOUT_LEVELS // 2
    assert set(keep_from_bits(EVERY_VALUE, 0.5).unique().tolist()) == {0.0, 2.0}


def test_every_bit_of_the_draw_is_random():
    """torch's default int64 random_() never sets the sign bit; a mask built on it would drop too few
    units in every fourth position. All 16 bit positions must be set about half the time."""
    bits = draw_bits(torch.Generator().manual_seed(0), torch.empty(200_000, dtype=torch.int16))
    freq = ((bits.to(torch.int32).unsqueeze(1) >> torch.arange(16)) & 1).double().mean(0)
    assert torch.all((freq - 0.5).abs() < 0.01), freq
    keep = keep_from_bits(bits.view(-1, 4), 0.5)
    for position in range(4):  # every position of the 64-bit word drops at the rate
        assert float((keep[:, position] == 0).double().mean()) == pytest.approx(0.5, abs=0.01)


def test_buffer_and_fresh_tensor_get_the_same_numbers():
    """The stacked trainer draws into a slice of a shared buffer, the reference into a fresh tensor
    of an odd size: a fold's numbers must not depend on the route."""
    for shape in [(4, 256, 256), (3, 7, 5), (1, 1, 3)]:
        a = draw_bits(torch.Generator().manual_seed(7), torch.empty(shape, dtype=torch.int16))
        buf = torch.empty((2, *shape), dtype=torch.int16)
        b = draw_bits(torch.Generator().manual_seed(7), buf[1])
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_same_seed_same_mask_other_seed_other_mask():
    draw = lambda seed: keep_from_bits(draw_bits(torch.Generator().manual_seed(seed),
                                                 torch.empty((2, 64, 32), dtype=torch.int16)), 0.5)
    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_padding_rows_are_always_dropped_and_out_buffer_is_used():
    bits = torch.full((2, 3, 5), -(1 << 15), dtype=torch.int16)
    out = torch.full((2, 3, 5), 9.0)
    keep = keep_from_bits(bits, 0.5, out=out)
    assert keep.data_ptr() == out.data_ptr() and torch.all(keep == 0)


@pytest.mark.parametrize("p", [1e-6, 0.99999999])
def test_rates_the_masks_cannot_represent_are_a_user_error(p):
    with pytest.raises(UserError, match="dropout"):
        Architecture(dropout=p)
    assert Architecture(dropout=0.0).dropout == 0.0  # no dropout stays allowed


# ---- the counter-based hash streams (streams.py) --------------------------------------------------
from paragrid.models.streams import (PAD_BITS, GeneratorStreams, HashStreams, mix64_, mix64_int,  # noqa: E402
                                     resolve_rng)


def test_torch_splitmix64_equals_the_python_reference():
    """int64 products must wrap modulo 2^64 and the masked shifts act as logical shifts."""
    rng = np.random.default_rng(0)
    vals = [0, 1, -1, (1 << 63) - 1, -(1 << 63)] + rng.integers(-(1 << 63), (1 << 63) - 1, 200, dtype=np.int64).tolist()
    got = mix64_(torch.tensor(vals, dtype=torch.int64)).tolist()
    want = [mix64_int(v & ((1 << 64) - 1)) for v in vals]
    assert [g & ((1 << 64) - 1) for g in got] == want


def test_hash_dropout_bits_are_uniform_and_keyed_by_fold_epoch_step():
    s = HashStreams(np.array([3, 3, 4]), np.array([0, 1, 0]), torch.device("cpu"))
    valid = torch.ones(3, 64, dtype=torch.bool)
    bits = s.dropout_bits(1, 0, torch.empty((3, 4, 64, 250), dtype=torch.int16), np.full(3, 64), valid)
    freq = ((bits.to(torch.int32).flatten().unsqueeze(1) >> torch.arange(16)) & 1).double().mean(0)
    assert torch.all((freq - 0.5).abs() < 0.01), freq
    assert float((keep_from_bits(bits, 0.5) == 0).double().mean()) == pytest.approx(0.5, abs=0.01)
    assert not torch.equal(bits[0], bits[1]) and not torch.equal(bits[0], bits[2])
    again = s.dropout_bits(1, 0, torch.empty((3, 4, 64, 250), dtype=torch.int16), np.full(3, 64), valid)
    other_step = s.dropout_bits(1, 1, torch.empty((3, 4, 64, 250), dtype=torch.int16), np.full(3, 64), valid)
    other_epoch = s.dropout_bits(2, 0, torch.empty((3, 4, 64, 250), dtype=torch.int16), np.full(3, 64), valid)
    assert torch.equal(bits, again) and not torch.equal(bits, other_step) and not torch.equal(bits, other_epoch)


@pytest.mark.parametrize("cls", [GeneratorStreams, HashStreams])
def test_a_fold_draws_the_same_alone_or_packed(cls):
    """Fold-model (seed 4, fold 0) sits at position 2 of a pack of 3 (with more rows beside it)."""
    dev = torch.device("cpu")
    alone, pack = cls(np.array([4]), np.array([0]), dev), cls(np.array([3, 3, 4]), np.array([0, 1, 0]), dev)
    rows = torch.arange(10, 40)
    n = 20
    idx_pack = torch.stack([rows, rows + 1, torch.cat([rows[:n], torch.zeros(10, dtype=torch.long)])])
    a = alone.order(1, rows[:n].unsqueeze(0), np.array([n]))[0]
    b = pack.order(1, idx_pack, np.array([30, 30, n]))[2]
    assert torch.equal(a, b[:n]) and sorted(a.tolist()) == rows[:n].tolist() and torch.all(b[n:] == 0)
    bits_a = alone.dropout_bits(1, 0, torch.empty((1, 2, 8, 5), dtype=torch.int16), np.array([6]),
                                (torch.arange(8) < 6).unsqueeze(0))
    valid = torch.stack([torch.ones(8, dtype=torch.bool)] * 2 + [torch.arange(8) < 6])
    bits_b = pack.dropout_bits(1, 0, torch.empty((3, 2, 8, 5), dtype=torch.int16), np.array([8, 8, 6]), valid)
    assert torch.equal(bits_a[0, :, :6], bits_b[2, :, :6])
    assert torch.all(bits_b[2, :, 6:] == PAD_BITS) and torch.all(bits_a[0, :, 6:] == PAD_BITS)


def test_rng_choice():
    assert resolve_rng("auto", torch.device("cpu")) == "generator"
    assert resolve_rng("hash", torch.device("cpu")) == "hash"
    with pytest.raises(ValueError, match="rng"):
        resolve_rng("philox", torch.device("cpu"))
