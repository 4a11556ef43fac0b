"""Tuning's early stopping respects slow starters (issue: ASHA's grace period was 20 epochs).

A synthetic slow starter -- at chance for its first 100 epochs, poor at 50, then the best of
all from epoch ~150 on (0.9 at 300) -- runs through the real search: `tune_corpus`, the
searcher, Ray Tune and the scheduler `paragrid tune` builds (the default grace period, the
slow-start horizon max(150, max_epochs // 4) = 150 for 600 epochs). Only the learning curves
are synthetic (TrialContext.trainer): the search must keep the slow starter and choose it.
The same run with the old 20-epoch grace period discards it, so the test can fail.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from tune_helpers import corpus_frame, write_corpus, write_spec

from paragrid.grid.data import load_corpora
from paragrid.grid.tune import TuningRun, load_tuning_spec, tune_corpus, tuning_settings

SLOW = 2        # trial number of the slow starter (trials run one at a time, in order)
MAX_EPOCHS = 600


def fast_curve(epoch: int) -> float:
    return 0.25 + 0.35 * min(1.0, epoch / 50)           # 0.6 from epoch 50 on


def slow_curve(epoch: int) -> float:
    if epoch <= 100:
        return 0.25                                        # chance level
    return 0.25 + 0.65 * min(1.0, (epoch - 100) / 200) ** 0.3   # 0.68 at 150, 0.9 from 300


def test_the_curves_are_what_the_test_says():
    assert slow_curve(50) == 0.25 < fast_curve(50) == pytest.approx(0.6)
    assert slow_curve(150) > 0.6 and slow_curve(300) == pytest.approx(0.9) and slow_curve(600) == pytest.approx(0.9)


@pytest.fixture(scope="module")
def local_ray():
    import sys

    import ray
    from ray import cloudpickle

    # The curve trainer runs on Ray workers, which cannot import this test module: ship the
    # module's functions by value (cloudpickle's documented switch).
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _search(tmp_path, tune_block: dict) -> SimpleNamespace:
    def curve_trainer(job, ctx, report):
        # Runs on a Ray worker (pickled by value): a trial whose learning curve we control,
        # reported exactly as a real trial reports (tune_trial.Reporter).
        from paragrid.grid.tune import Reporter

        curve = slow_curve if job.number == SLOW else fast_curve
        reporter, best = Reporter(report, ctx.report_every), 0.0
        for epoch in range(1, job.max_epochs + 1):
            best = max(best, curve(epoch))
            reporter.epoch(epoch, best)
        return reporter.finish({"val_uar": best, "epoch": job.max_epochs, "finished": True,
                                "val_uar_folds": [best], "device": "cpu"})

    df, features = corpus_frame()
    corpus = write_corpus(tmp_path / "toy.parquet", df, features)
    spec_path = write_spec(tmp_path / "toy.yaml", corpus, tune=tune_block,
                           training={"max_epochs": MAX_EPOCHS, "batch_size": 32})
    parsed, raw = load_tuning_spec(spec_path)
    settings = tuning_settings(parsed, raw, {})
    lines: list[str] = []
    out = tmp_path / "tune" / "toy"
    run = TuningRun(parsed, settings, {"cpu": 1, "gpu": 0}, say=lines.append, trainer=curve_trainer)
    summary = tune_corpus(run, load_corpora(parsed, set())["toy"], out)
    return SimpleNamespace(summary=summary, lines=lines, trials=pd.read_csv(out / "trials.csv"),
                           best=yaml.safe_load((out / "best.yaml").read_text()),
                           saved=json.loads((out / "summary.json").read_text()))


def test_default_grace_keeps_the_slow_starter(tmp_path, local_ray):
    run = _search(tmp_path, {"num_samples": 4, "max_concurrent": 1})
    assert run.summary.scheduler.startswith("asha early stopping, grace 150 epochs (the slow-start horizon)")
    t = run.trials.set_index("number")
    assert t.loc[SLOW, "state"] == "COMPLETE" and t.loc[SLOW, "value"] == pytest.approx(0.9)
    assert run.summary.best_number == SLOW and run.best["tuned"]["best_trial"] == SLOW
    # Trial 3 (a fast starter) is stopped at the 150-epoch rung, below the slow starter: the
    # scheduler still works, and the count is reported next to the best trial.
    assert t.loc[3, "state"] == "PRUNED" and bool(t.loc[3, "stopped_early"])
    assert run.summary.stopped_early == 1 == run.saved["stopped_early"] == run.best["tuned"]["stopped_early"]
    final = run.lines[-1]
    assert f"best val UAR 0.9000 (trial {SLOW})" in final and "1 stopped early by the scheduler" in final


def test_the_old_20_epoch_grace_discards_the_slow_starter(tmp_path, local_ray):
    run = _search(tmp_path, {"num_samples": 4, "max_concurrent": 1, "grace_period": 20})
    t = run.trials.set_index("number")
    assert t.loc[SLOW, "state"] == "PRUNED" and bool(t.loc[SLOW, "stopped_early"])
    assert t.loc[SLOW, "epochs"] < 50 and run.summary.best_number != SLOW
    assert any("below the slow-start horizon" in line for line in run.lines)
