"""Grid specs: validation messages, built-in specs, trial expansion, source-model planning."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import yaml
from grid_helpers import tiny_spec, write_corpora, write_spec

from paragrid.errors import UserError
from paragrid.grid.data import load_corpora, steps_for
from paragrid.grid.plan import plan_sources
from paragrid.grid.spec import builtin_names, expand_trials, load_spec, validate


@pytest.fixture()
def corpora_dir(tmp_path):
    write_corpora(tmp_path)
    return tmp_path


def _load(tmp_path, **over):
    return load_spec(write_spec(tmp_path, tiny_spec(**over)))


def test_typo_key_names_the_key_the_suggestion_and_the_allowed_keys(corpora_dir):
    doc = tiny_spec()
    doc["mehtods"] = doc.pop("methods")
    path = write_spec(corpora_dir, doc)
    with pytest.raises(UserError) as err:
        load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"spec {path}: unknown key 'mehtods' (did you mean 'methods'?); allowed: ")
    assert "corpora" in msg and "\n" not in msg


@pytest.mark.parametrize("over, needle", [
    ({"architecture": {"layers": 2, "widht": 8}}, "unknown key 'architecture.widht' (did you mean 'width'?)"),
    ({"methods": ["dnn", "prognett"]}, "unknown value 'prognett' (did you mean 'prognet'?); allowed: dnn, ptft, prognet"),
    ({"normalisation": "global"}, "normalisation: unknown value 'global'; allowed: train, corpus"),
    ({"fold_scheme": "speaker-independant"}, "did you mean 'speaker-independent'?"),
    ({"budgets": [3]}, "budgets: 3 is not a fold budget; allowed: 'all' or 1..2"),
    ({"repeats": "ten"}, "repeats must be an integer >= 1, got 'ten'"),
    ({"k": 2}, "k (folds) must be an integer >= 3"),
    ({"targets": ["cc"]}, "targets: unknown value 'cc'"),
    ({"sources": [["gender@nowhere"]]}, "unknown value 'nowhere'"),
    ({"sources": [["emotion"]]}, "'emotion' is the target task on the target corpus itself; did you mean 'emotion@other'?"),
    ({"sources": []}, "methods ptft, prognet need a source set"),
    ({"training": {"optimizer": "adamm"}}, "did you mean 'adam'?"),
    ({"resources": {"cpu": 0}}, "resources.cpu must be a number > 0"),
])
def test_bad_values_are_one_line_user_errors(corpora_dir, over, needle):
    with pytest.raises(UserError) as err:
        _load(corpora_dir, **over)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_speaker_source_under_speaker_independent_folds_says_why(corpora_dir):
    with pytest.raises(UserError, match="speaker-ID model can never recognise its test speakers"):
        _load(corpora_dir, fold_scheme="speaker-independent", sources=[["speaker"]])
    # gender is fine there
    assert _load(corpora_dir, fold_scheme="speaker-independent", sources=[["gender"]]).fold_scheme \
        == "speaker-independent"


def test_missing_parquet_and_bad_yaml_and_unknown_spec(tmp_path):
    path = write_spec(tmp_path, tiny_spec())
    with pytest.raises(UserError, match=r"corpus 'ca': feature parquet not found at .*ca\.parquet"):
        load_spec(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncorpora: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML at line"):
        load_spec(bad)
    with pytest.raises(UserError, match="did you mean 'paper-table2'"):
        load_spec("paper-tabel2")


def test_corpus_paths_resolve_against_features_dir_then_spec_folder(tmp_path):
    feats = tmp_path / "feats"
    write_corpora(feats)
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = load_spec(write_spec(specs, tiny_spec()), features_dir=feats)
    assert spec.corpora["ca"] == str((feats / "ca.parquet").resolve())


def test_builtin_specs_expand_to_the_papers_grids(tmp_path):
    for name in ("iemocap", "msp-improv", "synth-a", "synth-b"):
        (tmp_path / f"{name}.parquet").write_bytes(b"")
    assert {"paper-table2", "paper-crosscorpus", "demo"} <= set(builtin_names())

    t2 = load_spec("paper-table2", features_dir=tmp_path)
    assert (t2.k, t2.repeats, t2.normalisation, t2.training.max_epochs, t2.training.patience) \
        == (10, 10, "corpus", 600, None)
    assert t2.architecture.to_dict() == {"layers": 4, "width": 256, "activation": "sigmoid", "dropout": 0.5,
                               "init": "glorot-uniform"}
    trials = expand_trials(t2).trials
    assert Counter(t.method for t in trials) == {"dnn": 20, "ptft": 40, "prognet": 40}
    assert {t.sources for t in trials if t.method == "dnn"} == {()}

    cc = load_spec("paper-crosscorpus", features_dir=tmp_path)
    trials = expand_trials(cc).trials
    assert len(trials) == 240
    assert {t.sources for t in trials if t.target == "iemocap" and t.method != "dnn"} == {("emotion@msp-improv",)}
    assert sorted({t.budget for t in trials}) == [1, 2, 4, 8]

    demo = load_spec("demo", features_dir=tmp_path)
    trials = expand_trials(demo).trials
    assert len(trials) == 64 and len({t.trial_id for t in trials}) == 64
    shared = [t for t in trials if t.method == "dnn" and t.budget == 8]
    assert all(set(t.experiments) == {"paralinguistic", "cross-corpus"} for t in shared)


def test_expansion_rules(corpora_dir):
    spec = _load(corpora_dir, targets=["ca", "cb"], repeats=2, budgets=["all", 1],
                 sources=[[], ["gender"], ["speaker", "gender"], ["emotion@ca"]])
    exp = expand_trials(spec)
    by = Counter((t.method, t.sources_label) for t in exp.trials)
    # dnn once per (target, budget, repeat), whatever the source sets
    assert by[("dnn", "none")] == 2 * 2 * 2
    assert by[("ptft", "gender")] == by[("prognet", "gender")] == 8
    assert ("ptft", "speaker+gender") not in by and by[("prognet", "speaker+gender")] == 8
    # emotion@ca is a transfer for target cb only; for target ca it is left out, with a note
    assert by[("ptft", "emotion@ca")] == 4 and {t.target for t in exp.trials if "emotion@ca" in t.sources} == {"cb"}
    assert any("left out for target ca" in n for n in exp.notes)
    assert any("ptft left out for speaker+gender" in n for n in exp.notes)
    ids = [t.trial_id for t in exp.trials]
    assert len(set(ids)) == len(ids)
    assert ids == [t.trial_id for t in expand_trials(spec).trials]  # deterministic


def test_resolved_spec_round_trips_with_the_same_hash_and_architecture_override(corpora_dir):
    spec = _load(corpora_dir, sources=[["emotion@other"]])
    fp = {"ca": "x", "cb": "y"}
    again = validate(yaml.safe_load(spec.to_yaml("h")), origin="again")
    assert again.resolved() == spec.resolved() and again.hash(fp) == spec.hash(fp)
    assert spec.hash({"ca": "x", "cb": "z"}) != spec.hash(fp)  # the data is part of the hash

    over = corpora_dir / "tuned.yaml"
    over.write_text("layers: 3\nwidth: 16\n")
    tuned = load_spec(write_spec(corpora_dir, tiny_spec()), architecture=over)
    # a hand-written fragment (no `tuned:` block) applies to every target, recorded per target
    assert (tuned.arch_for("ca").layers, tuned.arch_for("ca").width) == (3, 16)
    assert tuned.origin_for("ca") == ("spec", str(over.resolve()))
    assert tuned.hash(fp) != spec.hash(fp)
    over.write_text("architecture: {dropout: 0.1}\ntraining: {lr: 0.5}\n")
    tuned = load_spec(write_spec(corpora_dir, tiny_spec()), architecture=over)
    assert (tuned.arch_for("ca").dropout, tuned.training_for("ca").lr) == (0.1, 0.5)
    over.write_text("architecture: {depth: 3}\n")
    with pytest.raises(UserError, match="unknown key 'architecture.depth'"):
        load_spec(write_spec(corpora_dir, tiny_spec()), architecture=over)


def test_source_models_are_shared_and_trained_on_the_targets_training_folds(corpora_dir):
    spec = _load(corpora_dir, targets=["ca", "cb"], repeats=2, budgets=["all", 1],
                 sources=[["gender"], ["emotion@other"]])
    trials = expand_trials(spec).trials
    corpora = load_corpora(spec, {"gender", "emotion"})
    per_trial, jobs = plan_sources(trials, spec, corpora)
    # gender: per (corpus, repeat, budget); emotion@other: per (corpus, repeat), any budget
    assert Counter(j.task for j in jobs) == {"gender": 2 * 2 * 2, "emotion": 2 * 2}
    for t in trials:
        if t.method == "dnn":
            assert per_trial[t.trial_id] == []
            continue
        (job,) = per_trial[t.trial_id]
        twin = next(u for u in trials if u.trial_id != t.trial_id and u.sources == t.sources
                    and (u.target, u.budget, u.repeat) == (t.target, t.budget, t.repeat))
        assert per_trial[twin.trial_id] == [job]  # ptft and prognet share one source model
        if job.task == "gender":
            assert job.corpus == t.target and job.budget == t.budget and not job.cross
            mine = steps_for(corpora[t.target], spec, t.repeat, t.budget)
            theirs = steps_for(corpora[job.corpus], spec, job.repeat, job.budget)
            assert np.array_equal(mine.train, theirs.train) and not (theirs.train & theirs.test).any()
        else:
            assert job.corpus != t.target and job.cross and job.budget == spec.k - 2
    # the key is stable and changes with what determines the model
    _, again = plan_sources(trials, spec, corpora)
    assert [j.key for j in again] == [j.key for j in jobs]
    other = _load(corpora_dir, targets=["ca", "cb"], repeats=2, budgets=["all", 1],
                  sources=[["gender"], ["emotion@other"]], training={**spec.training.to_dict(), "lr": 0.02})
    _, changed = plan_sources(expand_trials(other).trials, other, corpora)
    assert not {j.key for j in changed} & {j.key for j in jobs}


def test_speaker_independent_folds_keep_test_speakers_out_of_training(corpora_dir):
    spec = _load(corpora_dir, fold_scheme="speaker-independent", sources=[["gender"]], k=4)
    corpora = load_corpora(spec, {"gender"})
    steps = steps_for(corpora["ca"], spec, 0, spec.k - 2)
    speakers = corpora["ca"].labels["speaker"]
    for f in range(spec.k):
        assert not set(speakers[steps.test[f]]) & set(speakers[steps.train[f]])
    stratified = _load(corpora_dir, sources=[["gender"]], k=4)
    steps = steps_for(corpora["ca"], stratified, 0, stratified.k - 2)
    assert set(speakers[steps.test[0]]) == set(speakers[steps.train[0]])  # every speaker everywhere
