"""The run's merged tables grow by one part per flush; nothing merged is reread or rewritten."""
from __future__ import annotations

import pandas as pd

from paragrid.grid.run import Merger
from paragrid.grid.store import RunDir, Storage


def _trial(run: RunDir, tid: str, spec_hash: str = "h1", folds: int = 2) -> None:
    res = pd.DataFrame({"trial_id": tid, "fold": range(folds), "spec_hash": spec_hash, "test_uar": 0.5})
    cur = pd.DataFrame({"trial_id": tid, "fold": range(folds), "epoch": 1, "val_uar": 0.4})
    run.write_unit(tid, res, cur, {"spec_hash": spec_hash, "trial_ids": [tid]})


def test_parts_grow_per_flush_and_results_are_written_once_in_grid_order(tmp_path, monkeypatch):
    run = RunDir(Storage(tmp_path), "g")
    order = [f"t{i}" for i in range(5)]
    m = Merger(run, "h1", order)
    for tid in ("t3", "t1"):
        _trial(run, tid)
    m.add({"t3": ("t3",), "t1": ("t1",)})
    m.flush(force=True)
    _trial(run, "t0")
    m.add({"t0": ("t0",)})
    m.flush(force=True)
    parts = sorted(p.name for p in (tmp_path / "g" / "parts").glob("results-*"))
    assert parts == ["results-000000.parquet", "results-000001.parquet"]
    first = (tmp_path / "g" / "parts" / parts[0]).stat().st_mtime_ns
    results = m.finish()
    assert list(results.trial_id.unique()) == ["t0", "t1", "t3"]  # grid order, not finishing order
    assert (tmp_path / "g" / "parts" / parts[0]).stat().st_mtime_ns == first  # never rewritten
    curves = pd.read_parquet(tmp_path / "g" / "curves.parquet")  # a partitioned folder reads as one table
    assert sorted(curves.trial_id.unique()) == ["t0", "t1", "t3"] and len(curves) == 6
    assert pd.read_parquet(tmp_path / "g" / "results.parquet").equals(results)


def test_a_resumed_merger_reads_no_trial_tables_and_a_finished_one_rewrites_nothing(tmp_path, monkeypatch):
    run = RunDir(Storage(tmp_path), "g")
    m = Merger(run, "h1", ["a", "b"])
    for tid in ("a", "b"):
        _trial(run, tid)
    m.add({"a": ("a",), "b": ("b",)})
    m.finish()
    stamp = (tmp_path / "g" / "results.parquet").stat().st_mtime_ns

    reads = []
    monkeypatch.setattr(RunDir, "read_unit", lambda self, uid: reads.append(uid) or (None, None))
    again = Merger(run, "h1", ["a", "b"])
    assert again.merged == {"a", "b"}
    again.collect({"a": ("a",), "b": ("b",)})
    again.finish()
    assert reads == [] and (tmp_path / "g" / "results.parquet").stat().st_mtime_ns == stamp


def test_parts_of_another_spec_are_cleared(tmp_path):
    run = RunDir(Storage(tmp_path), "g")
    m = Merger(run, "old", ["a"])
    _trial(run, "a", spec_hash="old")
    m.add({"a": ("a",)})
    m.finish()
    fresh = Merger(run, "new", ["a"])
    assert fresh.merged == set()
    assert not list((tmp_path / "g" / "parts").glob("results-*"))
    assert not (tmp_path / "g" / "results.parquet").exists()
    _trial(run, "a", spec_hash="new")
    fresh.add({"a": ("a",)})
    assert set(fresh.finish().spec_hash) == {"new"}


def test_an_interrupted_consolidation_is_redone(tmp_path):
    run = RunDir(Storage(tmp_path), "g")
    m = Merger(run, "h1", ["a", "b"])
    _trial(run, "a")
    m.add({"a": ("a",)})
    m.finish()
    _trial(run, "b")
    m.add({"b": ("b",)})
    m.flush(force=True)  # a part written, then the driver died before finish()
    again = Merger(run, "h1", ["a", "b"])
    assert sorted(again.finish().trial_id.unique()) == ["a", "b"]


def test_a_pack_unit_is_merged_once_with_all_its_trials_and_never_a_row_twice(tmp_path):
    run = RunDir(Storage(tmp_path), "g")
    ids = ["t0", "t1", "t2"]
    res = pd.DataFrame({"trial_id": [t for t in ids for _ in range(2)], "fold": [0, 1] * 3, "spec_hash": "h1"})
    cur = pd.DataFrame({"trial_id": [t for t in ids for _ in range(2)], "fold": [0, 1] * 3, "epoch": 1})
    run.write_unit("t0+2", res, cur, {"spec_hash": "h1", "trial_ids": ids})
    _trial(run, "t1")                                   # t1 also in a unit of its own (an older packing)
    m = Merger(run, "h1", ids)
    m.collect({"t1": ("t1",)})
    m.collect(run.finished_units("h1"))
    m.collect(run.finished_units("h1"))                 # asked again: nothing queued twice
    results = m.finish()
    assert results.trial_id.tolist() == ["t0", "t0", "t1", "t1", "t2", "t2"]
    assert m.done == set(ids)
    assert len(pd.read_parquet(tmp_path / "g" / "curves.parquet")) == 6
