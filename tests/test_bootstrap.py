"""Speaker-level bootstrap intervals: vectorised UAR under draws, and coverage of a known
difference at about the nominal rate on synthetic speakers."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from paragrid.analysis.stats import paired_bootstrap, speaker_bootstrap, uar_under_draws
from paragrid.grid.work._rows import speaker_confusions
from paragrid.models.metrics import confusion, uar_from_confusion


def test_uar_under_the_identity_draw_is_the_folds_uar():
    rng = np.random.default_rng(0)
    conf = rng.integers(0, 9, size=(3, 5, 4, 4)).astype(float)
    got = uar_under_draws(conf, np.ones((1, 5)))[0]
    want = [uar_from_confusion(conf[p].sum(0)) for p in range(3)]
    np.testing.assert_allclose(got, want)
    # a draw that keeps speaker 0 twice and drops speaker 4 weighs their matrices so
    w = np.array([[2.0, 1, 1, 1, 0]])
    np.testing.assert_allclose(uar_under_draws(conf, w)[0],
                               [uar_from_confusion(np.tensordot(w[0], conf[p], 1)) for p in range(3)])


def test_speaker_confusions_add_up_to_the_fold_confusion():
    rng = np.random.default_rng(1)
    speakers = np.repeat(np.array(["s1", "s2", "s3"]), 20)
    y, pred = rng.integers(0, 3, 60), rng.integers(0, 3, (2, 60))
    test = np.zeros((2, 60), dtype=bool)
    test[0, ::2], test[1, 1::2] = True, True
    for f, text in enumerate(speaker_confusions(speakers, y, test, pred, 3)):
        per = json.loads(text)
        total = np.sum([np.asarray(m) for m in per.values()], axis=0)
        np.testing.assert_array_equal(total, confusion(y[test[f]], pred[f][test[f]], 3))


def _simulate(rng, n_speakers, folds=4, per_class=6, classes=3):
    """Per-speaker class accuracies for A and B sharing a speaker effect; counts per fold."""
    u = rng.normal(0.0, 0.6, (n_speakers, classes))
    acc_a = 1 / (1 + np.exp(-(u + 0.6)))
    acc_b = 1 / (1 + np.exp(-(u + 0.4)))
    out = []
    for acc in (acc_a, acc_b):
        hits = rng.binomial(per_class, acc[None].repeat(folds, 0))          # (P, S, C)
        conf = np.zeros((folds, n_speakers, classes, classes))
        idx = np.arange(classes)
        conf[..., idx, idx] = hits
        conf[..., idx, (idx + 1) % classes] = per_class - hits               # errors to the next class
        out.append(conf)
    return out


def test_intervals_cover_the_population_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(2026)
    # the population difference: the mean recall difference over (very many) speakers
    u = rng.normal(0.0, 0.6, (400_000, 3))
    truth = float(np.mean(1 / (1 + np.exp(-(u + 0.6))) - 1 / (1 + np.exp(-(u + 0.4)))))
    sims, hits = 200, 0
    for i in range(sims):
        a, b = _simulate(rng, n_speakers=30)
        lo, hi = speaker_bootstrap(a, b, draws=500, level=0.9, seed=i)
        hits += lo <= truth <= hi
    coverage = hits / sims
    assert 0.82 <= coverage <= 0.97, coverage   # nominal 0.90; 200 runs: sd ~0.02
    # and a difference of zero is not what it covers when the effect is clear
    a, b = _simulate(rng, n_speakers=30)
    lo, hi = speaker_bootstrap(a, b, draws=1000, seed=1)
    assert lo > 0


def test_paired_bootstrap_reads_results_rows_and_is_seeded():
    rng = np.random.default_rng(3)
    a, b = _simulate(rng, n_speakers=8, folds=3)

    def rows(conf):
        return pd.DataFrame({"repeat": 0, "fold": range(3), "classes": json.dumps(["x", "y", "z"]),
                             "speaker_confusion": [json.dumps({f"s{s}": conf[p, s].astype(int).tolist()
                                                               for s in range(8)}) for p in range(3)]})
    ci = paired_bootstrap(rows(a), rows(b))
    assert ci == paired_bootstrap(rows(a), rows(b)) and ci[0] < ci[1]
    assert np.isnan(paired_bootstrap(rows(a).drop(columns="speaker_confusion"), rows(b))[0])
    # the report's cache: a cell compared twice is resampled once, and the intervals are the same
    c = _simulate(np.random.default_rng(4), n_speakers=8, folds=3)[0]
    cache: dict = {}
    assert paired_bootstrap(rows(a), rows(b), cache=cache, cells=("A", "B")) == ci
    assert paired_bootstrap(rows(a), rows(c), cache=cache, cells=("A", "C")) == paired_bootstrap(rows(a), rows(c))
    assert sorted(k[0] for k in cache) == ["A", "B", "C"]
