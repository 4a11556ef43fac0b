"""z-normalisation: hand-computed stats, leakage-freedom of 'train', constants, bad input."""
import numpy as np
import pytest

from paragrid.errors import UserError
from paragrid.grid.data import fold_steps, speaker_stratified_folds, zscore

K = 5


def _setup(budget=None):
    rng = np.random.default_rng(0)
    n, d = 120, 6
    speakers = np.repeat(["a", "b", "c", "d"], n // 4)
    labels = rng.integers(0, 3, n)
    fold = speaker_stratified_folds(speakers, labels, K, seed=1)
    steps = fold_steps(fold, K, budget=budget, seed=2)
    # features on very different scales and levels, like eGeMAPS
    x = rng.normal(size=(n, d)) * np.array([1e-3, 1.0, 50.0, 2.0, 1e4, 0.1]) + np.array([0, 5, -300, 1, 1e5, 0])
    return x, steps


@pytest.mark.parametrize("budget", [None, 1])
def test_train_mode_matches_hand_computed_stats(budget):
    x, steps = _setup(budget)
    z = zscore(x, steps, "train")
    assert z.shape == (K,) + x.shape and z.dtype == np.float32
    for i in range(K):
        rows = x[steps.train[i]]
        want = (x - rows.mean(axis=0)) / rows.std(axis=0, ddof=0)
        np.testing.assert_allclose(z[i], want, rtol=1e-5, atol=1e-5)
        # the training rows are standardised exactly
        np.testing.assert_allclose(z[i][steps.train[i]].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(z[i][steps.train[i]].std(axis=0), 1, rtol=1e-4)
    # steps see different training rows, so their normalisations differ
    assert not np.array_equal(z[0], z[1])


def test_corpus_mode_uses_all_rows_and_is_the_same_for_every_step():
    x, steps = _setup()
    z = zscore(x, steps, "corpus")
    assert z.shape == (K,) + x.shape and z.dtype == np.float32
    want = (x - x.mean(axis=0)) / x.std(axis=0)
    for i in range(K):
        np.testing.assert_allclose(z[i], want, rtol=1e-5, atol=1e-5)
    assert z.flags.writeable and z.flags.c_contiguous
    v = zscore(x, steps, "corpus", view=True)
    assert v.shape == z.shape and not v.flags.writeable
    np.testing.assert_array_equal(v, z)


def test_train_mode_never_sees_validation_or_test_rows():
    """Leakage: poisoning step i's val+test rows leaves its training rows bit-identical."""
    x, steps = _setup()
    for i in range(K):
        held_out = steps.val[i] | steps.test[i]
        poisoned = x.copy()
        poisoned[held_out] = 1e6
        clean_z = zscore(x, steps, "train")[i]
        bad_z = zscore(poisoned, steps, "train")[i]
        tr = steps.train[i]
        np.testing.assert_array_equal(bad_z[tr], clean_z[tr])
        # ... and the held-out rows are scaled with the same (training) statistics
        rows = x[tr]
        want = np.broadcast_to((1e6 - rows.mean(0)) / rows.std(0), bad_z[held_out].shape)
        np.testing.assert_allclose(bad_z[held_out], want, rtol=1e-5)


def test_corpus_mode_is_transductive():
    """Documented behaviour of the paper's mode: held-out rows DO move the training rows."""
    x, steps = _setup()
    poisoned = x.copy()
    poisoned[steps.val[0] | steps.test[0]] = 1e6
    tr = steps.train[0]
    assert not np.array_equal(zscore(poisoned, steps, "corpus")[0][tr], zscore(x, steps, "corpus")[0][tr])


@pytest.mark.parametrize("mode", ["corpus", "train"])
def test_constant_features_give_zeros_not_nan(mode):
    x, steps = _setup()
    x[:, 1] = 0.1          # constant everywhere (mean of many 0.1s is not exactly 0.1)
    x[:, 3] = 0.0          # constant zero
    z = zscore(x, steps, mode)
    assert np.isfinite(z).all()
    assert (z[:, :, 1] == 0).all() and (z[:, :, 3] == 0).all()
    assert (np.abs(z[:, :, 2]) > 0).any()  # other columns untouched


def test_feature_constant_on_training_rows_only_is_zero_everywhere():
    x, steps = _setup()
    x[steps.train[0], 0] = 3.0   # constant on step 0's training rows, varies on its held-out rows
    z = zscore(x, steps, "train")
    assert np.isfinite(z).all()
    assert (z[0, :, 0] == 0).all()
    assert (z[1, :, 0] != 0).any()  # step 1 trains on some of those varying rows


def test_bad_input_raises_user_error():
    x, steps = _setup()
    with pytest.raises(UserError, match="mode"):
        zscore(x, steps, "global")
    with pytest.raises(UserError, match=r"\(N, D\)"):
        zscore(x[:-1], steps, "train")
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(UserError, match="NaN"):
        zscore(bad, steps, "corpus")
