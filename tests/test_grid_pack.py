"""Packs: trials trained together as one stacked model give each trial's unpacked numbers."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from grid_helpers import tiny_spec, write_corpora, write_spec

from paragrid.grid.data import load_corpora
from paragrid.grid.plan import plan_sources
from paragrid.grid.run import run_pack, train_source
from paragrid.grid.spec import Trial, load_spec

NUMBERS = ["test_uar", "val_uar", "best_epoch", "epochs_run", "epoch_cap", "optimizer_steps",
           "source_uar_before", "source_uar_after", "source_probe_uar_after", "n_train", "n_val", "n_test"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    write_corpora(folder)
    training = {"lr": 0.01, "optimizer": "adam", "batch_size": 16, "max_epochs": 4, "patience": None,
                "curve_stride": 2}
    arch = {"layers": 2, "width": 8, "activation": "sigmoid", "dropout": 0.25}
    spec = load_spec(write_spec(folder, tiny_spec(
        targets=["ca"], budgets=[1, 2], repeats=2, architecture=arch, training=training,
        sources=[["gender"], ["gender", "emotion@other"]])))
    return spec, load_corpora(spec, {"gender", "emotion", "speaker"})


def _sources(spec, corpora, trials):
    per_trial, _ = plan_sources(trials, spec, corpora)
    cache = {}
    out = []
    for t in trials:
        got = []
        for job in per_trial[t.trial_id]:
            if job.key not in cache:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tiny sources may predict one class
                    cache[job.key] = train_source(job, spec, corpora, "cpu")
            got.append(cache[job.key])
        out.append(got)
    return out


def _run(spec, corpora, trials, sources):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results, curves = run_pack(trials, spec, "h", corpora, sources, "cpu", "node")
    # one frame per pack, trial after trial in the order given; split here per trial
    assert list(dict.fromkeys(results.trial_id)) == [t.trial_id for t in trials]
    assert list(dict.fromkeys(curves.trial_id)) == [t.trial_id for t in trials]
    return [(results[results.trial_id == t.trial_id].reset_index(drop=True),
             curves[curves.trial_id == t.trial_id].reset_index(drop=True)) for t in trials]


@pytest.mark.parametrize("method, sources", [
    ("dnn", ()), ("ptft", ("gender",)), ("prognet", ("gender", "emotion@cb"))])
def test_packed_equals_unpacked_per_trial_and_fold(setup, method, sources):
    spec, corpora = setup
    # two repeats and two budgets of different sizes in one pack
    trials = [Trial(method, sources, "ca", b, r) for r, b in ((0, 1), (0, 2), (1, 2))]
    srcs = _sources(spec, corpora, trials)
    packed = _run(spec, corpora, trials, srcs)
    for t, s, (res_p, cur_p) in zip(trials, srcs, packed):
        (res_1, cur_1), = _run(spec, corpora, [t], [s])
        assert list(res_p.trial_id.unique()) == [t.trial_id]
        for col in NUMBERS:
            a, b = res_p[col].to_numpy(dtype=float), res_1[col].to_numpy(dtype=float)
            assert np.allclose(a, b, atol=1e-5, equal_nan=True), (t.trial_id, col, a, b)
        assert (res_p.confusion == res_1.confusion).all()
        assert (res_p.pack_size == len(trials)).all() and (res_1.pack_size == 1).all()
        cols = ["fold", "epoch", "train_loss", "val_uar", "test_uar"]
        pd.testing.assert_frame_equal(cur_p[cols], cur_1[cols], atol=1e-5, check_dtype=False)


def test_a_pack_is_deterministic_and_role_streams_keep_sources_apart(setup):
    spec, corpora = setup
    trials = [Trial("ptft", ("gender",), "ca", 2, r) for r in (0, 1)]
    srcs = _sources(spec, corpora, trials)
    a = _run(spec, corpora, trials, srcs)
    b = _run(spec, corpora, trials, srcs)
    for (ra, ca), (rb, cb) in zip(a, b):
        pd.testing.assert_frame_equal(ra.drop(columns=["wall_s"]), rb.drop(columns=["wall_s"]))
        pd.testing.assert_frame_equal(ca, cb)
    # a same-corpus source model and the targets of its repeat: same repeat seed, other streams
    from paragrid.grid.run import TARGET_ROLE
    from paragrid.models.columns import role_seed

    _, meta = srcs[0][0]
    assert meta["role"] == "source:gender@ca" and meta["seed"] == a[0][0].seed[0]
    assert role_seed(meta["seed"], meta["role"]) != role_seed(meta["seed"], TARGET_ROLE)


def test_source_models_packed_equal_each_trained_alone(setup):
    from paragrid.grid.run import train_sources

    spec, corpora = setup
    trials = [Trial("ptft", ("gender",), "ca", b, r) for r, b in ((0, 1), (0, 2), (1, 2))]
    per_trial, _ = plan_sources(trials, spec, corpora)
    jobs = [per_trial[t.trial_id][0] for t in trials]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        packed = train_sources(jobs, spec, corpora, "cpu")
        alone = [train_source(j, spec, corpora, "cpu") for j in jobs]
    for job, (m_p, meta_p), (m_1, meta_1) in zip(jobs, packed, alone):
        assert meta_p["key"] == meta_1["key"] == job.key and meta_p["seed"] == meta_1["seed"]
        assert meta_p["pack_size"] == 3 and meta_1["pack_size"] == 1
        for col in ("test_uar", "val_uar", "best_epoch", "epochs_run"):
            assert np.allclose(meta_p[col], meta_1[col], atol=1e-5), (job.key, col)
        assert m_p.n_folds == m_1.n_folds == spec.k
        for name in m_1.params:
            torch.testing.assert_close(m_p.params[name], m_1.params[name], rtol=0, atol=1e-5)
