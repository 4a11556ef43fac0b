"""The statistics reproduce hand-computed numbers and agree with scipy.

Worked example used throughout (k·r = 4 paired differences):
    x = [0.01, 0.03, 0.02, 0.04]
    m = 0.10 / 4 = 0.025
    deviations -0.015, 0.005, -0.005, 0.015 -> squares sum to 5e-4 -> s² = 5e-4 / 3
    calibrated: t = m / (s / sqrt(11))         -> t² = 0.025² · 11 · 3 / 5e-4 = 41.25
    corrected (n_test/n_train = 0.25): t = m / sqrt((1/4 + 0.25) s²) -> t² = 0.025² / (0.5 · 5e-4/3) = 7.5
    naive: t = m / (s / sqrt(4))               -> t² = 0.025² · 4 · 3 / 5e-4 = 15
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from paragrid.analysis.stats import (calibrated_t_test, corrected_t_test, holm, naive_t_test, paired_t_test,
                                     repeat_mean_std, run_test, wilcoxon_test)

X = [0.01, 0.03, 0.02, 0.04]


def test_calibrated_matches_hand_computation():
    res = calibrated_t_test(X)
    assert res.mean == pytest.approx(0.025)
    assert res.sd ** 2 == pytest.approx(5e-4 / 3)
    assert res.t == pytest.approx(math.sqrt(41.25))
    assert res.df == 10
    assert res.p == pytest.approx(2 * sps.t.sf(math.sqrt(41.25), 10))
    # The t-table value: t = 6.4226 with 10 df is far beyond the 0.1 % point 4.587.
    assert res.p < 1e-3


def test_corrected_matches_hand_computation():
    res = corrected_t_test(X, test_train_ratio=0.25)
    assert res.t == pytest.approx(math.sqrt(7.5))
    assert res.df == 3
    assert res.p == pytest.approx(2 * sps.t.sf(math.sqrt(7.5), 3))


def test_naive_matches_hand_computation_and_scipy_ttest_rel():
    res = naive_t_test(X)
    assert res.t == pytest.approx(math.sqrt(15))
    assert res.df == 3
    a = np.array([0.61, 0.64, 0.60, 0.66])
    b = a - np.array(X)
    ref = sps.ttest_rel(a, b)
    assert res.t == pytest.approx(ref.statistic)
    assert res.p == pytest.approx(ref.pvalue)


def test_naive_equals_scipy_on_random_data():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.6, 0.02, 100), rng.normal(0.595, 0.02, 100)
    res, ref = naive_t_test(a - b), sps.ttest_rel(a, b)
    assert res.t == pytest.approx(ref.statistic)
    assert res.p == pytest.approx(ref.pvalue)


def test_calibrated_is_more_conservative_than_naive_for_100_folds():
    rng = np.random.default_rng(0)
    x = rng.normal(0.005, 0.02, 100)
    assert calibrated_t_test(x).p > naive_t_test(x).p
    # so is the corrected test with plain 10-fold sizes (n_test/n_train = 1/9)
    assert corrected_t_test(x, 1 / 9).p > naive_t_test(x).p


def test_sign_and_two_sidedness():
    neg = calibrated_t_test([-v for v in X])
    pos = calibrated_t_test(X)
    assert neg.t == pytest.approx(-pos.t)
    assert neg.p == pytest.approx(pos.p)


def test_undefined_and_degenerate_cases():
    assert math.isnan(calibrated_t_test([0.01]).p)
    assert math.isnan(corrected_t_test([], 0.1).p)
    assert math.isnan(naive_t_test([0.02]).p)
    assert math.isnan(corrected_t_test(X, float("nan")).p)  # sizes unknown
    same = calibrated_t_test([0.02, 0.02, 0.02])
    assert same.t == math.inf and same.p == 0.0
    none = calibrated_t_test([0.0, 0.0, 0.0])
    assert none.t == 0.0 and none.p == 1.0
    with pytest.raises(ValueError):
        run_test("sign", X)


def test_holm_hand_example():
    # sorted 0.01, 0.03, 0.04 -> 3·0.01 = 0.03, 2·0.03 = 0.06, max(0.06, 1·0.04) = 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    # NaN entries stay NaN and do not count in m: m = 2 here
    out = holm([0.02, float("nan"), 0.04])
    np.testing.assert_allclose(out[[0, 2]], [0.04, 0.04])
    assert math.isnan(out[1])
    np.testing.assert_allclose(holm([0.6, 0.9]), [1.0, 1.0])  # capped at 1


def test_repeat_mean_std_uses_ddof_1():
    m, s = repeat_mean_std([0.70, 0.70, 0.73])
    assert m == pytest.approx(0.71)
    assert s == pytest.approx(math.sqrt(3e-4))  # squares 1e-4, 1e-4, 4e-4 over n - 1 = 2
    m1, s1 = repeat_mean_std([0.5])
    assert m1 == 0.5 and math.isnan(s1)


# Leave-one-speaker-out: one difference per test speaker, no repeats.

def test_paired_t_over_speakers_matches_hand_computation():
    # n = 4 speakers, X as above: t = m / (s / sqrt(4)), t² = 15, df = n - 1 = 3
    res = paired_t_test(X)
    assert res.test == "paired"
    assert res.t == pytest.approx(math.sqrt(15))
    assert res.df == 3
    assert res.p == pytest.approx(2 * sps.t.sf(math.sqrt(15), 3))
    a = np.array([0.61, 0.64, 0.60, 0.66])
    assert res.p == pytest.approx(sps.ttest_rel(a, a - np.array(X)).pvalue)
    assert run_test("paired", X) == res


def test_wilcoxon_matches_the_exact_distribution_by_hand():
    # |x| ranks 1..5 for 0.01, -0.02, 0.03, 0.04, 0.05: W- = 2, W+ = 13, W = min = 2.
    # Exact null: 2^5 = 32 equally likely sign patterns; rank sums <= 2: {}, {1}, {2} -> 3.
    # Two-sided p = 2 * 3 / 32 = 0.1875.
    res = wilcoxon_test([0.01, 0.03, -0.02, 0.04, 0.05])
    assert res.t == 2.0 and res.p == pytest.approx(0.1875)
    assert math.isnan(res.df)
    # a zero difference is dropped ('wilcox'): n = 4, W = 2, sums <= 2 of 16 -> p = 6/16
    assert wilcoxon_test([0.01, 0.03, -0.02, 0.04, 0.0]).p == pytest.approx(0.375)
    # all positive, n = 6: only the empty set has rank sum 0 -> p = 2/64
    assert wilcoxon_test([0.01, 0.02, 0.03, 0.04, 0.05, 0.06]).p == pytest.approx(2 / 64)


def test_wilcoxon_degenerate_cases():
    assert math.isnan(wilcoxon_test([0.02]).p)
    none = wilcoxon_test([0.0, 0.0, 0.0])
    assert none.t == 0.0 and none.p == 1.0
