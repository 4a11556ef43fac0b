"""Many corpora: transfer matrices (`@each-other`, `@all-others`, explicit lists), the spec's
label set over corpora, pooled PT/FT sources and one frozen ProgNet column per source corpus."""
from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from grid_helpers import tiny_spec, write_corpus, write_spec

from paragrid.errors import UserError
from paragrid.grid.data import ClassesWarning, load_corpora
from paragrid.grid.plan import plan_sources
from paragrid.grid.run import run_pack, train_source
from paragrid.grid.spec import Trial, expand_trials, load_spec

NAMES = ["ca", "cb", "cc", "cd"]


def _corpora(folder, n):
    return {c: write_corpus(folder / f"{c}.parquet", c, seed=i + 1).name for i, c in enumerate(NAMES[:n])}


def _spec(folder, n, **over):
    doc = tiny_spec(**{"corpora": _corpora(folder, n), "targets": NAMES[:n], "budgets": [1, 2], "repeats": 2,
                       **over})
    return load_spec(write_spec(folder, doc))


@pytest.mark.parametrize("n", [3, 4])
def test_each_other_is_one_trial_per_ordered_pair_method_budget_and_repeat(tmp_path, n):
    spec = _spec(tmp_path, n, sources=[["emotion@each-other"]])
    trials = expand_trials(spec).trials
    count = Counter(t.method for t in trials)
    pairs = n * (n - 1)
    assert count == {"dnn": n * 2 * 2, "ptft": pairs * 2 * 2, "prognet": pairs * 2 * 2}
    got = {(t.sources, t.target) for t in trials if t.method == "prognet"}
    assert got == {((f"emotion@{s}",), t) for t in NAMES[:n] for s in NAMES[:n] if s != t}


@pytest.mark.parametrize("n", [3, 4])
def test_all_others_is_one_set_per_target_and_ptft_pools_it(tmp_path, n):
    spec = _spec(tmp_path, n, sources=[["emotion@all-others"], ["emotion@each-other"]])
    trials = expand_trials(spec).trials
    count = Counter(t.method for t in trials)
    assert count["dnn"] == n * 4
    assert count["prognet"] == count["ptft"] == (n * (n - 1) + n) * 4
    for_ca = {t.sources for t in trials if t.method == "ptft" and t.target == "ca" and len(t.sources) > 1}
    assert for_ca == {tuple(f"emotion@{c}" for c in NAMES[1:n])}


def test_explicit_lists_and_errors(tmp_path):
    spec = _spec(tmp_path, 3, sources=[["emotion@cb", "emotion@cc"]], targets=["ca"])
    assert {t.sources for t in expand_trials(spec).trials if t.method != "dnn"} == {("emotion@cb", "emotion@cc")}
    with pytest.raises(UserError, match="emotion@each-other"):
        _spec(tmp_path, 3, sources=[["emotion@other"]])


def test_spec_classes_refuse_a_corpus_lacking_one_unless_shared(tmp_path):
    spec = _spec(tmp_path, 3, sources=[["emotion@each-other"]], classes=["angry", "happy", "calm"])
    with pytest.raises(UserError) as err:
        load_corpora(spec, {"emotion"})
    msg = str(err.value)
    assert "\n" not in msg and "corpus 'ca'" in msg and "'calm'" in msg and "classes: shared" in msg
    two = _spec(tmp_path, 3, sources=[["emotion@each-other"]], classes=["angry", "sad"])
    with pytest.warns(ClassesWarning, match="utterances outside the spec's classes"):
        corpora = load_corpora(two, {"emotion"})
    assert set(corpora["cb"].labels["emotion"]) == {"angry", "sad"}
    shared = _spec(tmp_path, 3, sources=[["emotion@each-other"]], classes="shared")
    assert set(load_corpora(shared, {"emotion"})["cc"].labels["emotion"]) == {"angry", "happy", "neutral", "sad"}
    assert two.resolved()["classes"] == ["angry", "sad"]  # part of the spec hash


def _train(spec, corpora, trials):
    per_trial, _ = plan_sources(trials, spec, corpora)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in trials:
            out.append([train_source(job, spec, corpora, "cpu") for job in per_trial[t.trial_id]])
        return per_trial, out


