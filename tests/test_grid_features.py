"""The feature-set axis: a spec gives each corpus several feature parquets; every trial runs once
per feature set on the same folds, and rows, tables and tests come out per feature set.

Trials run in-process here (run_pack, as a unit runs them), so no Ray is started; the report is
the real `write_report` on the rows they wrote.
"""
from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from grid_helpers import tiny_spec, write_corpora, write_corpus, write_spec

from paragrid.analysis.report import write_report
from paragrid.errors import UserError
from paragrid.features.extract import read_features, write_parquet_atomic
from paragrid.grid.data import ClassesWarning, load_corpora, validate_corpora
from paragrid.grid.plan import plan_sources
from paragrid.grid.run import run_pack, train_source
from paragrid.grid.spec import NUMBERS_VERSION, expand_trials, load_spec

LABELS = {"gender", "emotion", "speaker"}


def write_layered(path, name: str, seed: int):
    """A per-layer parquet as `--layer all` writes it: L0_mean..., L1_mean... (3 wide each)."""
    base = write_corpus(path.with_suffix(".base.parquet"), name, seed=seed)
    df, meta = read_features(base)
    feats = meta["feature_columns"]
    cols = {f"L{layer}_mean{i:04d}": df[f].to_numpy() * (1 + layer)
            for layer in (0, 1) for i, f in enumerate(feats[:3])}
    out = df.drop(columns=feats).assign(**cols)
    write_parquet_atomic(out, path, {**meta, "feature_set": "hf:tiny", "layer": "all", "layers": [0, 1],
                                     "feature_columns": list(cols)})
    return path


@pytest.fixture
def two_sets(tmp_path):
    write_corpora(tmp_path)
    for name, seed in (("ca", 1), ("cb", 2)):
        write_layered(tmp_path / f"{name}.ssl.parquet", name, seed)
    doc = tiny_spec(name="fs", corpora={"ca": {"egemaps": "ca.parquet", "ssl": "ca.ssl.parquet"},
                                        "cb": {"egemaps": "cb.parquet", "ssl": "cb.ssl.parquet"}},
                    features=["egemaps", "ssl@L1"], sources=[["gender"], ["emotion@other"]],
                    methods=["dnn", "prognet"], repeats=2)
    return tmp_path, doc


def test_spec_without_the_axis_keeps_its_trial_ids_and_hash(tmp_path):
    """The hash of a plain spec is the formula from before the axis existed, term for term."""
    write_corpora(tmp_path)
    spec = load_spec(write_spec(tmp_path, tiny_spec(sources=[["gender"], ["emotion@other"]])))
    corpora = load_corpora(spec, LABELS)
    assert set(corpora) == {"ca", "cb"} and "features" not in spec.resolved()
    assert [t.trial_id for t in expand_trials(spec).trials][:2] == ["dnn.none.ca.b2.r0", "ptft.gender.ca.b2.r0"]
    doc = {k: v for k, v in spec.resolved().items()
           if k not in ("description", "storage", "resources", "max_failures", "corpora", "tune")}
    doc["paragrid_numbers"] = NUMBERS_VERSION
    doc["corpora"] = {n: corpora[n].fingerprint for n in sorted(spec.corpora)}
    old = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert spec.hash({n: c.fingerprint for n, c in corpora.items()}) == old


def test_axis_expands_every_trial_per_feature_set_with_its_own_columns(two_sets):
    folder, doc = two_sets
    spec = load_spec(write_spec(folder, doc))
    assert spec.features == ("egemaps", "ssl@L1")
    trials = expand_trials(spec).trials
    assert {t.features for t in trials} == {"egemaps", "ssl@L1"} and len(trials) == 2 * 3 * 2
    assert "prognet.emotion_at_cb.ca.ssl_at_L1.b2.r1" in {t.trial_id for t in trials}
    corpora = load_corpora(spec, LABELS)
    assert corpora["ca|ssl@L1"].columns == tuple(f"L1_mean{i:04d}" for i in range(3))
    assert corpora["ca|egemaps"].x.shape[1] == 6
    assert load_spec(spec.resolved()).resolved() == spec.resolved()   # round trip, nested corpora
    # a spec hash of its own, changed by the axis
    fp = {k: c.fingerprint for k, c in corpora.items()}
    one = load_spec(write_spec(folder, {**doc, "features": ["egemaps"]}, "one.yaml"))
    assert spec.hash(fp) != one.hash({k: c.fingerprint for k, c in load_corpora(one, LABELS).items()})


