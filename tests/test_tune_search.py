"""`paragrid tune`: the tune block, nested (leak-free) tuning data, the search, resume, best.yaml.

One local Ray instance (2 CPUs) serves the module; the corpus is 128 utterances x 6 features,
k = 4, 6 epochs, a handful of trials run one at a time (so TPE's suggestions, and with them
every value, are reproducible).
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from tune_helpers import corpus_frame, write_corpus, write_spec

from paragrid.cli import main
from paragrid.errors import UserError
from paragrid.grid.data import fold_of, load_corpora
from paragrid.grid.spec import SPACE_KEYS, load_spec, parse_tune_block
from paragrid.grid.tune import HELD_OUT_FOLD, load_tuning_spec, run_tuning, tuning_data

PAPER = {"layers": 4, "width": 256, "activation": "sigmoid", "dropout": 0.5, "lr": 5e-4,
         "batch_size": 32, "optimizer": "adam"}  # batch size: the spec's
TUNE = {"num_samples": 3, "grace_period": 2, "max_concurrent": 1}
PARAMS = [f"params_{k}" for k in SPACE_KEYS]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune-corpus")
    df, features = corpus_frame()
    return SimpleNamespace(folder=folder, df=df, features=features,
                           path=write_corpus(folder / "toy.parquet", df, features))


@pytest.fixture(scope="module")
def first_run(corpus, local_ray, tmp_path_factory):
    """The study after its first call: 3 trials, the paper's architecture first."""
    folder = tmp_path_factory.mktemp("tune-run")
    spec = write_spec(folder / "toy.yaml", corpus.path, tune=TUNE)
    root = run_tuning(str(spec), storage=str(folder / "runs"))
    return SimpleNamespace(spec=spec, root=root, storage=folder / "runs", corpus=corpus.path,
                           trials=pd.read_csv(root / "toy" / "trials.csv"))


# ----------------------------------------------------------------------------- the tune block