def test_all_others_prognet_has_one_frozen_column_per_source_corpus_and_ptft_one_pooled_model(tmp_path):
    spec = _spec(tmp_path, 4, sources=[["emotion@all-others"]], targets=["ca"], budgets=[1], repeats=1)
    corpora = load_corpora(spec, {"emotion"})
    assert "cb+cc+cd" in corpora and corpora["cb+cc+cd"].n == sum(corpora[c].n for c in NAMES[1:])
    trials = [t for t in expand_trials(spec).trials if t.method != "dnn"]
    per_trial, sources = _train(spec, corpora, trials)
    by_method = {t.method: (t, per_trial[t.trial_id], s) for t, s in zip(trials, sources)}
    t, jobs, srcs = by_method["prognet"]
    assert [j.corpus for j in jobs] == ["cb", "cc", "cd"] and all(j.cross and j.budget == spec.k - 2 for j in jobs)
    t, jobs, srcs = by_method["ptft"]
    assert [j.corpus for j in jobs] == ["cb+cc+cd"] and jobs[0].cross
    for method in ("prognet", "ptft"):
        t, jobs, srcs = by_method[method]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results, _ = run_pack([t], spec, "h", corpora, [srcs], "cpu", "node")
        assert len(results) == spec.k and np.isfinite(results.test_uar).all()
        assert (results.sources == "emotion@cb+emotion@cc+emotion@cd").all()
    # the trained ProgNet itself: one frozen column per source corpus, each that corpus's model
    from paragrid.grid.work._train import _pack_data
    from paragrid.models.options import Pack, Run
    from paragrid.models.pack import stack_models
    from paragrid.models.train import train_folds
    t, jobs, srcs = by_method["prognet"]
    data, _ = _pack_data([t], spec, corpora["ca"], ["angry", "happy", "neutral", "sad"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = train_folds(data, spec.arch_for("ca"), spec.training_for("ca"), "prognet",
                          [stack_models([m]) for m, _ in srcs],
                          pack=Pack(seeds=[0] * spec.k, fold_ids=list(range(spec.k))), run=Run(device="cpu"))
    assert len(out.model.sources) == 3
    assert [m["corpus"] for _, m in srcs] == ["cb", "cc", "cd"]


def test_the_many_corpora_builtin_spec_is_a_four_corpus_matrix(tmp_path):
    for c in "abcd":
        (tmp_path / f"synth-{c}.parquet").write_bytes(b"")
    spec = load_spec("many-corpora", features_dir=tmp_path)
    trials = expand_trials(spec).trials
    assert len(spec.corpora) == 4 and len(trials) == 288
    pairs = {(t.sources, t.target) for t in trials if t.method == "prognet" and len(t.sources) == 1}
    assert len(pairs) == 12


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    import json

    from paragrid.cli import main
    spec = write_spec(tmp_path, tiny_spec(corpora=_corpora(tmp_path, 3), targets=NAMES[:3], budgets=[1, 2],
                                          repeats=1, sources=[["emotion@each-other"], ["emotion@all-others"]]))
    runs = tmp_path / "runs"
    assert main(["run", str(spec), "--storage", str(runs), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    # 3 targets x 2 budgets x (1 dnn + 2 methods x (2 single + 1 all-others)) = 42
    assert plan["trials"] == 42 and plan["units"] >= 1
    assert plan["by_method"] == {"dnn": 6, "ptft": 18, "prognet": 18}
    assert plan["by_stage"]["source models"]["trials"] == plan["source_models"] == 3 + 3  # 3 own, 3 pooled
    assert not runs.exists()  # nothing written, nothing run
    assert main(["run", str(spec), "--storage", str(runs), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "nothing is run" in text and "per source set:" in text and "estimate" in text


def test_the_transfer_matrix_heat_map_has_a_cell_per_pair_and_a_budget_selector():
    from analysis_helpers import build_results

    from paragrid.analysis.plots import matrix_rows, transfer_matrix
    from paragrid.analysis.stats import significance_table
    results, _ = build_results(targets=("synth-a", "synth-b", "synth-c"), para_sources=(), k=4,
                               repeats=2, cross_budgets=(1, 2), max_epochs=10)
    sig = significance_table(results)
    rows = matrix_rows(sig)
    assert len(rows) == 3 * 2 * 2 * 2  # ordered pairs x methods x budgets
    fig = transfer_matrix(sig)
    assert len(fig.data) == 2 * 2 and [t.visible for t in fig.data] == [True, True, False, False]
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["budget 2", "budget 1"]
    first = fig.data[0]
    assert list(first.x) == ["synth-a", "synth-b", "synth-c"] and list(first.y) == list(first.x)
    assert np.isnan(first.z[0][0]) and np.isfinite(first.z[0][1])   # no self-transfer on the diagonal
    hover = first.customdata[1][0]
    assert "− DNN" in hover and "p (" in hover and "all tests:" in hover
    assert any(t.endswith("*") for row in first.text for t in row) or not rows["significant"].any()


def test_the_heat_map_has_one_matrix_per_feature_set_never_two_sets_in_a_cell():
    from analysis_helpers import build_results

    from paragrid.analysis.plots import transfer_matrix
    from paragrid.analysis.stats import significance_table
    results, _ = build_results(targets=("synth-a", "synth-b"), para_sources=(), k=4,
                               repeats=2, cross_budgets=(1,), max_epochs=10)
    sig = significance_table(results)
    one = sig[sig["method_b"] == "dnn"]
    two = pd.concat([one.assign(feature_set="egemaps"),
                     one.assign(feature_set="wavlm@L6", mean_diff=one["mean_diff"] + 0.5)])
    fig = transfer_matrix(two)
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["egemaps · budget 1", "wavlm@L6 · budget 1"]
    methods = len(fig.data) // 2
    first, second = fig.data[0], fig.data[methods]
    cell = (list(first.y).index("synth-b"), list(first.x).index("synth-a"))
    assert np.isclose(second.z[cell[0]][cell[1]] - first.z[cell[0]][cell[1]], 0.5)
