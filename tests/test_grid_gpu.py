"""Fractional GPUs on Ray, tested without a GPU: Ray's logical GPUs (ray.init(num_gpus=2)) stand
in for real ones. With `resources.gpu: 0.25` at most four units share a GPU id at any moment and
at most eight run at once; every unit's GPU id and device land in its files and rows. And a node
whose Ray advertises GPUs while its torch cannot use CUDA (this machine's torch is a CPU build)
stops each unit before training with one line naming the node and the fix."""
from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import torch

from grid_helpers import tiny_spec, write_corpora, write_spec
from paragrid.errors import UserError
from paragrid.grid.work import CUDA_FIX, LOGICAL_GPUS_ENV, choose_device


def _ray(num_gpus: int, env: dict[str, str]):
    import ray

    ray.init(num_cpus=8, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, runtime_env={"env_vars": env} if env else None)
    return ray


def test_choose_device_says_which_node_and_the_fix(monkeypatch):
    monkeypatch.delenv(LOGICAL_GPUS_ENV, raising=False)
    assert choose_device([], "10.0.0.5").device == "cpu" and choose_device([], "n").gpu_id is None
    ok = choose_device([1], "10.0.0.5", cuda_available=True)
    assert (ok.device, ok.gpu_id) == ("cuda", "1")
    ok.check()
    bad = choose_device([0, 1], "10.0.0.5", cuda_available=False)
    with pytest.raises(UserError) as err:
        bad.check()
    line = str(err.value)
    assert "\n" not in line and "node 10.0.0.5" in line and "GPU 0,1" in line and CUDA_FIX in line
    monkeypatch.setenv(LOGICAL_GPUS_ENV, "1")        # tests only: logical GPUs stand in, on the CPU
    sim = choose_device([0], "n", cuda_available=False)
    assert (sim.device, sim.gpu_id, sim.problem) == ("cpu", "0", None)


def _intervals(run_dir) -> list[tuple[float, float, str]]:
    """(start, end, gpu id) of every unit that trained, from its own stamps (within the time Ray
    held its resources): packs' done.json (entered .. written), source models' meta (entered ..
    trained)."""
    out = []
    for done in run_dir.glob("units/*/done.json"):
        d = json.loads(done.read_text())
        assert d["device"] == "cpu"
        out.append((d["t_enter"], d["t_written"], d["gpu_id"]))
    metas = {}
    for meta in run_dir.parent.glob("source-models/*/meta.json"):
        m = json.loads(meta.read_text())
        metas[m["unit_id"]] = (m["t_enter"], m["t_train1"], m["gpu_id"])
    return out + list(metas.values())


def _most_at_once(intervals, gpu: str | None = None) -> int:
    events = sorted([(t0, 1) for t0, _, g in intervals if gpu in (None, g)]
                    + [(t1, -1) for _, t1, g in intervals if gpu in (None, g)], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


@pytest.mark.slow
def test_quarter_gpus_share_two_logical_gpus_four_units_each(tmp_path):
    from paragrid.grid.run import run_grid

    write_corpora(tmp_path)
    doc = tiny_spec("quarter", methods=["dnn", "ptft"], repeats=4, budgets=[1, 2],
                    resources={"cpu": 0.5, "gpu": 0.25, "pack": 1})
    doc["training"] = {**doc["training"], "max_epochs": 150}  # long enough for units to pile up to the caps
    ray = _ray(2, {LOGICAL_GPUS_ENV: "1"})
    try:
        run_dir = run_grid(str(write_spec(tmp_path, doc)), storage=str(tmp_path / "runs"))
    finally:
        ray.shutdown()
    intervals = _intervals(run_dir)
    ids = {g for _, _, g in intervals}
    assert ids == {"0", "1"}                                 # both logical GPUs, and every unit got one
    assert _most_at_once(intervals) <= 8
    assert _most_at_once(intervals) >= 2                  # units did run side by side
    for gpu in ids:
        assert _most_at_once(intervals, gpu) <= 4
    rows = pd.read_parquet(run_dir / "results.parquet")
    assert set(rows["gpu_id"]) <= {"0", "1"} and rows["gpu_id"].notna().all()
    assert set(rows["device"]) == {"cpu"}


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch that cannot use CUDA (this test's situation)")
def test_a_gpu_node_whose_torch_cannot_use_cuda_stops_before_training(tmp_path, monkeypatch):
    from paragrid.grid.run import TrialsFailed, run_grid

    monkeypatch.delenv(LOGICAL_GPUS_ENV, raising=False)
    write_corpora(tmp_path)
    doc = tiny_spec("cpu-torch", methods=["dnn", "ptft"], resources={"cpu": 1, "gpu": 0.5})
    ray = _ray(1, {})
    try:
        with pytest.raises(TrialsFailed):
            run_grid(str(write_spec(tmp_path, doc)), storage=str(tmp_path / "runs"))
    finally:
        ray.shutdown()
    # every unit that was given a GPU stopped with the one line (error.txt's first line, which the
    # console shows); the others were dropped because their source model failed
    firsts = [p.read_text().splitlines()[0] for p in (tmp_path / "runs" / "cpu-torch").glob("units/*/error.txt")]
    assert firsts and all("cannot use CUDA" in f and "install a CUDA build of torch" in f for f in firsts), firsts
    assert all("UserError: node " in f and "(host " in f for f in firsts)
    assert not list((tmp_path / "runs").glob("source-models/*/meta.json"))      # nothing was trained
    assert not list((tmp_path / "runs").glob("cpu-torch/units/*/done.json"))
