"""Tiny data sets and fixtures for the models tests (no grid/ import: masks made here with numpy)."""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from paragrid.models.config import Architecture, TrainSettings
from paragrid.models.data import FoldData
from paragrid.models.evaluate import SingleClassWarning

# Every models test module sets this mark: a SingleClassWarning that a test does not capture
# (with `chance_folds` or pytest.warns) fails the test instead of being printed as noise.
NO_STRAY_CHANCE_WARNINGS = pytest.mark.filterwarnings("error::paragrid.models.evaluate.SingleClassWarning")
CHANCE_MESSAGE = re.compile(r"fold \d+( \(seed \d+\))?: the model predicts class \d+ .*for all \d+ test "
                            r"utterances \(UAR at chance\)")


@contextmanager
def chance_folds(expect: bool | None = None):
    """Runs too short to learn everything may leave a fold at chance; the trainer then warns
    (SingleClassWarning). Capture those warnings and check them: nothing but SingleClassWarning,
    each naming its fold. expect=True: at least one must come; False: none. Yields the list of
    captured warnings (filled when the block ends)."""
    got: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield got
    for w in caught:
        assert issubclass(w.category, SingleClassWarning), f"unexpected warning {w.category.__name__}: {w.message}"
        assert CHANCE_MESSAGE.match(str(w.message)), str(w.message)
    got.extend(caught)
    if expect is not None:
        assert bool(got) == expect, [str(w.message) for w in got]


@pytest.fixture(autouse=True)
def one_thread():
    """The test machine is shared: one intra-op thread avoids OpenMP oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fold_masks(n: int, k: int, seed: int = 0, uneven: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step i: test fold i, validation fold (i+1) % k, train the rest. Random fold ids give folds
    of different sizes (so folds train on different numbers of rows)."""
    rng = np.random.default_rng([seed, 1])  # a stream of its own: fold ids independent of the labels
    fold = rng.integers(0, k, n) if uneven else rng.permutation(np.arange(n) % k)
    test = np.stack([fold == i for i in range(k)])
    val = np.stack([fold == (i + 1) % k for i in range(k)])
    return ~(test | val), val, test


def blobs(n: int = 120, d: int = 8, c: int = 3, k: int = 4, seed: int = 0, sep: float = 2.0,
          per_fold_x: bool = False) -> FoldData:
    """A learnable task: class-dependent means on the first c features, Gaussian noise elsewhere."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, :c] += sep * np.eye(c, dtype=np.float32)[y]
    train, val, test = fold_masks(n, k, seed)
    if per_fold_x:  # like the leakage-free normalisation: one feature matrix per step
        x = np.stack([x + 0.01 * i for i in range(k)])
    return FoldData(x, y, train, val, test, c)


def relabel(data: FoldData, y: np.ndarray, n_classes: int) -> FoldData:
    """The same rows and folds with another task's labels (e.g. a source task)."""
    return FoldData(data.x, y, data.train, data.val, data.test, n_classes)


TINY = Architecture(layers=3, width=16, activation="sigmoid", dropout=0.0)
TINY_DROP = Architecture(layers=3, width=16, activation="sigmoid", dropout=0.5)


def fast(**kw) -> TrainSettings:
    base = dict(lr=3e-2, batch_size=16, max_epochs=12, curve_stride=4)
    base.update(kw)
    return TrainSettings(**base)


def assert_same_outcome(o, r, atol=1e-5):
    np.testing.assert_array_equal(o.best_epoch, r.best_epoch)
    np.testing.assert_array_equal(o.epochs_run, r.epochs_run)
    np.testing.assert_allclose(o.val_uar, r.val_uar, atol=atol)
    np.testing.assert_allclose(o.test_uar, r.test_uar, atol=atol)
    np.testing.assert_array_equal(o.confusion, r.confusion)
    assert o.model.params.keys() == r.model.params.keys()
    for n in o.model.params:
        torch.testing.assert_close(o.model.params[n], r.model.params[n], rtol=0, atol=atol)
    assert o.curves[["fold", "epoch"]].equals(r.curves[["fold", "epoch"]])
    np.testing.assert_allclose(o.curves[["train_loss", "val_uar", "test_uar"]].to_numpy(),
                               r.curves[["train_loss", "val_uar", "test_uar"]].to_numpy(), atol=atol)
