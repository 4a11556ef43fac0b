"""`paragrid tune --nested`: the outer test fold never reaches a step's choice.

The key test poisons each outer step's test fold (labels redrawn at random, features replaced
by noise) and shows that the step's every inner score, every scheduler decision and its choice
are bit-identical to the clean corpus's, while the poison does reach the outer evaluation.
One Ray run holds the clean corpus (all k = 3 steps) and three poisoned copies (toy-p<i>: fold
i poisoned, only step i run), so the whole module needs one Tune run plus a resume.
The outer split is pinned to the clean corpus's (a stratified split is made from every label,
as in any stratified CV; what is tested is the choice given the split).
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
from tune_helpers import CLASSES, corpus_frame, write_corpus, write_spec

from paragrid.grid.data import fold_of, load_corpora, steps_for
from paragrid.grid.tune import TuningRun, load_tuning_spec, step_data, tune_nested, tune_root, tuning_settings

K = 3
TUNE = {"num_samples": 2, "grace_period": 2}
POISONED = [f"toy-p{i}" for i in range(K)]


def poison(df: pd.DataFrame, features: list[str], rows: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = df.copy()
    out.loc[rows, features] = rng.normal(0.0, 50.0, size=(int(rows.sum()), len(features)))
    out.loc[rows, "emotion"] = rng.choice(CLASSES, size=int(rows.sum()))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nested")
    df, features = corpus_frame()
    clean_path = write_corpus(folder / "toy.parquet", df, features)
    first, _ = load_tuning_spec(write_spec(folder / "one.yaml", clean_path, k=K))
    split = fold_of(load_corpora(first, set())["toy"], first, 0).copy()
    corpora = {"toy": str(clean_path)}
    for i, name in enumerate(POISONED):
        bad = poison(df, features, split == i, seed=10 + i)
        assert not np.allclose(bad[features], df[features])
        corpora[name] = str(write_corpus(folder / f"{name}.parquet", bad, features))
    spec_path = write_spec(folder / "toy.yaml", clean_path, tune=TUNE, k=K, corpora=corpora)
    parsed, raw = load_tuning_spec(spec_path)
    return SimpleNamespace(folder=folder, spec=parsed, settings=tuning_settings(parsed, raw, {}),
                           corpora=load_corpora(parsed, set()), split=split,
                           root=tune_root(parsed, str(folder / "runs")))


def _run(setup, lines: list, targets: list[str], steps=None):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("paragrid.grid.tune._nested.fold_of", lambda corpus, spec, repeat: setup.split)
        run = TuningRun(setup.spec, setup.settings, {"cpu": 1, "gpu": 0}, slots=2, spec_hash="0" * 16,
                        say=lines.append)
        return tune_nested(run, setup.corpora, targets, setup.root / "nested", steps=steps)


@pytest.fixture(scope="module")
def nested_run(setup, local_ray):
    lines: list[str] = []
    out = _run(setup, lines, ["toy", *POISONED], steps={p: [(0, i)] for i, p in enumerate(POISONED)})
    return SimpleNamespace(out=out, lines=lines, results=pd.read_parquet(out / "results.parquet"),
                           choices=pd.read_parquet(out / "choices.parquet"))


def _trials(out, corpus: str, step: str):
    study = optuna.load_study(study_name=f"toy/{corpus}/{step}", storage=f"sqlite:///{out / corpus / 'optuna.db'}")
    return [(t.number, t.state.name, t.params, t.value, t.intermediate_values,
             t.user_attrs.get("stopped_early"), t.user_attrs.get("baseline")) for t in study.trials], study


# ----------------------------------------------------------------------------- no leakage

@pytest.mark.parametrize("normalisation", ["train", "corpus"])
def test_step_data_ignores_its_test_fold_and_only_it(setup, normalisation):
    """Data level, both normalisation modes: step i's inner CV is bit-identical with fold i
    poisoned; step j != i's is not (the poison is real, and the check can fail)."""
    spec = SimpleNamespace(task="emotion", k=K, normalisation=normalisation)
    clean = setup.corpora["toy"]
    for i, name in enumerate(POISONED):
        bad = setup.corpora[name]
        a, b = step_data(clean, spec, setup.split, i), step_data(bad, spec, setup.split, i)
        for field in ("x", "y", "train", "val", "test"):
            assert np.array_equal(getattr(a.data, field), getattr(b.data, field)), (i, field)
        assert a.classes == b.classes
        j = (i + 1) % K
        assert not np.array_equal(step_data(clean, spec, setup.split, j).data.x,
                                  step_data(bad, spec, setup.split, j).data.x)