@pytest.mark.parametrize("block, named", [
    ({"num_sample": 3}, "tune.num_sample"),
    ({"space": {"depth": [1, 3]}}, "tune.space.depth"),
    ({"space": {"activation": ["relu", "sigmiod"]}}, "tune.space.activation"),
    ({"space": {"lr": [0.01, 0.001]}}, "tune.space.lr"),
    ({"scheduler": "hyperband"}, "tune.scheduler"),
])
def test_bad_tune_key_is_one_line_user_error(tmp_path, capsys, corpus, block, named):
    spec = write_spec(tmp_path / "bad.yaml", corpus.path, tune=block)
    code = main(["tune", str(spec), "--storage", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err
    assert named in err and str(spec) in err
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_defaults_and_spec_values():
    absent = parse_tune_block(None, "spec x", optimizer="sgd")
    assert absent.num_samples == 30 and absent.scheduler == "asha" and absent.repeats == 1
    # The grace period defaults to the slow-start horizon max(150, max_epochs // 4), capped.
    assert absent.grace_period is None
    assert [absent.grace_epochs(m) for m in (600, 1000, 601, 100)] == [150, 250, 150, 100]
    assert parse_tune_block({"grace_period": 30}, "spec x").grace_epochs(600) == 30
    searched = absent.searched
    assert (searched["layers"].kind, searched["layers"].low, searched["layers"].high) == ("int", 1, 6)
    assert searched["width"].log and not searched["layers"].log and searched["lr"].log
    assert searched["batch_size"].choices == (32, 64, 128, 256, 512)
    assert absent.fixed == {"optimizer": "sgd"}  # not searched unless asked for: the spec's
    mine = parse_tune_block({"space": {"layers": 2, "optimizer": ["adam", "sgd"],
                                       "dropout": {"low": 0.1, "high": 0.3, "log": True}}}, "spec x")
    assert mine.fixed == {"layers": 2}
    assert mine.searched["optimizer"].choices == ("adam", "sgd")
    assert mine.searched["dropout"].log and mine.searched["dropout"].low == 0.1
    with pytest.raises(UserError, match="tune.space.dropout"):
        parse_tune_block({"space": {"dropout": [0.2, 1.5]}}, "spec x")


def test_spec_without_tune_block_still_loads_for_the_grid(tmp_path, corpus):
    spec = write_spec(tmp_path / "plain.yaml", corpus.path)
    parsed, raw = load_tuning_spec(spec)
    assert raw is None and parsed == load_spec(spec)


# ----------------------------------------------------------------------------- no leakage

def test_held_out_fold_is_never_read(tmp_path, corpus, monkeypatch):
    """Poison the held-out fold: NaN features (z-scoring them raises) and an unknown label
    (encoding it raises). Tuning data must build, and be identical to the clean corpus's."""
    spec, _ = load_tuning_spec(write_spec(tmp_path / "s.yaml", corpus.path))
    clean = load_corpora(spec, set())["toy"]
    split = fold_of(clean, spec, 0).copy()
    # The split itself is made from speakers and labels; keep it fixed so that the poison
    # lands exactly on the fold the tuning holds out.
    monkeypatch.setattr("paragrid.grid.tune._data.fold_of", lambda corpus, spec, repeat: split)
    held = split == HELD_OUT_FOLD
    poisoned = replace(clean, x=np.where(held[:, None], np.nan, clean.x),
                       labels={**clean.labels, "emotion": np.where(held, "poison", clean.labels["emotion"])})

    a, b = tuning_data(clean, spec, 1), tuning_data(poisoned, spec, 1)
    for name in ("x", "y", "train", "val", "test"):
        assert np.array_equal(getattr(a.data, name), getattr(b.data, name)), name
    assert a.classes == b.classes == sorted(set(clean.labels["emotion"]))
    n = clean.n
    seen = a.data.train[:, :n] | a.data.val[:, :n] | a.data.test[:, :n]
    assert not seen[:, held].any()                       # held-out rows are in no mask
    assert (a.data.x[:, :n][:, held] == 0).all()          # and carry no corpus values
    assert seen[:, ~held].all(axis=0).all()               # every other row is used somewhere
    assert a.data.test[:, :n].sum() == 0 and a.data.test[:, n].all()  # only the synthetic row tests
    # k-1 inner steps: each kept fold validates exactly once, the other k-2 train.
    assert a.data.n_folds == spec.k - 1
    assert (a.data.val[:, :n].sum(axis=0)[~held] == 1).all()
    assert not (a.data.train & a.data.val).any()


def test_search_values_ignore_the_held_out_fold(first_run, corpus, tmp_path):
    """End to end through Ray and Optuna: scramble the held-out fold's features -> every trial
    of the search gets bit-identical values (and so TPE suggests identical parameters)."""
    spec, _ = load_tuning_spec(first_run.spec)
    held = fold_of(load_corpora(spec, set())["toy"], spec, 0) == HELD_OUT_FOLD
    df = corpus.df.copy()
    rng = np.random.default_rng(7)
    df.loc[held, corpus.features] = rng.normal(50.0, 30.0, size=(int(held.sum()), len(corpus.features)))
    assert not np.allclose(df[corpus.features], corpus.df[corpus.features])
    scrambled = write_corpus(tmp_path / "toy.parquet", df, corpus.features)
    spec2 = write_spec(tmp_path / "toy.yaml", scrambled, tune=TUNE)
    root = run_tuning(str(spec2), storage=str(tmp_path / "runs"))
    again = pd.read_csv(root / "toy" / "trials.csv")
    before = first_run.trials
    assert len(again) == len(before) == 3
    for col in ("value", "last_val_uar"):
        assert np.array_equal(again[col].to_numpy(), before[col].to_numpy(), equal_nan=True), col
    pd.testing.assert_frame_equal(again[PARAMS + ["state"]], before[PARAMS + ["state"]])


# ----------------------------------------------------------------------------- search, resume, best.yaml

def test_paper_architecture_is_trial_zero(first_run):
    t = first_run.trials
    assert list(t["number"]) == [0, 1, 2]
    assert set(t["state"]) <= {"COMPLETE", "PRUNED"}
    assert {k: t.loc[0, f"params_{k}"] for k in PAPER} == PAPER
    assert t["baseline"].tolist() == [True, False, False]
    assert t.loc[0, "state"] == "COMPLETE" and 0.0 <= t.loc[0, "value"] <= 1.0
    merged = pd.read_csv(first_run.root / "trials.csv")
    assert set(merged["corpus"]) == {"toy"} and len(merged) == 3


def test_best_yaml_round_trips_into_the_grid_spec(first_run):
    best_path = first_run.root / "toy" / "best.yaml"
    text = best_path.read_text()
    best = yaml.safe_load(text)
    assert set(best) == {"architecture", "training", "tuned"}
    t = first_run.trials
    top = t[t["state"] == "COMPLETE"].sort_values("value", ascending=False).iloc[0]
    for block in ("architecture", "training"):
        for key, value in best[block].items():
            assert value == top[f"params_{key}"] or np.isclose(value, top[f"params_{key}"]), key
    assert f"best validation UAR {top['value']:.4f}" in text
    assert f"scored {t.loc[0, 'value']:.4f}" in text  # the paper architecture's value, for comparison

    # The provenance the grid reads (grid/spec/_overrides.py): how and on which corpus it was tuned.
    tuned = best["tuned"]
    assert tuned["mode"] == "same-corpus" and tuned["corpus"] == "toy" and tuned["spec"] == "toy"
    assert tuned["budget"] == {"num_samples": 3, "epochs": 6, "repeats": 1} and tuned["held_out_fold"] == 0
    assert len(tuned["spec_hash"]) == 16 and tuned["best_trial"] == int(top["number"])
    assert tuned["trials"] == 3 and tuned["complete"] + tuned["stopped_early"] <= 3

    # The same spec without its tune block, as the grid reads it.
    plain = write_spec(first_run.spec.with_name("plain.yaml"), first_run.corpus)
    spec = load_spec(plain, architecture=best_path)
    arch = spec.arch_for("toy").to_dict()
    assert {k: arch[k] for k in best["architecture"]} == best["architecture"]
    training = spec.training_for("toy").to_dict()
    assert {k: training[k] for k in best["training"]} == best["training"]
    assert training["max_epochs"] == 6  # the rest of the spec's training is kept
    assert spec.origin_for("toy") == ("tuned-same-corpus", str(best_path.resolve()))


def test_grid_runs_a_spec_that_has_a_tune_block(first_run):
    best_path = first_run.root / "toy" / "best.yaml"
    spec = load_spec(first_run.spec, architecture=best_path)
    arch = spec.arch_for("toy").to_dict()
    tuned = yaml.safe_load(best_path.read_text())["architecture"]
    assert {k: arch[k] for k in tuned} == tuned
    # Tuning settings decide no grid number: the spec hash must not change with them.
    plain = load_spec(write_spec(first_run.spec.with_name("plain2.yaml"), first_run.corpus),
                      architecture=best_path)
    assert spec.hash({"toy": "x"}) == plain.hash({"toy": "x"})


def test_resume_tops_up_the_same_study(first_run, capsys):
    before = first_run.trials
    run_tuning(str(first_run.spec), storage=str(first_run.storage), num_samples=5)
    after = pd.read_csv(first_run.root / "toy" / "trials.csv")
    assert list(after["number"]) == [0, 1, 2, 3, 4]
    # The first three are the stored trials, untouched (same values, params and durations).
    keep = ["number", "value", "state", *PARAMS, "duration_s"]
    pd.testing.assert_frame_equal(after.loc[:2, keep], before[keep])
    assert after["baseline"].sum() == 1  # the paper point is not enqueued again
    new = after.loc[3:, PARAMS].astype(str).agg("|".join, axis=1)
    old = before[PARAMS].astype(str).agg("|".join, axis=1)
    assert not set(new) & set(old)  # no finished configuration was replayed

    capsys.readouterr()
    run_tuning(str(first_run.spec), storage=str(first_run.storage), num_samples=5)
    assert "nothing to run" in capsys.readouterr().out
    assert len(pd.read_csv(first_run.root / "toy" / "trials.csv")) == 5


# ----------------------------------------------------------------------------- per-epoch reports

def test_reports_running_best_per_epoch_and_marks_the_last(monkeypatch):
    """The scheduler sees, after each epoch, the mean over folds of each fold's best validation
    UAR so far; the last report (and only it) says finished, with the trained objective."""
    import paragrid.models.train as mt
    from paragrid.grid.tune import evaluate_config

    per_epoch = np.array([[0.2, 0.5], [0.4, 0.3], [0.3, 0.6]])  # (epoch, fold)

    def fake_train_folds(data, arch, settings, method="dnn", sources=(), *, pack=None, run=None):
        for epoch, uar in enumerate(per_epoch, start=1):
            assert run.epoch_callback(epoch, uar.copy()) is False
        return SimpleNamespace(val_uar=per_epoch.max(axis=0), epochs_run=np.array([3, 3]),
                               best_epoch=np.array([2, 3]), device="cpu")

    monkeypatch.setattr(mt, "train_folds", fake_train_folds)
    reports: list[dict] = []
    result = evaluate_config(SimpleNamespace(n_folds=2), None, None, seed=0, report=reports.append)
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    assert [r["finished"] for r in reports] == [False, False, True]
    expected = [np.mean([0.2, 0.5]), np.mean([0.4, 0.5]), np.mean([0.4, 0.6])]
    assert np.allclose([r["val_uar"] for r in reports], expected)
    assert result is reports[-1] and result["val_uar_folds"] == [0.4, 0.6]


def _job(stream="toy", baseline=False, kind="search"):
    from paragrid.grid.tune import Job

    return Job(kind, stream=stream, corpus="toy", baseline=baseline, max_epochs=8)


def test_scheduler_never_stops_the_paper_architecture():
    """ASHA stops a trial that is worse than its peers at the grace epoch -- except the
    reference trial (the paper's architecture), which must run to the end to be compared with."""
    from paragrid.grid.tune import build_scheduler

    settings = parse_tune_block({"grace_period": 2, "reduction_factor": 2}, "spec x")
    sched = build_scheduler(settings, max_epochs=8)
    sched.set_search_properties("val_uar", "max")
    good, paper, other = (SimpleNamespace(trial_id=f"t{i}", config={"job": _job(baseline=b)})
                          for i, b in enumerate((False, True, False)))
    for trial in (good, paper, other):
        sched.on_trial_add(None, trial)
    assert sched.on_trial_result(None, good, {"epoch": 2, "val_uar": 0.8}) == sched.CONTINUE
    assert sched.on_trial_result(None, other, {"epoch": 2, "val_uar": 0.25}) == sched.STOP
    assert sched.on_trial_result(None, paper, {"epoch": 2, "val_uar": 0.25}) == sched.CONTINUE
    assert sched.stopped == {"t2"}  # what the outputs count as "stopped early"


def test_scheduler_ranks_each_stream_on_its_own():
    """Nested tuning: a step's trials are compared with that step's trials only (another step's
    inner folds hold this step's test fold, so a shared ranking would leak it)."""
    from paragrid.grid.tune import build_scheduler

    sched = build_scheduler(parse_tune_block({"grace_period": 2, "reduction_factor": 2}, "spec x"), 8)
    sched.set_search_properties("val_uar", "max")
    a1, a2, b1 = (SimpleNamespace(trial_id=t, config={"job": _job(stream=st)})
                  for t, st in (("a1", "toy/r0-f0"), ("a2", "toy/r0-f0"), ("b1", "toy/r0-f1")))
    for trial in (a1, a2, b1):
        sched.on_trial_add(None, trial)
    assert sched.on_trial_result(None, a1, {"epoch": 2, "val_uar": 0.9}) == sched.CONTINUE
    # b1 is far below a1, but first in its own stream: nothing to be compared with yet.
    assert sched.on_trial_result(None, b1, {"epoch": 2, "val_uar": 0.3}) == sched.CONTINUE
    assert sched.on_trial_result(None, a2, {"epoch": 2, "val_uar": 0.3}) == sched.STOP
    outer = SimpleNamespace(trial_id="o", config={"job": _job(kind="outer")})
    sched.on_trial_add(None, outer)
    assert sched.on_trial_result(None, outer, {"epoch": 8, "val_uar": 0.0}) == sched.CONTINUE


def test_searcher_records_stopped_trials_as_pruned_with_their_last_value():
    """A trial the scheduler stopped is PRUNED (never best.yaml) and keeps the value that got
    it stopped; a trial that trained to the end is COMPLETE with its objective."""
    import optuna

    from paragrid.grid.spec import optuna_distributions
    from paragrid.grid.tune import Stream, study_searcher

    settings = parse_tune_block({"space": {"layers": [1, 3]}}, "spec x")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    stream = Stream(study=study, distributions=optuna_distributions(settings), target=2,
                    job=_job(), fixed={"optimizer": "sgd"})
    seen: list[tuple] = []
    searcher = study_searcher([stream], on_search=lambda s, fr, res, err: seen.append((fr, err)),
                             on_outer=lambda *a: None, stopped={"a"})
    configs = [searcher.suggest(tid) for tid in ("a", "b")]
    assert searcher.suggest("c") is None          # target reached while two are live: wait
    for tid, config in zip(("a", "b"), configs):
        assert config["job"].params["layers"] in (1, 2, 3) and config["job"].params["optimizer"] == "sgd"
        searcher.on_trial_result(tid, {"val_uar": 0.3, "epoch": 1})
    searcher.on_trial_complete("a", {"val_uar": 0.35, "epoch": 2, "finished": False})
    searcher.on_trial_complete("b", {"val_uar": 0.6, "epoch": 2, "finished": True,
                                     "val_uar_folds": [0.5, 0.7], "device": "cpu"})
    assert searcher.suggest("d") == "FINISHED"
    a, b = study.trials
    assert a.state.name == "PRUNED" and a.intermediate_values == {1: 0.3, 2: 0.35} and a.user_attrs["stopped_early"]
    assert b.state.name == "COMPLETE" and b.value == 0.6 and b.user_attrs["val_uar_folds"] == [0.5, 0.7]
    assert [fr.number for fr, _ in seen] == [0, 1]


def test_searcher_counts_failures_against_the_budget():
    """A trial that raises is FAIL and counts against this call's budget (a deterministic error
    must not be retried forever); the study then holds one finished trial fewer."""
    import optuna

    from paragrid.grid.spec import optuna_distributions
    from paragrid.grid.tune import Stream, n_finished, study_searcher

    settings = parse_tune_block({"space": {"layers": [1, 3]}}, "spec x")
    study = optuna.create_study(direction="maximize")
    stream = Stream(study=study, distributions=optuna_distributions(settings), target=1, job=_job(), fixed={})
    searcher = study_searcher([stream], on_search=lambda *a: None, on_outer=lambda *a: None)
    searcher.suggest("a")
    searcher.on_trial_complete("a", None, error=True)
    assert searcher.suggest("b") == "FINISHED"
    assert study.trials[0].state.name == "FAIL" and n_finished(study) == 0


def test_a_study_made_with_other_settings_is_refused(tmp_path):
    """Resuming must never mix values of two objectives (e.g. 200 vs 600 epochs) in one study."""
    from paragrid.grid.tune import open_study

    key = {"max_epochs": 6, "k": 4}
    open_study(tmp_path / "optuna.db", "s", key, "tune toy")
    open_study(tmp_path / "optuna.db", "s", dict(key), "tune toy")  # same settings: resumes
    with pytest.raises(UserError, match=r"tune toy: .*\(max_epochs changed\)"):
        open_study(tmp_path / "optuna.db", "s", {**key, "max_epochs": 7}, "tune toy")


def test_a_stale_running_trial_is_failed_on_reopen(tmp_path):
    """A trial left RUNNING by an interrupted call is marked FAIL (public Study.tell), so the
    resumed study neither counts it as finished nor waits for it."""
    from paragrid.grid.tune import n_finished, open_study

    study = open_study(tmp_path / "optuna.db", "s", {"k": 4}, "tune toy")
    study.ask()
    again = open_study(tmp_path / "optuna.db", "s", {"k": 4}, "tune toy")
    assert [t.state.name for t in again.trials] == ["FAIL"] and n_finished(again) == 0
