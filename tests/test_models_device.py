"""The GPU path stays on the device: no host-device synchronisation inside the epoch loop.

On CUDA the proof is torch's own: the trainer runs under torch.cuda.set_sync_debug_mode("error"),
which it lifts only around its set-up, its one per-epoch stopping decision and its finish. On
the CPU (every CI run) a TorchFunctionMode stands in for it: it fails on every tensor operation
that would wait for a GPU (item, tolist, cpu, numpy, bool(), nonzero, boolean-mask indexing, ...)
outside those same spans, so a sync that creeps into the loop is caught without a GPU.
"""

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from models_helpers import (NO_STRAY_CHANCE_WARNINGS, TINY_DROP, assert_same_outcome,  # noqa: F401,E501
                            blobs, chance_folds, fast, one_thread, relabel)
from torch.overrides import TorchFunctionMode

import paragrid.models.train as train_module
from paragrid.models.pack import stack_data, stack_models
from paragrid.models.streams import HashStreams
from paragrid.models.train import train_folds
from paragrid.models.options import Pack, Run

pytestmark = NO_STRAY_CHANCE_WARNINGS

SYNCING = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.__bool__,
           torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__, torch.nonzero, torch.Tensor.nonzero,
           torch.masked_select, torch.Tensor.masked_select, torch.unique, torch.Tensor.unique, torch.argwhere}


class NoSyncMode(TorchFunctionMode):
    """Records every would-be synchronisation made while `allowed` is 0."""

    def __init__(self):
        super().__init__()
        self.allowed, self.bad = 0, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.allowed:
            bool_index = func is torch.Tensor.__getitem__ and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool
                for i in (args[1] if isinstance(args[1], tuple) else (args[1],)))
            if func in SYNCING or bool_index:
                self.bad.append(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)


@pytest.fixture
def no_sync(monkeypatch):
    mode = NoSyncMode()

    @contextmanager
    def allowed(device):
        mode.allowed += 1
        try:
            yield
        finally:
            mode.allowed -= 1

    monkeypatch.setattr(train_module, "_sync_allowed", allowed)
    return mode


def source_labels(data):
    x = np.asarray(data.x)
    return (x[:, 3] > 0).astype(np.int64) * 2 + (x[:, 4] > 0)


@pytest.mark.parametrize("rng, vectorised", [("generator", False), ("hash", True)])
def test_epoch_loop_has_no_sync_prone_op_outside_the_allowed_spans(no_sync, rng, vectorised):
    data = blobs(n=100, k=4)
    with chance_folds():
        src = train_folds(relabel(data, source_labels(data), 4), TINY_DROP, fast(max_epochs=2),
                          pack=Pack(seed=1)).model
        with no_sync:
            o = train_folds(stack_data([data, data]), TINY_DROP, fast(max_epochs=6, patience=2), method="prognet",
                            sources=[stack_models([src, src])],
                            pack=Pack(seeds=[1] * 4 + [2] * 4, fold_ids=list(range(4)) * 2),
                            run=Run(rng=rng, vectorised_adam=vectorised))
    assert no_sync.bad == [], sorted(set(no_sync.bad))
    assert o.rng == rng


def test_the_proxy_catches_a_sync(no_sync):
    """The stand-in can fail: a .item() in the loop (through the batch hook) is reported."""
    with chance_folds(), no_sync:
        train_folds(blobs(n=60, k=3), TINY_DROP, fast(max_epochs=1),
                    run=Run(on_batch=lambda epoch, folds, rows, valid: rows.sum().item()))
    assert "item" in no_sync.bad


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device: the epoch loop's sync check under "
                                       "torch.cuda.set_sync_debug_mode('error') runs only on a GPU")


@needs_cuda
def test_cuda_pack_runs_under_sync_debug_error_and_equals_each_trial_alone():
    data = blobs(n=150, k=4)
    a, b = data, blobs(n=150, k=4, seed=1)
    b = type(a)(a.x, a.y, b.train, b.val, b.test, 3)
    with chance_folds():
        src = train_folds(relabel(a, source_labels(a), 4), TINY_DROP, fast(max_epochs=3), pack=Pack(seed=1),
                          run=Run(device="cuda")).model
        src_b = train_folds(relabel(b, source_labels(b), 4), TINY_DROP, fast(max_epochs=3), pack=Pack(seed=2),
                            run=Run(device="cuda")).model
        settings = fast(max_epochs=8, patience=3)
        kw = dict(method="prognet", run=Run(device="cuda"))
        torch.cuda.set_sync_debug_mode("error")
        try:
            packed = train_folds(stack_data([a, b]), TINY_DROP, settings, sources=[stack_models([src, src_b])],
                                 pack=Pack(seeds=[5] * 4 + [6] * 4, fold_ids=list(range(4)) * 2), **kw)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        alone = [train_folds(a, TINY_DROP, settings, sources=[src], pack=Pack(seed=5), **kw),
                 train_folds(b, TINY_DROP, settings, sources=[src_b], pack=Pack(seed=6), **kw)]
    assert packed.rng == "hash" and packed.model.device.type == "cuda"
    for t, one in enumerate(alone):
        part = packed.select(range(4 * t, 4 * t + 4))
        part.model, one.model = part.model.to("cpu"), one.model.to("cpu")
        assert_same_outcome(part, one, atol=1e-4)


@needs_cuda
def test_cuda_hash_bits_equal_cpu_hash_bits():
    cpu = HashStreams(np.array([3, 4]), np.array([0, 1]), torch.device("cpu"))
    gpu = HashStreams(np.array([3, 4]), np.array([0, 1]), torch.device("cuda"))
    shape, n = (2, 3, 16, 9), np.array([16, 11])
    valid = torch.arange(16)[None, :] < torch.as_tensor(n)[:, None]
    a = cpu.dropout_bits(2, 1, torch.empty(shape, dtype=torch.int16), n, valid)
    b = gpu.dropout_bits(2, 1, torch.empty(shape, dtype=torch.int16, device="cuda"), n, valid.cuda())
    assert torch.equal(a, b.cpu())
    idx = torch.arange(32).view(2, 16)
    assert torch.equal(cpu.order(3, idx, n), gpu.order(3, idx.cuda(), n).cpu())
