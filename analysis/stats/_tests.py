"""Paired significance tests for repeated k-fold cross-validation, and Holm's correction.

The k·r fold scores of repeated CV are not independent (every training set overlaps every
other), so a plain paired t-test over them overstates significance badly. Two standard fixes:

* calibrated "use all data" test (Bouckaert 2003), the one the paper used: keep the plain
  statistic's ingredients but replace the degrees of freedom by a fixed, empirically calibrated
  df = 10:  t = m / (s / sqrt(df + 1)).  (This form is the one PROTOCOL.md gives from secondary
  sources; the ICML 2003 paper itself could not be read from here to confirm it.)
* corrected repeated k-fold CV test (Nadeau & Bengio 2003; Bouckaert & Frank 2004): inflate the
  variance by the train/test overlap:  t = m / sqrt((1/(k·r) + n_test/n_train) · s²),
  df = k·r - 1.

Leave-one-speaker-out (and leave-one-session-out) folds are neither repeated nor random: fold i
tests speaker i, so a comparison pairs the n speakers (one repeat). The repeated-CV tests do not
apply; the standard choice is a paired test over the speakers:
* paired t-test over the n speakers: t = m / (s / sqrt(n)), df = n - 1 (= scipy.stats.ttest_rel);
* Wilcoxon signed-rank test (scipy.stats.wilcoxon, two-sided, exact for small n without ties),
  the named distribution-free alternative: W = min(W+, W-), the smaller sum of the ranks of |x|
  over the positive and over the negative differences (zero differences dropped).
(The training sets of the speakers still overlap, as in any cross-validation; these tests treat
the speakers as the sample, which is what the LOSO literature reports.)

Throughout, x are the k·r paired differences (method A minus method B, same fold of the same
repeat), m their mean and s² their sample variance with ddof = 1. All p-values are two-sided.
The naive test is kept only as a labelled comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CALIBRATED_DF = 10
TESTS = ("calibrated", "corrected", "naive", "paired", "wilcoxon")
MARKER_TESTS = ("calibrated", "corrected")  # repeated k-fold CV; naive is only shown beside them
DESIGN_TEST = "auto"  # the default marker test: by each cell's design (_schemes.marker_test)
UNIT_TESTS = ("paired", "wilcoxon")         # leave-one-speaker/session-out: pairs of speakers
TEST_LABEL = {
    "calibrated": "calibrated repeated-CV t-test (Bouckaert 2003, df = 10)",
    "corrected": "corrected repeated k-fold CV t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004)",
    "naive": "naive paired t-test over all k·r folds (overstates significance)",
    "paired": "paired t-test over the test speakers/sessions (df = n − 1)",
    "wilcoxon": "Wilcoxon signed-rank test over the test speakers/sessions",
    "auto": "design-based test (calibrated t-test on 10 × 10-fold cells, corrected t-test on other k-fold designs)",
}
TEST_SHORT = {"calibrated": "calibrated (Bouckaert, df = 10)", "corrected": "corrected (Nadeau & Bengio)",
              "naive": "naive paired t (overstates)", "paired": "paired t over speakers/sessions",
              "wilcoxon": "Wilcoxon signed-rank", "auto": "by design (calibrated on 10 × 10, else corrected)"}


@dataclass(frozen=True)
class TestResult:
    test: str
    n: int        # number of paired differences (k·r when complete)
    mean: float   # m: mean difference A - B
    sd: float     # s: sample std of the differences, ddof = 1
    t: float      # the statistic: t, or W for the Wilcoxon test
    df: float     # NaN for the Wilcoxon test
    p: float      # two-sided; NaN when the test is undefined (fewer than two pairs)


def _prepare(diffs) -> tuple[np.ndarray, float, float]:
    x = np.asarray(diffs, dtype=float).ravel()
    if np.isnan(x).any():
        raise ValueError("paired differences contain NaN")
    m = float(x.mean()) if x.size else float("nan")
    s = float(x.std(ddof=1)) if x.size >= 2 else float("nan")
    return x, m, s


def _t_and_p(m: float, se: float, df: float) -> tuple[float, float]:
    """t = m / se and its two-sided p; a zero standard error gives t = ±inf (p = 0) or 0/0 = no
    evidence (t = 0, p = 1) rather than a NaN that would hide the cell."""
    if se == 0.0:
        if m == 0.0:
            return 0.0, 1.0
        return float(np.copysign(np.inf, m)), 0.0
    t = m / se
    return t, float(2.0 * sps.t.sf(abs(t), df))


def _undefined(test: str, n: int, m: float, df: float) -> TestResult:
    nan = float("nan")
    return TestResult(test, n, m, nan, nan, df, nan)


def calibrated_t_test(diffs, df: int = CALIBRATED_DF) -> TestResult:
    """Bouckaert's calibrated "use all data" test: t = m / (s / sqrt(df + 1)), Student t(df)."""
    x, m, s = _prepare(diffs)
    if x.size < 2:
        return _undefined("calibrated", x.size, m, df)
    t, p = _t_and_p(m, s / np.sqrt(df + 1), df)
    return TestResult("calibrated", x.size, m, s, t, float(df), p)


