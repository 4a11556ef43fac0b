"""The grid end to end on one shared local Ray instance: tables, resume, retries, notices."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from grid_helpers import tiny_spec, write_corpora, write_spec

from paragrid.errors import UserError
from paragrid.grid.run import FAULT_ENV, TrialsFailed, run_grid

FORMATS_RESULTS = [
    "spec_name", "spec_hash", "trial_id", "method", "sources", "target", "task", "budget", "repeat",
    "fold", "val_fold", "seed", "test_uar", "val_uar", "best_epoch", "epochs_run",
    "source_uar_before", "source_uar_after", "n_train", "n_val", "n_test", "classes", "confusion",
    "normalisation", "layers", "width", "activation", "dropout", "lr", "optimizer", "batch_size",
    "max_epochs", "patience", "wall_s", "node", "device"]
FORMATS_CURVES = ["trial_id", "method", "sources", "target", "budget", "repeat", "fold", "epoch",
                  "train_loss", "val_uar", "test_uar"]
SPEC = dict(targets=["ca"], sources=[["gender"], ["emotion@other"]])  # 5 trials, 2 source models
K = 4


@pytest.fixture()
def work(tmp_path):
    write_corpora(tmp_path)
    return tmp_path


def _files(run_dir, pattern):
    return {p.relative_to(run_dir).as_posix(): p.stat().st_mtime_ns for p in run_dir.glob(pattern)}


@pytest.mark.slow
def test_grid_failures_resume_tables_rerun_and_retry(local_ray, work, capsys, monkeypatch):
    """One grid, four runs (Ray worker start-ups are the expensive part of these tests):
    A. a source model fails for good (no retries allowed): one line; the trials that need it
       are reported as skipped (not left waiting); the rest of the grid finishes;
    B. the same command resumes: only that trial runs; a GPU request without GPUs is dropped
       with one notice; the tables hold every documented column and every (trial, fold) once;
    C. the same command again trains nothing and says so;
    D. a changed spec reuses the stored source models, and a trial that fails once is retried
       with nothing lost or doubled."""
    runs = work / "runs"
    monkeypatch.setenv(FAULT_ENV, "source.gender.*")  # its first attempt raises (marker file)
    spec = write_spec(work, tiny_spec(max_failures=0, **SPEC))
    with pytest.raises(TrialsFailed) as err:
        run_grid(str(spec), storage=str(runs))
    out = capsys.readouterr().out
    assert "1. source models: 2 to train" in out
    assert "2. transfer trials: 4 trial(s)" in out and "3. dnn baselines: 1 trial(s)" in out
    assert "estimate: ~" in out and "from this machine's CPU" in out
    assert "Ray's own output goes to " in out and "ray-console.log" in out
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "source model source.gender.ca.b2.r0." in failed[0]
    assert "FAILED: RuntimeError: injected fault" in failed[0] and "/error.txt]" in failed[0]
    skipped = sorted(line.split()[1] for line in out.splitlines() if " skipped: its source model" in line)
    assert skipped == ["prognet.gender.ca.b2.r0", "ptft.gender.ca.b2.r0"]  # not left waiting
    assert "Traceback" not in out
    msg = str(err.value)
    assert "2 of 5 trials did not finish (1 source model(s) failed)" in msg and "\n" not in msg
    partial = pd.read_parquet(runs / "tiny" / "results.parquet")
    assert len(partial) == 3 * K and not set(partial.sources) & {"gender"}

    # B. resources and max_failures do not change any number, so the finished trials stay valid
    spec = write_spec(work, tiny_spec(max_failures=1, resources={"cpu": 1, "gpu": 0.25}, **SPEC))
    run_dir = run_grid(str(spec), storage=str(runs))
    out = capsys.readouterr().out
    assert run_dir == runs / "tiny"
    assert "resuming: 3 of 5 trials already finished" in out
    assert "1. source models: 1 to train" in out and "dnn baselines: 0 trial(s)" in out
    assert out.count("but the Ray cluster has no GPU; running on CPU instead") == 1
    assert {p.name for p in run_dir.iterdir()} >= {"spec.yaml", "results.parquet", "curves.parquet"}

    res = pd.read_parquet(run_dir / "results.parquet")
    assert set(FORMATS_RESULTS) <= set(res.columns)
    assert len(res) == 5 * K and not res.duplicated(["trial_id", "fold"]).any()
    assert sorted(res.trial_id.unique()) == sorted([
        "dnn.none.ca.b2.r0", "ptft.gender.ca.b2.r0", "prognet.gender.ca.b2.r0",
        "ptft.emotion_at_cb.ca.b2.r0", "prognet.emotion_at_cb.ca.b2.r0"])
    assert res.spec_hash.nunique() == 1 and (res.spec_name == "tiny").all()
    assert set(res.sources) == {"none", "gender", "emotion@cb"}
    assert (res.val_fold == (res.fold + 1) % K).all() and (res.budget == K - 2).all()
    assert (res.n_train + res.n_val + res.n_test == 64).all()  # full budget: every utterance once
    assert ((res.test_uar >= 0) & (res.test_uar <= 1)).all() and (res.best_epoch <= res.epochs_run).all()
    for _, row in res.iterrows():
        cm = np.array(json.loads(row.confusion))
        assert cm.shape == (4, 4) and cm.sum() == row.n_test
    assert json.loads(res.classes[0]) == ["angry", "happy", "neutral", "sad"]
    assert (res.device == "cpu").all() and res.node.str.contains(":").all()
    assert res.patience.isna().all() and (res.normalisation == "train").all()

    # forgetting: null without a source; before/after with one; a frozen prognet column forgets nothing
    dnn, src = res[res.method == "dnn"], res[res.method != "dnn"]
    assert dnn.source_uar_before.isna().all() and dnn.source_uar_after.isna().all()
    assert src.source_uar_before.notna().all() and src.source_uar_after.notna().all()
    prog = res[res.method == "prognet"]
    assert np.allclose(prog.source_uar_before, prog.source_uar_after)
    # the same source model served ptft and prognet: identical "before" per fold
    for sources, grp in src.groupby("sources"):
        pivot = grp.pivot(index="fold", columns="method", values="source_uar_before")
        assert np.allclose(pivot["ptft"], pivot["prognet"]), sources

    cur = pd.read_parquet(run_dir / "curves.parquet")
    assert list(cur.columns) == FORMATS_CURVES
    assert sorted(cur.epoch.unique()) == [2, 4, 5]  # every curve_stride=2 epochs and the last
    assert len(cur) == 5 * K * 3 and not cur.duplicated(["trial_id", "fold", "epoch"]).any()

    unit_files = _files(run_dir, "units/*/*.parquet")
    model_files = _files(runs, "source-models/*/model.pt")
    markers = [json.loads(p.read_text()) for p in run_dir.glob("units/*/done.json")]
    assert len(unit_files) == 2 * len(markers) and len(model_files) == 2   # two tables per unit
    assert sorted(t for m in markers for t in m["trial_ids"]) == sorted(res.trial_id.unique())

    # C. nothing left to do
    run_grid(str(spec), storage=str(runs))
    out = capsys.readouterr().out
    assert "nothing to do: all 5 trials of 'tiny' are finished" in out and "no training was run" in out
    from paragrid.grid.store import under_trained  # the run's last lines name under-trained cells
    assert ("may be under-trained" in out.splitlines()[-1]) == bool(under_trained(res))
    assert _files(run_dir, "units/*/*.parquet") == unit_files
    assert _files(runs, "source-models/*/model.pt") == model_files
    assert pd.read_parquet(run_dir / "results.parquet").equals(res)

    # D. one more repeat: a new spec hash, so it runs in a folder of its own (tiny-<hash8>), named
    # up front; the first run's files stay untouched and reportable. The stored source models of
    # repeat 0 are reused; the two repeats of each cell train as one pack. D1 is interrupted (the
    # pack holding one trial fails, no retries); D2 resumes it in the same new folder.
    from paragrid.analysis.report import write_report  # heavy: plotly

    write_report(run_dir, quiet=True)
    old_files = {p.relative_to(run_dir).as_posix(): p.stat().st_mtime_ns
                 for p in run_dir.rglob("*") if p.is_file() and not p.name.startswith(".lock")}
    monkeypatch.setenv(FAULT_ENV, "prognet.gender.ca.b2.r1")
    spec2 = write_spec(work, tiny_spec(repeats=2, max_failures=0, resources={"cpu": 1, "gpu": 0, "pack": 2},
                                       **SPEC))
    with pytest.raises(TrialsFailed):
        run_grid(str(spec2), storage=str(runs))
    out = capsys.readouterr().out
    new_dirs = [p for p in runs.iterdir() if p.name.startswith("tiny-")]
    assert len(new_dirs) == 1 and len(new_dirs[0].name) == len("tiny-") + 8
    run_dir2 = new_dirs[0]
    note = out.index(f"runs in {run_dir2}")
    assert note < out.index("1. source models") and "--replace" in out[note:out.index("\n", note)]
    assert "1. source models: 2 to train (2 already stored)" in out
    assert "2. transfer trials: 8 trial(s) in 4 pack(s)" in out and "3. dnn baselines: 2 trial(s) in 1 pack(s)" in out
    assert _files(runs, "source-models/*/model.pt").items() >= model_files.items()
    assert "Traceback" not in out
    # the first run: every file as it was, its report still there and still written again
    assert {p.relative_to(run_dir).as_posix(): p.stat().st_mtime_ns for p in run_dir.rglob("*")
            if p.is_file() and not p.name.startswith(".lock")} == old_files
    assert pd.read_parquet(run_dir / "results.parquet").equals(res)
    write_report(run_dir, quiet=True)
    partial2 = pd.read_parquet(run_dir2 / "results.parquet")
    assert 0 < len(partial2) < 10 * K and partial2.spec_hash.nunique() == 1
    write_report(run_dir2, quiet=True)  # the interrupted run is reportable too
    assert (run_dir2 / "report" / "index.html").exists()

    run_grid(str(write_spec(work, tiny_spec(repeats=2, max_failures=1,
                                            resources={"cpu": 1, "gpu": 0, "pack": 2}, **SPEC))),
             storage=str(runs))
    out = capsys.readouterr().out
    assert f"runs in {run_dir2}" in out and "resuming: " in out
    assert "removed" in out and not (run_dir2 / "report").exists()  # no stale report beside new results
    assert (run_dir2 / "units/prognet.gender.ca.b2.r0+1/fault-injected").exists()
    res2 = pd.read_parquet(run_dir2 / "results.parquet")
    assert len(res2) == 10 * K and not res2.duplicated(["trial_id", "fold"]).any()
    assert res2.spec_hash.nunique() == 1 and res2.spec_hash[0] != res.spec_hash[0]
    assert res2.spec_hash[0].startswith(run_dir2.name[len("tiny-"):])
    packed = res2[res2.trial_id.str.startswith("prognet.gender")]
    assert set(packed.pack_size) == {2} and packed.pack_id.nunique() == 1
    assert pd.read_parquet(run_dir / "results.parquet").equals(res)


def test_user_errors_come_before_ray_starts(work, monkeypatch):
    def no_ray(*a, **k):
        raise AssertionError("Ray must not start for a bad spec")

    monkeypatch.setattr("paragrid.grid.run._runner.ray_session", no_ray)
    doc = tiny_spec()
    doc["corpora"]["cb"] = "missing.parquet"
    with pytest.raises(UserError, match="corpus 'cb': feature parquet not found"):
        run_grid(str(write_spec(work, doc)), storage=str(work / "runs"))
    doc = tiny_spec(task="valence")
    with pytest.raises(UserError, match="has no label column"):
        run_grid(str(write_spec(work, doc)), storage=str(work / "runs"))


def test_a_user_error_in_a_unit_fails_it_at_once_without_retries(local_ray, work, capsys, monkeypatch):
    """A deterministic error (UserError) raised inside a unit is not retried, whatever
    max_failures allows: its message is the failure line, and the rest of the grid runs."""
    from paragrid.grid.run import USER_FAULT_ENV

    monkeypatch.setenv(USER_FAULT_ENV, "ptft.*")  # read by the driver, raised inside the unit
    spec = write_spec(work, tiny_spec(max_failures=3, methods=["dnn", "ptft"], sources=[["gender"]]))
    with pytest.raises(TrialsFailed):
        run_grid(str(spec), storage=str(work / "runs"))
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "trial ptft.gender.ca.b2.r0 FAILED (not retried" in failed[0]
    assert "injected deterministic error" in failed[0] and "retrying" not in out
    res = pd.read_parquet(work / "runs" / "tiny" / "results.parquet")
    assert set(res.method) == {"dnn"}
