"""bench/gpu.py runs at a tiny size on the CPU (so the GPU script cannot rot) and every figure it
prints is a positive, finite number."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))


def result_line(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, out[-2000:]
    return json.loads(lines[0][len("RESULT "):])


def test_tiny_run_prints_positive_finite_figures(capsys):
    gpu = importlib.import_module("gpu")
    threads = torch.get_num_threads()
    res = gpu.main(["--tiny", "--no-grid", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "### gpu (cpu, tiny)" in out and "- command: `.venv/bin/python" in out
    assert "| mode | F | fold-epochs/s | vs reference |" in out
    assert "| F | adam fused slices (ms/step) | adam masked (ms/step) |" in out
    printed = result_line(out)
    assert printed["grid"] is None and printed["tiny"] is True
    assert set(printed["modes"]) == {"reference", "stacked", "pack 6", "pack 12", "pack 24"}
    assert {m["folds"] for m in printed["modes"].values()} == {3, 6, 12, 24}
    for m in printed["modes"].values():
        for key in ("fold_epochs_per_s", "epoch_s", "gflops", "state_bytes_per_fold"):
            assert math.isfinite(m[key]) and m[key] > 0, (key, m)
        assert m["setup_s"] >= 0
        assert math.isnan(m["device_bytes_per_fold"])        # no device memory counter on the CPU
    assert printed["peak_gflops"] > 0 and math.isfinite(printed["peak_gflops"])
    for row in printed["choices_ms"].values():
        assert set(row) == {"adam fused slices", "adam masked", "dropout bits generator", "dropout bits hash"}
        assert all(math.isfinite(v) and v > 0 for v in row.values())
    assert res["pack_over_reference"]["reference"] == pytest.approx(1.0)
    assert torch.get_num_threads() == threads                # in-process runs leave settings as they were


def test_grid_doc_is_paper_table2_on_the_stand_in_corpora():
    grid = importlib.import_module("gpu_grid")
    doc = grid.grid_doc(2, "cuda")
    assert doc["repeats"] == 2 and doc["k"] == 10 and set(doc["corpora"]) == {"synth-a", "synth-b"}
    assert doc["training"]["max_epochs"] == 600 and doc["training"]["patience"] is None
    assert doc["methods"] == ["dnn", "ptft", "prognet"] and doc["resources"]["gpu"] == 1
    assert grid.grid_doc(1, "cpu")["resources"]["gpu"] == 0


def test_grid_part_is_on_by_default():
    gpu = importlib.import_module("gpu")
    assert gpu.parse_args(["--device", "cpu"]).grid is True
    assert gpu.parse_args(["--device", "cuda", "--no-grid"]).grid is False
    full = gpu.parse_args(["--device", "cuda"])
    assert full.packs == [100, 1000, 10000] and full.utterances == 5000 and full.grid_max_epochs is None


# what a stock PyTorch image (torch, numpy, pandas, pyarrow, scipy, pyyaml, tqdm) lacks of ours
BLOCKED = ("ray", "opensmile", "optuna", "plotly", "mlflow", "soundfile", "jinja2", "audiofile", "audresample")


@pytest.mark.slow
def test_tiny_run_end_to_end_without_ray_opensmile_optuna_plotly_mlflow(tmp_path):
    """What a stock PyTorch GPU image runs: the whole script, grid part included, with the
    packages that image lacks made unimportable (tests/blocked_imports/sitecustomize.py)."""
    root = BENCH.parent
    env = {**os.environ, "PYTHONPATH": str(root / "tests" / "blocked_imports"),
           "PARAGRID_BLOCK_IMPORTS": ",".join(BLOCKED)}
    for name in BLOCKED[:2] + ("soundfile",):
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True)
        assert probe.returncode != 0 and "blocked" in probe.stderr      # the blocker is in force
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--tiny", "--device", "cpu", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written == result_line(done.stdout)
    g = written["grid"]
    assert g["features"].startswith("stand-in features") and "stand-in features" in done.stdout
    # paper-table2 at one repeat: 2 targets x (1 dnn + 2 sources x 2 methods) trials, k rows each,
    # and every stage ran, sources first
    assert g["trials"] == 10 and g["result_rows"] == 10 * g["k"]
    assert list(g["stages"]) == ["source models", "transfer trials", "dnn baselines"]
    assert g["stages"]["source models"]["trials_or_models"] == 4
    assert g["complete"] is True and g["units_run"] == g["units"]
    assert g["extrapolated"] is True and g["full_grid_s"] == pytest.approx(10 * g["units_s"])
    assert written["compile_step"]["compiled"]["ms_per_step"] > 0 and written["memory_calibration"] is None
    assert set(written["modes"]) == {"reference", "stacked", "pack 6", "pack 12", "pack 24"}


def test_memory_calibration_from_an_injected_measurement_sizes_gpu_packs(tmp_path, monkeypatch):
    """The CPU has no device-memory counter, so the measurement is injected: bench/gpu.py's
    calibration file makes resources.pack: auto size GPU packs with the measured bytes."""
    from paragrid.errors import UserError
    from paragrid.grid.plan import GPU_CALIBRATION_ENV, PackPolicy, pack_size, read_gpu_calibration

    gpu = importlib.import_module("gpu")
    args = gpu.parse_args(["--device", "cpu"])
    assert gpu.calibration_doc(args, {"pack 10000": {"device_bytes_per_fold": float("nan")}}, "cpu") is None
    cal = gpu.calibration_doc(args, {"pack 10000": {"device_bytes_per_fold": 3e6}}, "Injected GPU")
    assert cal["measured_bytes_per_fold_model"] == 3e6 and cal["scale"] == pytest.approx(3e6 / cal["analytic_bytes_per_fold_model"])
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({**cal, "measured_bytes_per_fold_model": 2 * cal["analytic_bytes_per_fold_model"]}))
    monkeypatch.setenv(GPU_CALIBRATION_ENV, str(path))
    read = read_gpu_calibration()
    assert read.device_name == "Injected GPU" and read.scale == pytest.approx(2.0)
    plain = PackPolicy(setting="auto", gpu=0.25, slots=1, device_bytes=1 << 30)
    measured = PackPolicy(setting="auto", gpu=0.25, slots=1, device_bytes=1 << 30, fold_bytes_scale=read.scale)
    n_plain = pack_size(plain, 10_000, 1, None, 10, 1 << 20)
    n_measured = pack_size(measured, 10_000, 1, None, 10, 1 << 20)
    assert n_plain == 12 and n_measured == 6                 # 0.5 x 0.25 GiB / (10 x 1 MiB), then / 2
    path.write_text("{}")
    with pytest.raises(UserError, match=GPU_CALIBRATION_ENV):
        read_gpu_calibration()