def corrected_t_test(diffs, test_train_ratio: float) -> TestResult:
    """Nadeau-Bengio corrected test: t = m / sqrt((1/n + n_test/n_train) · s²), df = n - 1.

    `test_train_ratio` is n_test/n_train of the real folds (with a fold budget of 1 the ratio is
    near 1, not 1/(k-1)), so the correction follows the data the models actually saw.
    """
    x, m, s = _prepare(diffs)
    df = x.size - 1
    if x.size < 2 or not np.isfinite(test_train_ratio) or test_train_ratio < 0:
        return _undefined("corrected", x.size, m, df)
    t, p = _t_and_p(m, np.sqrt((1.0 / x.size + test_train_ratio) * s * s), df)
    return TestResult("corrected", x.size, m, s, t, float(df), p)


def naive_t_test(diffs) -> TestResult:
    """Plain paired t-test over all k·r differences (= scipy.stats.ttest_rel); comparison only."""
    x, m, s = _prepare(diffs)
    df = x.size - 1
    if x.size < 2:
        return _undefined("naive", x.size, m, df)
    t, p = _t_and_p(m, s / np.sqrt(x.size), df)
    return TestResult("naive", x.size, m, s, t, float(df), p)


def paired_t_test(diffs) -> TestResult:
    """Paired t-test over the n test speakers (sessions) of a leave-one-out scheme:
    t = m / (s / sqrt(n)), df = n - 1. The same arithmetic as the naive test, but here the n
    scores are one per speaker and no repeat is pooled, which is the design it is meant for."""
    res = naive_t_test(diffs)
    return TestResult("paired", res.n, res.mean, res.sd, res.t, res.df, res.p)


def wilcoxon_test(diffs) -> TestResult:
    """Wilcoxon signed-rank test over the n speakers (sessions): scipy.stats.wilcoxon, two-sided,
    zero differences dropped ('wilcox'). All-zero differences are no evidence: W = 0, p = 1."""
    x, m, s = _prepare(diffs)
    nan = float("nan")
    if x.size < 2:
        return TestResult("wilcoxon", x.size, m, s, nan, nan, nan)
    if not np.any(x != 0.0):
        return TestResult("wilcoxon", x.size, m, s, 0.0, nan, 1.0)
    res = sps.wilcoxon(x, zero_method="wilcox", alternative="two-sided")
    return TestResult("wilcoxon", x.size, m, s, float(res.statistic), nan, float(res.pvalue))


def run_test(test: str, diffs, test_train_ratio: float = float("nan")) -> TestResult:
    if test == "calibrated":
        return calibrated_t_test(diffs)
    if test == "corrected":
        return corrected_t_test(diffs, test_train_ratio)
    if test == "naive":
        return naive_t_test(diffs)
    if test == "paired":
        return paired_t_test(diffs)
    if test == "wilcoxon":
        return wilcoxon_test(diffs)
    raise ValueError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values; NaN entries stay NaN and do not count.

    Sorted ascending p_(1..m): adjusted p_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def repeat_mean_std(uars) -> tuple[float, float]:
    """Mean and sample std (ddof = 1) of one repeat's fold UARs; std is NaN for a single fold."""
    x = np.asarray(uars, dtype=float)
    return float(x.mean()), (float(x.std(ddof=1)) if x.size >= 2 else float("nan"))
