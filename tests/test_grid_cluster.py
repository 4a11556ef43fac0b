"""Clusters: cluster.yaml against Ray's own validation, and a REAL two-node Ray cluster on this
machine (two raylets, `ray start --head` + `ray start --address`) running `paragrid run
--address`: trials land on both nodes, a second run on the same storage is refused, an
interrupted run resumes without recomputing what finished.

The cluster's processes are found by its private temp dir and stopped by pid: never `ray stop`,
which would also stop every other Ray on the machine.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from grid_helpers import (free_ports, processes_of, quiet_env, stop_processes, tiny_spec, write_corpora,
                          write_spec)

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def test_cluster_yaml_passes_rays_own_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    validate_config(prepare_config(config))  # raises on any schema error

    workers = [t for n, t in config["available_node_types"].items() if n != config["head_node_type"]]
    assert workers and all(t["min_workers"] >= 1 for t in workers)  # GPUs present when a run starts
    assert any(t["node_config"]["InstanceType"].startswith(("g5.12", "p4", "p5", "g6.12")) for t in workers)
    setup = " ".join(config["setup_commands"])
    assert "requirements.lock" in setup and "-e ." in setup and config["file_mounts"] == {"~/paragrid": "."}
    assert "/mnt/shared" in " ".join(config["initialization_commands"])

    broken = dict(config, max_wokers=3)
    with pytest.raises(Exception, match="max_wokers"):
        validate_config(prepare_config(broken))


# ----------------------------------------------------------------------------- two nodes

def _ray_start(args: list[str], env: dict) -> None:
    proc = subprocess.run([RAY, "start", *args], env=env, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"ray start failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")


def _start_two_nodes(tmp: str, env: dict) -> tuple[int, int]:
    """A head and a worker node (one CPU each) on loopback; (head port, worker's agent port).
    Skips the test, with the reason, where this sandbox cannot start them."""
    port, dash, *agents = free_ports(8)
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
    try:
        _ray_start(["--head", f"--port={port}", f"--temp-dir={tmp}", "--include-dashboard=false", *common,
                    f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agents[0]}",
                    f"--metrics-export-port={agents[1]}", f"--runtime-env-agent-port={agents[2]}"], env)
        _ray_start([f"--address=127.0.0.1:{port}", *common,
                    f"--dashboard-agent-listen-port={agents[3]}", f"--metrics-export-port={agents[4]}",
                    f"--runtime-env-agent-port={agents[5]}"], env)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"cannot start a two-node Ray cluster in this sandbox: {err}")
    return port, agents[3]


@pytest.fixture(scope="module")
def cluster():
    # A short private temp dir: Ray's socket paths must stay under 108 characters.
    tmp = tempfile.mkdtemp(prefix="pgray-", dir="/tmp")
    try:
        port, _ = _start_two_nodes(tmp, quiet_env())
        yield f"127.0.0.1:{port}"
    finally:
        left = stop_processes(processes_of(tmp))
        if not left:
            shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"Ray processes of {tmp} survived: {left}"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "paragrid.cli", *args]


@pytest.mark.slow
@pytest.mark.cluster
def test_grid_on_two_nodes_resumes_after_an_interrupt_and_refuses_a_second_writer(cluster, tmp_path):
    """One `paragrid run --address` story (each CLI run costs a Ray connection and worker
    start-ups, so the checks share it): Ctrl-C mid-way, a concurrent run refused, the resumed
    run recomputes nothing that finished, and the trials ran on both nodes."""
    write_corpora(tmp_path)
    # 8 trials of ~1 s; each node has one CPU, so both nodes take trials.
    spec = write_spec(tmp_path, tiny_spec(targets=["ca", "cb"], repeats=4, methods=["dnn"],
                                          training={"max_epochs": 150, "batch_size": 8}))
    runs = tmp_path / "runs"
    cmd = _cli("run", str(spec), "--storage", str(runs), "--address", cluster)
    first = subprocess.Popen(cmd, env=quiet_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while not (runs / "tiny" / ".lock").exists():
            assert first.poll() is None, first.stdout.read()[-2000:]
            assert time.time() < deadline, "the first run never took the lock"
            time.sleep(0.1)

        # a second run on the same storage while the first holds it: refused, before Ray.
        # (Checked before any trial finishes, so that the Ctrl-C below still lands mid-way
        # however slow this second interpreter is to start on a loaded machine.)
        second = subprocess.run(cmd, env=quiet_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert "is being written by another run" in second.stderr and f"pid {first.pid}" in second.stderr

        while not list(runs.glob("tiny/units/*/done.json")):
            assert first.poll() is None, first.stdout.read()[-2000:]
            assert time.time() < deadline, "no trial finished in time"
            time.sleep(0.05)
        first.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, out[-2000:]
    assert "interrupted; re-run the same command to resume" in out
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("tiny/units/*/done.json")}
    tables_before = {p: p.stat().st_mtime_ns for p in runs.glob("tiny/units/*/*.parquet")}
    finished = {t for p in runs.glob("tiny/units/*/done.json") for t in json.loads(p.read_text())["trial_ids"]}
    assert 1 <= len(finished) < 8, "the interrupt must come mid-way"
    assert not (runs / "tiny" / ".lock").exists()  # released on Ctrl-C
    partial = pd.read_parquet(runs / "tiny" / "results.parquet")  # merged up to the interrupt
    assert set(partial.trial_id) <= finished

    again = subprocess.run(cmd, env=quiet_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"resuming: {len(finished)} of 8 trials already finished" in again.stdout
    for uid, mtime in done_before.items():  # finished units were not recomputed
        assert (runs / "tiny" / "units" / uid / "done.json").stat().st_mtime_ns == mtime
    for path, mtime in tables_before.items():
        assert path.stat().st_mtime_ns == mtime
    res = pd.read_parquet(runs / "tiny" / "results.parquet")
    assert len(res) == 8 * 4 and not res.duplicated(["trial_id", "fold"]).any()
    assert res.trial_id.nunique() == 8
    assert json.loads((runs / "tiny" / "run.json").read_text())["spec_name"] == "tiny"
    nodes = res.groupby("trial_id").node.first()
    assert nodes.nunique() == 2, nodes.to_dict()  # "ip:node-id" of two raylets
    assert "Traceback" not in again.stdout + again.stderr


def _raylet_of_worker(tmp_marker: str, worker_port: int) -> list[int]:
    """Pids of the worker node's raylet: the cluster's raylet whose command line names the
    worker's own dashboard-agent port (the head's names another)."""
    from grid_helpers import _proc_table

    return [pid for pid, (_, cmd) in _proc_table().items()
            if tmp_marker in cmd and "raylet" in cmd.split(" ")[0] and str(worker_port) in cmd]


@pytest.mark.slow
@pytest.mark.cluster
def test_grid_survives_the_loss_of_a_worker_node_with_nothing_lost_or_doubled(tmp_path):
    """Kill the worker node's raylet mid-grid: the in-flight pack is retried on the head, the
    grid completes, and every (trial, fold) row equals a one-node run's."""
    tmp = tempfile.mkdtemp(prefix="pgray-", dir="/tmp")
    env = quiet_env()
    write_corpora(tmp_path)
    spec = write_spec(tmp_path, tiny_spec(targets=["ca", "cb"], repeats=4, methods=["dnn"], max_failures=3,
                                          resources={"cpu": 1, "gpu": 0, "pack": 2},
                                          training={"max_epochs": 150, "batch_size": 8}))
    try:
        port, worker_agent_port = _start_two_nodes(tmp, env)
        victim = _raylet_of_worker(tmp, worker_agent_port)
        if len(victim) != 1:
            pytest.skip(f"cannot tell the worker node's raylet apart on this machine (found {victim})")
        runs = tmp_path / "runs"
        grid = subprocess.Popen(_cli("run", str(spec), "--storage", str(runs), "--address", f"127.0.0.1:{port}"),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + 240
            while not list(runs.glob("tiny/units/*/done.json")):
                assert grid.poll() is None, grid.stdout.read()[-2000:]
                assert time.time() < deadline, "no trial finished in time"
                time.sleep(0.05)
            import os

            os.kill(victim[0], signal.SIGKILL)  # the worker node is gone
            out, _ = grid.communicate(timeout=400)
        finally:
            if grid.poll() is None:
                grid.kill()
        assert grid.returncode == 0, out[-3000:]
        assert "Traceback" not in out and "raylet" not in out.lower(), out[-3000:]  # Ray's dumps go to the log
    finally:
        left = stop_processes(processes_of(tmp))
        if not left:
            shutil.rmtree(tmp, ignore_errors=True)
    res = pd.read_parquet(runs / "tiny" / "results.parquet")
    assert len(res) == 8 * 4 and not res.duplicated(["trial_id", "fold"]).any()

    # the same grid on one local node: the same numbers, row for row
    alone = subprocess.run(_cli("run", str(spec), "--storage", str(tmp_path / "alone")), env=env,
                           capture_output=True, text=True, timeout=400)
    assert alone.returncode == 0, alone.stdout[-2000:] + alone.stderr[-2000:]
    ref = pd.read_parquet(tmp_path / "alone" / "tiny" / "results.parquet")
    key = ["trial_id", "fold"]
    cols = ["test_uar", "val_uar", "best_epoch", "epochs_run", "confusion"]
    pd.testing.assert_frame_equal(res.sort_values(key)[key + cols].reset_index(drop=True),
                                  ref.sort_values(key)[key + cols].reset_index(drop=True))
