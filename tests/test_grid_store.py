"""Run storage: atomic files on local paths and URIs, the run lock, merging trial files."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from paragrid.errors import UserError
from paragrid.grid.store import STALE_AFTER_S, RunDir, RunLock, Storage


@pytest.mark.parametrize("as_uri", [False, True])
def test_atomic_writes_leave_no_temporary_files(tmp_path, as_uri):
    st = Storage(f"file://{tmp_path}" if as_uri else str(tmp_path))
    st.write_json({"a": 1}, "x", "y", "f.json")
    st.write_parquet(pd.DataFrame({"v": [1, 2]}), "x", "t.parquet")
    assert st.read_json("x", "y", "f.json") == {"a": 1}
    assert st.read_parquet("x", "t.parquet")["v"].tolist() == [1, 2]
    assert sorted(os.listdir(tmp_path / "x")) == ["t.parquet", "y"]
    assert st.exists("x", "t.parquet") and not st.exists("x", "nope")


def test_a_failed_write_keeps_the_old_file(tmp_path):
    st = Storage(tmp_path)
    st.write_text("old", "f.txt")

    class FailingMove:  # the filesystem dies between writing the temporary file and the rename
        def __init__(self, fs):
            self.fs = fs

        def __getattr__(self, name):
            return getattr(self.fs, name)

        def move(self, src, dst):
            raise OSError("disk on fire")

    st.fs = FailingMove(st.fs)
    with pytest.raises(OSError, match="disk on fire"):
        st.write_text("new", "f.txt")
    assert st.read_text("f.txt") == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_a_live_lock_refuses_a_second_run_and_names_the_holder(tmp_path):
    run = RunDir(Storage(tmp_path), "grid")
    first = RunLock(run)
    first.acquire()
    try:
        with pytest.raises(UserError, match=rf"being written by another run \(host {socket.gethostname()}, pid {os.getpid()}\)"):
            RunLock(run).acquire()
    finally:
        first.release()
    assert not (tmp_path / "grid" / ".lock").exists()
    with RunLock(run):  # free again
        assert (tmp_path / "grid" / ".lock").exists()


def test_stale_locks_are_taken_over_with_a_notice(tmp_path):
    run = RunDir(Storage(tmp_path), "grid")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "grid" / ".lock"
    lock.parent.mkdir()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "heartbeat": time.time()}))
    said = []
    with RunLock(run, say=said.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert said and "stale lock" in said[0] and f"pid {dead.pid}" in said[0]

    # another host: stale only once its heartbeat is old
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "heartbeat": time.time()}))
    with pytest.raises(UserError, match="host elsewhere"):
        RunLock(run).acquire()
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "heartbeat": time.time() - STALE_AFTER_S - 5}))
    with RunLock(run, say=said.append):
        pass
    assert "no heartbeat from host elsewhere" in said[-1]


def test_finished_units_are_those_of_this_spec_with_their_marker_written(tmp_path):
    run = RunDir(Storage(tmp_path), "grid")

    def rows(ids, n=3):
        return pd.DataFrame({"trial_id": [t for t in ids for _ in range(n)], "fold": list(range(n)) * len(ids)})

    run.write_unit("a+1", rows(["a", "a2"]), rows(["a", "a2"]), {"spec_hash": "h1", "trial_ids": ["a", "a2"]})
    run.write_unit("b", rows(["b"]), rows(["b"]), {"spec_hash": "old", "trial_ids": ["b"]})
    run.storage.write_parquet(rows(["c"]), *run.unit("c", "results.parquet"))  # no done.json yet
    run.storage.write_text("boom", *run.unit("source.x", "error.txt"))         # a failed unit's folder
    assert run.finished_units("h1") == {"a+1": ("a", "a2")}
    results, curves = run.read_unit("a+1")
    assert results["trial_id"].tolist() == ["a"] * 3 + ["a2"] * 3 and len(curves) == 6
    # rewriting a unit removes its old marker first: never a marker beside half-written tables
    run.write_unit("b", rows(["b"]), rows(["b"]), {"spec_hash": "h1", "trial_ids": ["b"]})
    assert run.finished_units("h1") == {"a+1": ("a", "a2"), "b": ("b",)}
    assert RunDir(Storage(tmp_path), "empty").finished_units("h1") == {}

def test_a_run_folder_belongs_to_one_spec_hash(tmp_path):
    from paragrid.grid.store import folder_hash, remove_report, run_dir_for

    st = Storage(tmp_path)
    run, note = run_dir_for(st, "grid", "a" * 16)
    assert run.name == "grid" and note is None               # a new folder
    st.write_json({"spec_hash": "a" * 16}, "grid", "run.json")
    st.write_text("<html>", "grid", "report", "index.html")
    assert run_dir_for(st, "grid", "a" * 16) == (run, None)  # the same spec resumes in it
    other, note = run_dir_for(st, "grid", "b" * 16)
    assert other.name == "grid-bbbbbbbb" and f"runs in {other.uri}" in note and "--replace" in note
    assert "\n" not in note and folder_hash(run) == "a" * 16
    replaced, note = run_dir_for(st, "grid", "b" * 16, replace=True)
    assert replaced.name == "grid" and "--replace" in note
    assert remove_report(run) and not (tmp_path / "grid" / "report").exists()
    assert not remove_report(run) and (tmp_path / "grid" / "run.json").exists()
    st.write_text("# resolved spec 'old' (from x.yaml); spec_hash cccccccccccccccc\nname: old\n", "old", "spec.yaml")
    assert folder_hash(RunDir(st, "old")) == "c" * 16   # a folder without run.json: its spec.yaml


def test_under_trained_cells_are_named_with_their_cap_bound_folds():
    from paragrid.grid.store import under_trained, under_trained_line

    rows = pd.DataFrame({"method": "dnn", "sources": "none", "target": "ca", "budget": 2,
                         "max_epochs": 100, "best_epoch": [100, 96, 91, 90]})
    other = rows.assign(method="ptft", best_epoch=[50, 95, 60, 70])          # mean 68.75: fine
    edge = rows.assign(method="prognet", best_epoch=[89, 89, 89, 89])        # mean 89 < 90: fine
    cells = under_trained(pd.concat([rows, other, edge]))
    assert [(c.cell, c.mean_best_epoch, c.cap_bound, c.folds) for c in cells] == [("dnn none ca 2", 94.25, 2, 4)]
    line = under_trained_line(rows)
    assert line.startswith("1 cell(s) may be under-trained") and "2 of their 4 folds cap-bound" in line
    assert "max_epochs" in line and "\n" not in line
    assert under_trained_line(other) is None and under_trained(pd.DataFrame()) == []


def test_the_run_warning_and_the_report_flags_count_the_same_cap_bound_folds():
    """With `updates: matched` a fold's epoch cap differs from max_epochs: a fold is cap-bound by
    its own cap in the run's warning as in the report's flag."""
    from paragrid.analysis.stats import fold_counts
    from paragrid.grid.store import under_trained

    rows = pd.DataFrame({"method": "dnn", "sources": "none", "target": "ca", "budget": 2, "max_epochs": 100,
                         "epoch_cap": [100, 100, 95, 95], "best_epoch": [99, 99, 94, 94]})
    (cell,) = under_trained(rows)
    assert cell.cap_bound == fold_counts(rows).cap_bound == 4   # 94 is in the last 5 % of a 95 cap
