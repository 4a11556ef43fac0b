"""The benchmark scripts (bench/*.py) run and report what RESULTS.md quotes; the performance
changes they guided leave results bit for bit unchanged.

The benchmarks themselves are not part of the suite: every script runs here at a tiny size,
in-process (its main(argv)), and the test checks the Markdown section and the RESULT fields.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from models_helpers import TINY_DROP, blobs, fast, relabel

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))


def script(name: str):
    return importlib.import_module(name)


def result_line(out: str) -> dict:
    """The RESULT {json} line a script prints last (what other tools read)."""
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, out[-2000:]
    return json.loads(lines[0][len("RESULT "):])


def assert_section(out: str, title: str, header: str) -> None:
    assert f"### {title}" in out
    assert "- command: `.venv/bin/python" in out and "- load average (1 min) before / after:" in out
    assert header in out


# ---- train_throughput --------------------------------------------------------------------------
def test_flops_are_counted_per_matmul_forward_and_backward():
    tt = script("train_throughput")
    from paragrid.models.config import Architecture
    from paragrid.models.data import FoldData

    train = np.zeros((2, 10), bool)
    val = np.zeros((2, 10), bool)
    test = np.zeros((2, 10), bool)
    train[:, :6], val[:, 6:8], test[:, 8:] = True, True, True
    data = FoldData(np.zeros((10, 5), np.float32), np.zeros(10, np.int64), train, val, test, 3)
    arch = Architecture(layers=2, width=8)
    # dnn 5 -> 8 -> 8 -> 3: forward 2*(40+64+24) = 256 per row; training adds weight gradients for
    # every layer and input gradients for all but the first: 2*40*2 + 2*64*3 + 2*24*3 = 688.
    # 2 epochs: 12 training rows per epoch, 4 validation rows per epoch, 4 test rows twice.
    assert tt.flops(arch, 5, 3, 0, data, epochs=2) == 688 * 12 * 2 + 256 * (4 * 2 + 4 * 2)
    # one frozen source: laterals 8 -> 8 and 8 -> 3 (forward + weight gradient, no input gradient)
    assert tt.flops(arch, 5, 3, 1, data, epochs=2) == (688 + 352) * 24 + (256 + 176) * 16


def test_packed_masks_are_whole_repeats_on_the_fold_axis():
    tt = script("train_throughput")
    train, val, test = tt.fold_masks(30, 3, repeats=2)
    assert train.shape == val.shape == test.shape == (6, 30)
    for r in range(2):
        t = test[3 * r : 3 * r + 3]
        assert (t.sum(0) == 1).all()                                    # test folds partition the rows
        np.testing.assert_array_equal(val[3 * r : 3 * r + 3], np.roll(t, -1, axis=0))
    np.testing.assert_array_equal(train, ~(val | test))
    assert not np.array_equal(test[:3], test[3:])                       # a fresh split per repeat


@pytest.mark.parametrize("method", ["dnn", "prognet"])
def test_train_throughput_reports_every_mode(method, capsys):
    tt = script("train_throughput")
    threads, disabled = torch.get_num_threads(), logging.root.manager.disable
    res = tt.main(["--n", "90", "--k", "3", "--epochs", "1", "--rounds", "1", "--pack", "2", "--layers", "2",
                   "--width", "16", "--batch", "32", "--threads", "1", "--method", method])
    out = capsys.readouterr().out
    assert_section(out, f"train_throughput ({method}, cpu, 1 thread(s))", "| mode | F | fold-epochs/s (best) |")
    assert result_line(out)["modes"].keys() == res["modes"].keys()
    expected = {"vectorised": 3, "reference": 3, "packed x2": 6} | ({"no-cache": 3} if method == "prognet" else {})
    assert {m: v["folds"] for m, v in res["modes"].items()} == expected
    for v in res["modes"].values():
        assert v["fold_epochs_per_s"] > 0 and v["gflops"] > 0 and 0 < v["peak_fraction"]
    assert res["peak_gflops"] >= max(res["peak_single_gflops"], res["peak_batched_gflops"]) > 0
    assert res["vectorised_over_reference"] > 0
    assert res["rss_mib"]["start"] <= res["rss_mib"]["trial"] <= res["rss_mib"]["end"]
    # in-process runs leave the caller's settings as they were
    assert torch.get_num_threads() == threads and logging.root.manager.disable == disabled


def test_step_breakdown_accounts_for_the_whole_step(capsys):
    res = script("step_breakdown").main(["--n", "120", "--k", "3", "--epochs", "1", "--width", "16",
                                         "--layers", "2", "--batch", "32"])
    out = capsys.readouterr().out
    assert_section(out, "step_breakdown (fold-vectorised trainer, CPU)", "| part of a step | CPU ms per step |")
    assert result_line(out)["steps"] == res["steps"] == 2       # 40 training rows per fold (k = 3), batch 32
    parts = res["ms_per_step"]
    assert {"forward", "backward", "Adam", "dropout draws (per-fold generators)"} <= set(parts)
    assert sum(parts.values()) == pytest.approx(res["total_ms_per_step"])
    assert 0 < res["matmul_floor_ms_per_step"] and res["peak_cpu_gflops"] > 0


def test_probe_speed_times_both_forms_and_checks_they_are_one_algorithm(capsys):
    res = script("probe_speed").main(["--folds", "6", "--rows", "40", "--width", "5", "--classes", "3",
                                      "--rounds", "1"])
    out = capsys.readouterr().out
    assert_section(out, "Forgetting probe: written-out gradient vs autograd", "| fold-models | rows |")
    assert result_line(out)["folds"] == 6
    assert res["written_out_s"] > 0 and res["textbook_s"] > 0
    assert res["float64_max_diff"] < 1e-8


@pytest.mark.filterwarnings("ignore::UserWarning")  # a tiny source task may predict one class in a fold
def test_source_cache_gives_bit_identical_training():
    """The prognet source-column cache (models/train.py) changes where the frozen columns' hidden
    layers come from, not their values: same weights, curves and selections as recomputing them
    in every step, with folds stopping early and a feature matrix per fold."""
    import paragrid.models.train as train_module
    from paragrid.models.config import Architecture
    from paragrid.models.options import Pack

    data = blobs(per_fold_x=True)
    x0 = np.asarray(data.x)[0]
    src_a = train_module.train_folds(relabel(data, (x0[:, 3] > 0).astype(np.int64), 2), TINY_DROP, fast(max_epochs=4),
                                     pack=Pack(seed=1)).model
    src_b = train_module.train_folds(relabel(data, (x0[:, 4] > 0).astype(np.int64), 2),
                                     Architecture(layers=3, width=12, activation="tanh"), fast(max_epochs=4),
                                     pack=Pack(seed=2)).model
    settings = fast(patience=2, max_epochs=15)
    cached = train_module.train_folds(data, TINY_DROP, settings, method="prognet", sources=[src_a, src_b],
                                      pack=Pack(seed=5))
    budget = train_module.SOURCE_CACHE_BYTES
    try:
        train_module.SOURCE_CACHE_BYTES = 0
        recomputed = train_module.train_folds(data, TINY_DROP, settings, method="prognet", sources=[src_a, src_b],
                                              pack=Pack(seed=5))
    finally:
        train_module.SOURCE_CACHE_BYTES = budget
    assert (cached.epochs_run < settings.max_epochs).any()             # some folds stopped early
    for n, p in cached.model.params.items():
        assert torch.equal(p, recomputed.model.params[n]), n
    assert cached.curves.equals(recomputed.curves)
    np.testing.assert_array_equal(cached.best_epoch, recomputed.best_epoch)
    np.testing.assert_array_equal(cached.confusion, recomputed.confusion)


def test_compile_check_compares_eager_and_compiled(capsys):
    """TorchDynamo without code generation (backend eager): the script's plumbing in a second;
    inductor itself (the figure in RESULTS.md) compiles for 10-100 s, too long for the suite."""
    res = script("compile_check").main(["--folds", "2", "--batch", "8", "--width", "8", "--layers", "2",
                                        "--steps", "1", "--rounds", "1", "--backend", "eager"])
    out = capsys.readouterr().out
    assert_section(out, "compile_check (torch.compile, eager)", "| step (forward + loss + gradients) |")
    assert result_line(out)["backend"] == "eager"
    assert set(res["ms_per_step"]) == {"eager", "compiled"} and res["speedup"] > 0
    assert res["max_grad_diff"] == 0.0          # no code generation: the same kernels, the same numbers


def test_compare_revision_trains_both_trainers(capsys):
    import subprocess

    if subprocess.run(["git", "-C", str(BENCH), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout: compare_revision reads models/ of a git revision")
    res = script("compare_revision").main(["--rev", "HEAD", "--n", "60", "--k", "3", "--width", "8",
                                           "--rounds", "1", "--method", "prognet"])
    out = capsys.readouterr().out
    assert_section(out, "compare_revision (prognet: working tree vs HEAD)", "| trainer | CPU s per fold-epoch (best) |")
    assert result_line(out)["rev"] == "HEAD"
    assert set(res["cpu_s"]) == {"working tree", "rev HEAD"} and res["speedup"] > 0
    assert res["max_weight_diff"] < 1e-5 and res["same_selection"]   # a speed change, not a different model


# ---- extract_speed -----------------------------------------------------------------------------
def test_extract_speed_reports_each_jobs_value(capsys):
    res = script("extract_speed").main(["--n", "6", "--rounds", "1", "--jobs", "1,2", "--synth-jobs", "1"])
    out = capsys.readouterr().out
    assert_section(out, "extract_speed (openSMILE eGeMAPS)", "| jobs | utterances/s (best) |")
    assert result_line(out)["n"] == 6
    assert set(res["jobs"]) == {"1", "2"} and res["audio_s"] > 0
    assert all(v["utterances_per_s"] > 0 for v in res["jobs"].values())
    assert res["jobs"]["1"]["speedup"] == pytest.approx(1.0)


# ---- Ray: ray_overhead and demo_timing share one Ray instance (starting Ray costs seconds) ----
def test_ray_overhead_stamps_every_trial(local_ray, capsys):
    res = script("ray_overhead").main(["--trials", "1", "--epochs", "3", "--rows", "40"])
    out = capsys.readouterr().out
    assert_section(out, "ray_overhead (Ray Tune, per trial)", "| actor started -> trainable entered |")
    assert result_line(out)["stamped"] == 1
    assert res["stamped"] == 1 and res["errors"] == 0
    per = res["per_trial_s"]
    assert per["epoch"]["median"] > 0 and per["after_last_epoch"]["min"] >= 0
    assert res["fit_s"] > 0 and 0 < res["busy_fraction"] < 1


def test_demo_timing_times_every_stage(local_ray, tmp_path, capsys):
    spec = {"name": "benchdemo", "corpora": {"synth-a": "synth-a.parquet", "synth-b": "synth-b.parquet"},
            "task": "emotion", "methods": ["dnn", "ptft"],
            "experiments": {"paralinguistic": {"targets": ["synth-a"], "sources": [["gender"]], "budgets": ["all"]}},
            "k": 3, "repeats": 1, "seed": 0, "normalisation": "corpus",
            "architecture": {"layers": 1, "width": 8, "activation": "sigmoid", "dropout": 0.0},
            "training": {"lr": 0.01, "optimizer": "adam", "batch_size": 32, "max_epochs": 2, "curve_stride": 1},
            "resources": {"cpu": 1, "gpu": 0}, "max_failures": 0}
    path = tmp_path / "benchdemo.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = script("demo_timing").main(["--spec", str(path), "--utterances", "60", "--speakers", "4",
                                      "--synth-jobs", "1", "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert_section(out, f"demo_timing ({path}, end to end)", "| stage | wall s | share |")
    assert "| grid part | wall s | slot-s | share of grid slot-s |" in out
    assert "of the end-to-end wall time** (target < 5%)" in out
    assert list(result_line(out)["stages_s"]) == ["1 synthesise", "2 extract", "3 grid (Ray)", "4 report"]
    assert all(s > 0 for s in res["stages_s"].values())
    assert res["utterances"] == 120 and res["trials"] == 2           # dnn and ptft on synth-a
    assert res["corpus_mapping"] == {} and res["spec_name"] == "benchdemo"
    g = res["grid"]
    assert g["slots"] == os.cpu_count() and g["unstamped_sources"] == 0
    assert g["source_stage"]["n"] == 1 and g["source_stage"]["slot_s"] > 0      # the gender model
    assert g["target_stage"]["n"] == 2 and g["target_stage"]["slot_s"] > 0
    assert g["training_slot_s"] == pytest.approx(g["source_stage"]["slot_s"] + g["target_stage"]["slot_s"])
    assert g["grid_wall_s"] == pytest.approx(res["stages_s"]["3 grid (Ray)"], abs=0.05)
    assert g["overhead_slot_s"] + g["training_slot_s"] == pytest.approx(g["grid_wall_s"] * g["slots"], abs=1e-6)
    assert sum(g["overhead_parts"].values()) == pytest.approx(g["overhead_slot_s"], abs=1e-6)
    assert 0 < g["startup_s"] < g["grid_wall_s"] and 0 <= g["tail_s"] < g["grid_wall_s"]
    assert g["in_trial_overhead_s"]["setup"] > 0 and g["in_trial_overhead_s"]["write"] > 0
    # the source model trains before the ptft trial that loads it
    assert g["source_stage"]["to_s"] <= g["target_stage"]["to_s"]
    assert 0 < res["sched_overhead_share"] < res["sched_overhead_share_grid"] < 1
    assert res["sched_overhead_share"] == pytest.approx(g["overhead_wall_s"] / res["total_s"])
    assert res["peak_tree_rss_mib"] >= res["rss_mib"] * 0.5 > 0   # sampled: at least this process
    assert os.path.isdir(tmp_path / "work" / "runs" / "benchdemo")


def test_scale_probe_measures_a_small_grid_and_its_resume(local_ray, tmp_path, capsys):
    from grid_helpers import write_corpus

    feats = tmp_path / "features"
    feats.mkdir()
    for i, name in enumerate(("synth-a", "synth-b")):
        write_corpus(feats / f"{name}.parquet", name, n_speakers=4, per_speaker=40, seed=i + 1)
    res = script("scale_probe").main(["--trials", "96", "--epochs", "1", "--features", str(feats),
                                      "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert_section(out, "Scale probe: 96 trials", "| trials | source models trained |")
    assert result_line(out)["trials"] == res["trials"] == res["trials_done"] == 96   # 2 repeats x 48
    assert res["sources_trained"] == 4                  # emotion of the other corpus, per target and repeat
    assert 0 < res["packs_run"] < 96                    # tiny trials are packed
    assert 0 < res["train_s"] <= res["wall_s"] * res["slots"] and res["resume_s"] > 0


def test_demo_timing_spec_rewrite_puts_paper_table2_on_the_synthetic_corpora(tmp_path):
    dt = script("demo_timing")
    from paragrid.grid.spec import expand_trials, validate

    doc = dt.read_spec_doc("paper-table2")
    before = yaml.safe_dump(doc)
    new, mapping = dt.rewrite_spec(doc, repeats=1)
    assert yaml.safe_dump(doc) == before                            # the original is left alone
    assert mapping == {"iemocap": "synth-a", "msp-improv": "synth-b"}
    assert new["repeats"] == 1 and new["name"] == "paper-table2-synth-r1"
    assert new["corpora"] == {"synth-a": "synth-a.parquet", "synth-b": "synth-b.parquet"}
    assert new["targets"] == ["synth-a", "synth-b"]
    changed = {"name", "corpora", "targets", "repeats"}
    assert {k: v for k, v in new.items() if k not in changed} == {k: v for k, v in doc.items() if k not in changed}
    assert new["training"]["max_epochs"] == 600 and new["k"] == 10   # still the paper's settings
    # what prepare_spec writes is a valid spec with one repeat of Table 2: 2 x (1 + 2 x 2) trials
    for name in ("synth-a", "synth-b"):
        (tmp_path / f"{name}.parquet").touch()
    path, written, _ = dt.prepare_spec("paper-table2", 1, True, tmp_path / "spec")
    assert written == new and yaml.safe_load(Path(path).read_text()) == new
    trials = expand_trials(validate(new, origin=path, features_dir=tmp_path)).trials
    assert len(trials) == 10 and {t.target for t in trials} == {"synth-a", "synth-b"}
    assert {t.repeat for t in trials} == {0}


def test_demo_timing_spec_rewrite_maps_experiments_and_named_sources():
    dt = script("demo_timing")
    doc = {"name": "x", "corpora": {"b": "b.parquet", "a": "a.parquet"}, "targets": "b",
           "experiments": {"e1": {"targets": ["a"], "sources": [["emotion@b"], "speaker+emotion@a", "none"]},
                           "e2": {"sources": [["emotion@other"]]}}}
    new, mapping = dt.rewrite_spec(doc)
    assert mapping == {"b": "synth-a", "a": "synth-b"} and new["name"] == "x-synth"
    assert new["targets"] == "synth-a" and new["experiments"]["e1"]["targets"] == ["synth-b"]
    assert new["experiments"]["e1"]["sources"] == [["emotion@synth-a"], "speaker+emotion@synth-b", "none"]
    assert new["experiments"]["e2"]["sources"] == [["emotion@other"]]
    # already on the synthetic corpora, or mapping switched off: only --repeats changes anything
    demo = dt.read_spec_doc("demo")
    assert dt.rewrite_spec(demo) == (demo, {})
    assert dt.rewrite_spec(doc, map_corpora=False) == (doc, {})
    assert dt.rewrite_spec(demo, repeats=3)[0]["name"] == "demo-r3"


def test_compare_runs_finds_a_changed_number_and_ignores_where_it_ran(tmp_path, capsys):
    """bench/compare_runs.py is the before/after check of refactors: it must see one changed
    value anywhere in a table, and not count wall time, host or packing as a difference."""
    import pandas as pd

    compare_runs = script("compare_runs")
    results = pd.DataFrame({"trial_id": ["a", "a", "b"], "fold": [0, 1, 0], "test_uar": [0.5, 0.6, 0.7],
                            "patience": pd.array([None, None, 3], dtype="Int64"), "wall_s": [1.0, 2.0, 3.0]})
    curves = pd.DataFrame({"trial_id": ["a", "b"], "fold": [0, 0], "epoch": [1, 1], "val_uar": [0.4, 0.5]})
    for name, res in (("before", results), ("same", results.assign(wall_s=9.0).iloc[::-1]),
                      ("moved", results.assign(test_uar=[0.5, 0.6, 0.7000001]))):
        (tmp_path / name).mkdir()
        res.to_parquet(tmp_path / name / "results.parquet")
        curves.to_parquet(tmp_path / name / "curves.parquet")
    assert compare_runs.main([str(tmp_path / "before"), str(tmp_path / "same")]) == 0
    assert compare_runs.main([str(tmp_path / "before"), str(tmp_path / "moved")]) == 1
    assert "results.test_uar: 1 row(s), first: 0.7 vs 0.7000001" in capsys.readouterr().out


# ---- feature_widths ----------------------------------------------------------------------------
def test_feature_widths_reports_training_per_width_and_extraction_per_set(capsys):
    res = script("feature_widths").main(["--n-train", "60", "--k", "3", "--epochs", "1", "--rounds", "1",
                                         "--widths", "88,300", "--n-utts", "4", "--sets", "eGeMAPSv02,GeMAPSv01b"])
    out = capsys.readouterr().out
    assert_section(out, "feature_widths (inputs 88 / 1,024 / 6,373; extraction per feature set)",
                   "| inputs | fold-epochs/s (best) |")
    assert set(res["train"]) == {"88", "300"} and res["train"]["300"]["mib_per_fold_estimate"] > \
        res["train"]["88"]["mib_per_fold_estimate"]
    assert {k: v["columns"] for k, v in res["extract"].items()} == {"eGeMAPSv02": 88, "GeMAPSv01b": 62}
    assert result_line(out) == json.loads(json.dumps(res, default=float))
