"""bench/gpu.py runs at a tiny size on the CPU (so the GPU script cannot rot) and every figure it
prints is a positive, finite number."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch
import yaml

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
    assert set(printed["modes"]) == {"reference", "stacked", "pack 6", "pack 12"}
    assert {m["folds"] for m in printed["modes"].values()} == {3, 6, 12}
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


def test_grid_spec_is_paper_table2_on_the_synthetic_corpora_with_a_gpu_share(tmp_path):
    gpu = importlib.import_module("gpu")
    path, doc = gpu.grid_spec(tmp_path, 1, "cuda")
    written = yaml.safe_load(path.read_text())
    assert written == doc and written["repeats"] == 1 and written["k"] == 10
    assert written["training"]["max_epochs"] == 600 and written["training"]["patience"] is None
    assert set(written["corpora"]) == {"synth-a", "synth-b"}
    assert written["resources"]["gpu"] == 0.25
    _, cpu_doc = gpu.grid_spec(tmp_path / "cpu", 2, "cpu")
    assert cpu_doc["resources"].get("gpu", 0) == 0 and cpu_doc["repeats"] == 2


def test_grid_part_is_on_by_default_only_on_a_gpu():
    gpu = importlib.import_module("gpu")
    assert gpu.parse_args(["--device", "cpu"]).grid is False
    assert gpu.parse_args(["--device", "cuda", "--tiny"]).grid is False
    assert gpu.parse_args(["--device", "cuda"]).grid is True
    assert gpu.parse_args(["--device", "cuda", "--no-grid"]).grid is False
