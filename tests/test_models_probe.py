"""The linear-probe forgetting measure: fitted on training rows only, scored on the test fold."""

import numpy as np
import pytest
import torch
from models_helpers import (NO_STRAY_CHANCE_WARNINGS, TINY_DROP, blobs, chance_folds, fast,  # noqa: F401
                            one_thread, relabel)

from paragrid.errors import UserError
from paragrid.models.config import Architecture
from paragrid.models.data import FoldData
from paragrid.models.nets import StackedModel
from paragrid.models.probe import fit_probe, probe_gradients, source_probe_uar
from paragrid.models.train import train_folds
from paragrid.models.options import Pack

pytestmark = NO_STRAY_CHANCE_WARNINGS
K = 4


def source_labels(data: FoldData) -> np.ndarray:
    x = np.asarray(data.x)
    return (x[:, 3] > 0).astype(np.int64) * 2 + (x[:, 4] > 0)


@pytest.fixture(scope="module")
def transferred():
    torch.set_num_threads(1)
    data = blobs(n=160, k=K)
    src_data = relabel(data, source_labels(data), 4)
    with chance_folds():
        src = train_folds(src_data, TINY_DROP, fast(max_epochs=10), pack=Pack(seed=1)).model
        ptft = train_folds(data, TINY_DROP, fast(max_epochs=6), method="ptft", sources=[src], pack=Pack(seed=2)).model
        prog = train_folds(data, TINY_DROP, fast(max_epochs=4), method="prognet", sources=[src], pack=Pack(seed=3)).model
    return data, src_data, ptft, prog


def test_poisoned_test_rows_leave_the_fold_probe_unchanged(transferred):
    data, src_data, ptft, _ = transferred
    f0 = 1
    rows = np.flatnonzero(src_data.test[f0])
    rng = np.random.default_rng(0)
    x, y = np.array(src_data.x), np.array(src_data.y)
    x[rows] = rng.normal(size=(len(rows), x.shape[1])) * 5         # features replaced
    y[rows] = (y[rows] + 1) % 4                                     # and every label wrong
    poisoned = FoldData(x, y, src_data.train, src_data.val, src_data.test, 4)
    clean_uar, clean = source_probe_uar(ptft, src_data, return_probe=True)
    bad_uar, bad = source_probe_uar(ptft, poisoned, return_probe=True)
    for name in ("mean", "scale", "weight", "bias"):
        assert torch.equal(getattr(clean, name)[f0], getattr(bad, name)[f0]), name
        # the same rows train the other folds' probes: the poison did reach the data
        assert not torch.equal(getattr(clean, name)[f0 + 1], getattr(bad, name)[f0 + 1]), name
    assert bad_uar[f0] != clean_uar[f0]                              # scored on the (poisoned) test fold


def test_separable_task_gives_a_high_probe_uar_and_random_labels_do_not():
    """A hand-set network whose hidden units are relu(x): well separated blobs (class c: feature c
    shifted by 5) stay linearly separable in them; labels that are noise stay near chance."""
    data = blobs(n=240, d=6, c=3, k=K, sep=5.0, seed=4)
    eye = torch.eye(6).expand(K, -1, -1).clone()
    net = StackedModel("dnn", Architecture(layers=1, width=6, activation="relu", dropout=0.0), 6, 3,
                       {"hidden.0.weight": eye, "hidden.0.bias": torch.zeros(K, 1, 6),
                        "out.weight": torch.zeros(K, 6, 3), "out.bias": torch.zeros(K, 1, 3)})
    uar = source_probe_uar(net, data)
    assert uar.shape == (K,) and (uar > 0.97).all(), uar
    noise = relabel(data, np.random.default_rng(1).integers(0, 3, len(data.y)), 3)
    assert source_probe_uar(net, noise).mean() < 0.5