def test_poisoned_test_fold_changes_no_choice_and_no_inner_score(nested_run):
    """End to end through Ray Tune, Optuna and ASHA: every trial of step i (parameters, state,
    value, every per-epoch value, the scheduler's stop decision) and step i's choice are
    bit-identical on the corpus whose fold i is poisoned."""
    ch = nested_run.choices.set_index(["target", "test_fold"])
    for i, name in enumerate(POISONED):
        clean, study = _trials(nested_run.out, "toy", f"r0-f{i}")
        bad, _ = _trials(nested_run.out, name, f"r0-f{i}")
        assert len(clean) == TUNE["num_samples"] and clean[0][-1] is True   # the paper's architecture first
        assert bad == clean, f"step {i}"
        a, b = ch.loc[("toy", i)], ch.loc[(name, i)]
        choice = ["tune_trial", "inner_val_uar", "layers", "width", "activation", "dropout", "lr",
                  "batch_size", "optimizer", "trials", "complete", "stopped_early"]
        assert a[choice].tolist() == b[choice].tolist(), f"step {i}"
        assert a["tune_trial"] == study.best_trial.number and a["inner_val_uar"] == study.best_value
    # ... while the poison does reach the outer evaluation of every poisoned step.
    res = nested_run.results.set_index(["target", "fold"])
    for i, name in enumerate(POISONED):
        assert res.loc[(name, i), "confusion"] != res.loc[("toy", i), "confusion"]


# ----------------------------------------------------------------------------- outputs

def test_outer_rows_are_grid_rows_of_the_grid_steps(nested_run, setup):
    from paragrid.grid.store import RESULT_COLUMNS

    res = nested_run.results
    assert set(RESULT_COLUMNS) <= set(res.columns)
    assert len(res) == K + len(POISONED) and (res["architecture_origin"] == "tuned-nested").all()
    toy = res[res["target"] == "toy"].sort_values("fold")
    steps = steps_for(setup.corpora["toy"], setup.spec, 0, K - 2)  # the split is the same
    assert toy["fold"].tolist() == list(range(K)) and (toy["method"] == "dnn").all()
    assert toy["n_test"].tolist() == [int((setup.split == i).sum()) for i in range(K)]
    assert toy["val_fold"].tolist() == [int(v) for v in steps.val_fold]
    assert [json.loads(t) for t in toy["train_folds"]] == [list(t) for t in steps.train_folds]
    assert (toy["budget"] == K - 2).all() and (toy["max_epochs"] == 6).all()
    ch = nested_run.choices[nested_run.choices["target"] == "toy"].sort_values("test_fold")
    for col in ("layers", "width", "activation", "lr", "batch_size"):
        assert toy[col].tolist() == ch[col].tolist(), col
    assert ((0 <= toy["test_uar"]) & (toy["test_uar"] <= 1)).all()
    summary = json.loads((nested_run.out / "summary.json").read_text())["corpora"]["toy"]
    assert summary["steps"] == summary["steps_done"] == K and summary["trials"] == K * TUNE["num_samples"]
    assert summary["stopped_early"] == int(ch["stopped_early"].sum())


def test_cost_is_printed_before_anything_runs(nested_run):
    first = next(i for i, line in enumerate(nested_run.lines) if "trainings" in line)
    step = next(i for i, line in enumerate(nested_run.lines) if line.lstrip().startswith("step "))
    assert first < step
    # 6 steps x 2 trials + 6 outer trainings; epochs <= 12 x 6 + 6 x 6
    assert "18 trainings, <= 108 epochs" in nested_run.lines[first]
    assert any("progress: trials 18/18" in line for line in nested_run.lines)


def test_a_rerun_finds_the_finished_steps(nested_run, setup):
    before = {s: _trials(nested_run.out, "toy", s)[0] for s in ("r0-f0", "r0-f1", "r0-f2")}
    lines: list[str] = []
    _run(setup, lines, ["toy"])
    assert any("nothing to run" in line for line in lines)
    assert {s: _trials(nested_run.out, "toy", s)[0] for s in before} == before   # no new trial
    pd.testing.assert_frame_equal(pd.read_parquet(nested_run.out / "toy" / "results.parquet"),
                                  nested_run.results[nested_run.results["target"] == "toy"].reset_index(drop=True))