def test_grid_gives_rows_tables_and_tests_per_feature_set(two_sets):
    folder, doc = two_sets
    spec = load_spec(write_spec(folder, doc))
    corpora = load_corpora(spec, LABELS)
    validate_corpora(spec, corpora)
    trials = expand_trials(spec).trials
    per_trial, _ = plan_sources(trials, spec, corpora)
    models, frames = {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in trials:
            srcs = []
            for job in per_trial[t.trial_id]:
                if job.key not in models:
                    models[job.key] = train_source(job, spec, corpora, "cpu")
                srcs.append(models[job.key])
            frames.append(run_pack([t], spec, "h", corpora, [srcs], "cpu", "node")[0])
    results = pd.concat(frames, ignore_index=True)
    # 3 trials x 2 repeats x 4 folds per feature set
    assert results.groupby("feature_set").size().to_dict() == {"egemaps": 24, "ssl@L1": 24}
    # the same folds under both feature sets (like methods): identical training folds and seeds
    key = ["method", "sources", "repeat", "fold"]
    a = results[results.feature_set == "egemaps"].set_index(key).sort_index()
    b = results[results.feature_set == "ssl@L1"].set_index(key).sort_index()
    assert (a[["train_folds", "seed", "n_test"]] == b[["train_folds", "seed", "n_test"]]).all().all()
    assert not np.allclose(a["test_uar"], b["test_uar"])
    run = folder / "runs" / "fs"
    run.mkdir(parents=True)
    results.to_parquet(run / "results.parquet")
    write_report(run, quiet=True)
    table2 = (run / "report" / "table2.csv").read_text()
    assert "ca · egemaps" in table2 and "ca · ssl@L1" in table2
    assert (run / "report" / "crosscorpus.csv").read_text().count("ssl@L1") >= 1
    sig = pd.read_csv(run / "report" / "significance.csv")
    same = sig[sig.feature_set_a == sig.feature_set_b]
    assert set(same.feature_set) == {"egemaps", "ssl@L1"}       # method tests per feature set
    across = sig[sig.feature_set_a != sig.feature_set_b]
    assert set(zip(across.feature_set_a, across.feature_set_b)) == {("ssl@L1", "egemaps")}
    assert set(across.method_a) == {"dnn", "prognet"} and (across.method_a == across.method_b).all()
    summary = pd.read_csv(run / "report" / "summary.csv")
    assert set(summary.feature_set) == {"egemaps", "ssl@L1"}


def test_a_trial_mixing_feature_sets_is_refused_in_one_line(tmp_path):
    write_corpora(tmp_path)
    write_corpus(tmp_path / "cb.parquet", "cb", d=9, seed=2)   # another set (9 columns) for cb
    spec = load_spec(write_spec(tmp_path, tiny_spec(sources=[["emotion@other"]])))
    with pytest.raises(UserError, match=r"^trial \S+ mixes feature sets: target 'ca' has 6 test columns .*"
                                        r"source 'emotion@cb' has 9 test columns .*same --feature-set$"):
        validate_corpora(spec, load_corpora(spec, LABELS))


@pytest.mark.parametrize("change, words", [
    ({"features": ["wavlm"]}, "corpus 'ca' has no 'wavlm' parquet"),
    ({"features": ["egemaps@layer6"]}, "bad entry 'egemaps@layer6'"),
    ({"corpora": {"ca": {"egemaps": "ca.parquet"}, "cb": "cb.parquet"}}, "give every corpus one parquet"),
])
def test_axis_spec_errors_are_one_line(two_sets, change, words):
    folder, doc = two_sets
    with pytest.raises(UserError, match=words):
        load_spec(write_spec(folder, {**doc, **change}))


def test_a_layer_the_parquet_lacks_and_unaligned_parquets_are_refused(two_sets):
    folder, doc = two_sets
    spec = load_spec(write_spec(folder, {**doc, "features": ["egemaps", "ssl@L7"]}))
    with pytest.raises(UserError, match="holds no layer L7 \\(layers L0, L1\\)"):
        load_corpora(spec, LABELS)
    df, meta = read_features(folder / "ca.ssl.parquet")
    write_parquet_atomic(df.iloc[1:], folder / "ca.ssl.parquet", meta)     # one utterance fewer
    spec = load_spec(write_spec(folder, doc))
    with pytest.raises(UserError, match="hold different utterances .*re-extract both from one manifest"):
        load_corpora(spec, LABELS)


def test_packs_and_source_packs_never_mix_feature_sets(two_sets):
    from paragrid.grid.plan import pack_key, source_pack_key

    folder, doc = two_sets
    spec = load_spec(write_spec(folder, doc))
    trials = [t for t in expand_trials(spec).trials if t.method == "prognet" and t.repeat == 0
              and t.sources == ("gender",)]
    assert len(trials) == 2 and pack_key(trials[0]) != pack_key(trials[1])
    per_trial, _ = plan_sources(trials, spec, load_corpora(spec, LABELS))
    jobs = [per_trial[t.trial_id][0] for t in trials]
    assert jobs[0].key != jobs[1].key and jobs[0].job_id != jobs[1].job_id
    assert source_pack_key(jobs[0], spec.architecture, spec.training) != \
        source_pack_key(jobs[1], spec.architecture, spec.training)


def test_rows_of_a_spec_without_the_axis_have_an_empty_feature_set(tmp_path):
    """So that a run resumed from rows written before the column existed stays one cell."""
    write_corpora(tmp_path)
    spec = load_spec(write_spec(tmp_path, tiny_spec(methods=["dnn"])))
    corpora = load_corpora(spec, LABELS)
    trial = expand_trials(spec).trials[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows, _ = run_pack([trial], spec, "h", corpora, [[]], "cpu", "node")
    assert (rows["feature_set"] == "").all()


def test_pooled_sources_and_spec_classes_compose_with_the_axis(tmp_path):
    """Issue 21 on issue 22's axis: `emotion@all-others` pools the other corpora once per feature
    set (PT/FT's source model trains on the pooled rows of that set's columns), and the spec's
    label set and excluded speakers apply to every (corpus, feature set)."""
    write_corpora(tmp_path)
    write_corpus(tmp_path / "cc.parquet", "cc", seed=3)
    for name, seed in (("ca", 1), ("cb", 2), ("cc", 3)):
        write_layered(tmp_path / f"{name}.ssl.parquet", name, seed)
    doc = tiny_spec(name="pooled-fs", corpora={c: {"egemaps": f"{c}.parquet", "ssl": f"{c}.ssl.parquet"}
                                               for c in ("ca", "cb", "cc")},
                    features=["egemaps", "ssl@L1"], sources=[["emotion@all-others"]], methods=["ptft"],
                    classes=["angry", "happy", "sad"], exclude_speakers=["cc-S3"])
    spec = load_spec(write_spec(tmp_path, doc))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpora = load_corpora(spec, LABELS)
    left_out = [str(w.message) for w in caught if issubclass(w.category, ClassesWarning)]
    assert len(left_out) == 3 and all("neutral=" in m for m in left_out)   # once per corpus, not per set
    assert {"cb+cc|egemaps", "cb+cc|ssl@L1"} <= set(corpora)
    pooled = corpora["cb+cc|ssl@L1"]
    assert pooled.features == "ssl@L1" and pooled.columns == corpora["cb|ssl@L1"].columns
    assert pooled.x.shape == (corpora["cb|ssl@L1"].n + corpora["cc|ssl@L1"].n, 3)
    assert pooled.columns != corpora["cb+cc|egemaps"].columns
    for c in corpora.values():
        assert set(c.labels["emotion"].tolist()) == {"angry", "happy", "sad"}
    assert corpora["cc|ssl@L1"].n == corpora["cc|egemaps"].n == 3 * 16 * 3 // 4   # spk3 left out, 3 of 4 classes
    trial = next(t for t in expand_trials(spec).trials if t.features == "ssl@L1")
    assert trial.sources == ("emotion@cb", "emotion@cc")
    per_trial, _ = plan_sources([trial], spec, corpora)
    (job,) = per_trial[trial.trial_id]
    assert job.corpus_key == "cb+cc|ssl@L1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = train_source(job, spec, corpora, "cpu")
        rows, _ = run_pack([trial], spec, "h", corpora, [[source]], "cpu", "node")
    assert (rows["feature_set"] == "ssl@L1").all() and np.isfinite(rows["test_uar"]).all()


@pytest.mark.slow
def test_paragrid_run_and_report_with_two_feature_sets(local_ray, two_sets):
    """The whole path on Ray: planning, calibration, packs and the merge keyed per feature set,
    resumed with nothing to do, then the report."""
    from paragrid.grid.run import run_grid

    folder, doc = two_sets
    spec = write_spec(folder, {**doc, "repeats": 1})
    run_dir = run_grid(str(spec), storage=str(folder / "runs"), say=lambda *a, **k: None)
    results = pd.read_parquet(run_dir / "results.parquet")
    assert results.groupby("feature_set").size().to_dict() == {"egemaps": 12, "ssl@L1": 12}
    assert len(json.loads((run_dir / "run.json").read_text())["corpora"]) == 4   # (corpus, set) pairs
    again = run_grid(str(spec), storage=str(folder / "runs"), say=lambda *a, **k: None)
    assert len(pd.read_parquet(again / "results.parquet")) == 24
    write_report(run_dir, quiet=True)
    assert "ssl@L1" in (run_dir / "report" / "index.html").read_text()