def test_probe_is_deterministic_and_per_fold(transferred):
    data, src_data, ptft, prog = transferred
    a, b = source_probe_uar(ptft, src_data), source_probe_uar(ptft, src_data)
    np.testing.assert_array_equal(a, b)
    one = FoldData(src_data.x, src_data.y, src_data.train[2:3], src_data.val[2:3], src_data.test[2:3], 4)
    _, full = source_probe_uar(ptft, src_data, return_probe=True)
    _, alone = source_probe_uar(ptft.select([2]), one, return_probe=True)
    torch.testing.assert_close(alone.weight[0], full.weight[2], rtol=0, atol=1e-6)
    p = source_probe_uar(prog, src_data)                              # a prognet: its new column's last layer
    assert p.shape == (K,) and np.isfinite(p).all() and ((0 <= p) & (p <= 1)).all()


def test_probe_misuse_is_a_user_error(transferred):
    data, src_data, ptft, _ = transferred
    with pytest.raises(UserError, match="folds"):
        source_probe_uar(ptft, FoldData(src_data.x, src_data.y, src_data.train[:2], src_data.val[:2],
                                        src_data.test[:2], 4))
    with pytest.raises(UserError, match="features"):
        source_probe_uar(ptft, FoldData(np.asarray(src_data.x)[:, :5], src_data.y, src_data.train, src_data.val,
                                        src_data.test, 4))
    with pytest.raises(UserError, match="StackedModel"):
        source_probe_uar("model.pt", src_data)


def _padded_problem(n_folds=3, rows=50, width=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n_folds, rows, width, generator=g, dtype=torch.float64) * 2 + 0.5
    y = torch.randint(0, classes, (n_folds, rows), generator=g)
    valid = torch.rand(n_folds, rows, generator=g) > 0.2      # some padding rows in every fold
    return h, y, valid


def _autograd_loss(z, y, valid, w, b, l2):
    """The probe's objective as written in the module docstring: per fold the mean cross-entropy
    over its valid rows, summed over folds, plus l2/2 |W|^2."""
    ce = torch.nn.functional.cross_entropy(torch.baddbmm(b, z, w).flatten(0, 1), torch.where(valid, y, 0).flatten(),
                                           reduction="none").view(valid.shape)
    return ((ce * valid).sum(1) / valid.sum(1)).sum() + 0.5 * l2 * (w ** 2).sum()


def test_the_written_out_gradient_equals_autograd_on_the_objective():
    h, y, valid = _padded_problem()
    z = h.clone()
    g = torch.Generator().manual_seed(1)
    w = torch.randn(3, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 1, 3, generator=g, dtype=torch.float64, requires_grad=True)
    _autograd_loss(z, y, valid, w, b, 0.3).backward()
    share = (valid.double() / valid.sum(1, keepdim=True)).unsqueeze(1)                      # (F, 1, R)
    target = torch.nn.functional.one_hot(torch.where(valid, y, 0), 3).double().transpose(1, 2) * share
    gw_t, gb = probe_gradients(z, z.transpose(1, 2).contiguous(), w.detach().transpose(1, 2).contiguous(),
                               b.detach().transpose(1, 2).contiguous(), target, share, 0.3)
    torch.testing.assert_close(gw_t.transpose(1, 2), w.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(gb.transpose(1, 2), b.grad, rtol=0, atol=1e-12)


def test_fit_probe_is_300_torch_adam_steps_on_that_objective():
    """The reference: torch.optim.Adam and autograd on the standardised features, in float64
    (where rounding cannot be amplified by Adam's normalised steps)."""
    h, y, valid = _padded_problem(seed=2)
    probe = fit_probe(h, y, valid, 3)
    v = valid.double().unsqueeze(-1)
    n = v.sum(1, keepdim=True)
    mean = (h * v).sum(1, keepdim=True) / n
    z = (h - mean) / torch.sqrt((((h - mean) ** 2) * v).sum(1, keepdim=True) / n + 1e-4)
    w = torch.zeros(3, 5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, 1, 3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        _autograd_loss(z, y, valid, w, b, 1e-4).backward()
        opt.step()
    torch.testing.assert_close(probe.weight, w.detach(), rtol=0, atol=1e-9)
    torch.testing.assert_close(probe.bias, b.detach(), rtol=0, atol=1e-9)
    assert probe.weight.abs().max() > 0.1                              # it did move from zero
