"""Console progress: compact status lines, one-line errors, the estimate (no Ray cluster needed)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from paragrid.grid.progress import Calibration, Progress, fmt_duration


def _items():
    return [{"kind": "source", "id": "source.gender.a.b8.r0.x", "key": "k1"},
            {"kind": "trial", "id": "dnn.none.a.b8.r0", "method": "dnn"},
            {"kind": "trial", "id": "ptft.gender.a.b8.r0", "method": "ptft"},
            {"kind": "trial", "id": "prognet.gender.a.b8.r0", "method": "prognet"}]


def _trial(item):
    return SimpleNamespace(config={"item": item})


def test_status_lines_count_by_kind_and_stage_and_errors_are_one_line():
    lines = []
    items = _items()
    errors = {"ptft.gender.a.b8.r0": ("RuntimeError: boom", "/runs/x/trials/ptft.gender.a.b8.r0/error.txt")}
    p = Progress("demo", items, {i["id"]: 10.0 for i in items}, slots=2, verbose=False,
                 error_of=lambda tid, trial: errors[tid], max_failures=1, out=lines.append,
                 min_interval_s=0.0)
    p.on_trial_start(0, [], _trial(items[0]))
    assert lines == []  # quiet: starting is not news
    p.on_trial_complete(0, [], _trial(items[0]))
    assert lines[-1].startswith("[demo stage 2/2] source models 1/1, dnn 0/1, transfer 0/2 | 0 running |")
    p.on_trial_start(0, [], _trial(items[2]))
    p.on_trial_recover(0, [], _trial(items[2]))
    assert lines[-2] == ("  trial ptft.gender.a.b8.r0 failed (attempt 1 of 2), retrying: RuntimeError: boom "
                         "[log: /runs/x/trials/ptft.gender.a.b8.r0/error.txt]")
    assert "1 retried" in lines[-1]
    p.on_trial_start(0, [], _trial(items[2]))
    p.on_trial_error(0, [], _trial(items[2]))
    assert lines[-2] == ("  trial ptft.gender.a.b8.r0 FAILED: RuntimeError: boom "
                         "[log: /runs/x/trials/ptft.gender.a.b8.r0/error.txt]")
    assert "1 failed" in lines[-1]
    p.fail("prognet.gender.a.b8.r0", "its source model source.gender.a.b8.r0.x failed", "")
    assert lines[-2] == "  trial prognet.gender.a.b8.r0 skipped: its source model source.gender.a.b8.r0.x failed"
    assert all("\n" not in line for line in lines)
    assert p.failures[0][0] == "ptft.gender.a.b8.r0" and p.left() == 1


def test_stage_one_while_source_models_are_missing_and_rate_limited_lines():
    lines = []
    items = _items()
    p = Progress("g", items, None, slots=1, verbose=False, out=lines.append, min_interval_s=3600)
    assert p.stage() == "stage 1/2" and p.eta_s() is None
    p.line(None, force=True)
    p.on_trial_start(0, [], _trial(items[1]))
    p.on_trial_complete(0, [], _trial(items[1]))
    assert len(lines) == 1  # within the interval: held back ...
    p.on_step_end(0, [])
    assert len(lines) == 1
    p.min_interval_s = 0.0
    p.on_step_end(0, [])  # ... and printed once the interval has passed
    assert len(lines) == 2 and "dnn 1/1" in lines[-1]


def test_heartbeat_repeats_the_status_while_trials_run_and_only_then():
    lines = []
    items = _items()
    p = Progress("g", items, None, slots=1, verbose=False, out=lines.append, min_interval_s=0.0, heartbeat_s=3600)
    p.line(None, force=True)
    p.on_step_end(0, [])
    assert len(lines) == 1  # nothing new, heartbeat not due
    p.heartbeat_s = 0.0
    p.on_step_end(0, [])
    assert len(lines) == 1  # due, but nothing is running: no line
    p.on_trial_start(0, [], _trial(items[1]))
    p.on_step_end(0, [])
    assert len(lines) == 2 and "1 running" in lines[-1] and "elapsed" in lines[-1]
    p.heartbeat_s = None
    p.on_step_end(0, [])
    assert len(lines) == 2  # switched off


def test_eta_uses_the_estimate_then_the_observed_speed():
    items = _items()
    p = Progress("g", items, {i["id"]: 100.0 for i in items}, slots=2, verbose=False, out=lambda s: None)
    assert 195 <= p.eta_s() <= 200  # 4 x 100 s on 2 slots
    now = p.t0
    p.completed = [(now, 100.0), (now + 10, 100.0)]  # observed: 100 s of estimate took 10 s
    p.finished = {items[0]["id"], items[1]["id"]}
    eta = p.eta_s()
    assert eta is not None and eta < 30  # 200 s of estimate left at ~10 s per 100


def test_calibrated_epoch_cost_grows_with_rows_width_and_columns():
    cal = Calibration(flops_per_s=1e9, batch_overhead_s=1e-3, trial_overhead_s=0.5)
    arch = {"layers": 4, "width": 256}
    base = dict(k=10, n_train=4000, n_val=500, n_in=88, n_classes=4, arch=arch, batch_size=256)
    t = cal.epoch_seconds(**base)
    assert cal.epoch_seconds(**{**base, "n_train": 8000, "n_val": 1000}) > 1.9 * t - 0.05
    assert cal.epoch_seconds(**{**base, "arch": {"layers": 4, "width": 64}}) < t / 4
    assert np.isclose(cal.epoch_seconds(**base, columns=2), 2 * t)
    assert [fmt_duration(s) for s in (5, 125, 3 * 3600 + 120)] == ["5s", "2m05s", "3h02m"]


def test_calibration_times_the_real_trainer():
    import warnings

    from paragrid.grid.progress import calibrate

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((120, 6)), rng.integers(0, 3, 120)
    arch = {"layers": 2, "width": 8, "activation": "sigmoid", "dropout": 0.0}
    training = {"lr": 0.01, "optimizer": "adam", "batch_size": 16, "max_epochs": 600, "patience": None,
                "curve_stride": 10, "weight_decay": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random labels: chance-level folds are expected here
        cal = calibrate(arch, training, x, y, n_classes=3, k=4)
    assert cal.flops_per_s > 0 and cal.batch_overhead_s >= 0 and cal.trial_overhead_s > 0
    per_epoch = cal.epoch_seconds(k=4, n_train=60, n_val=30, n_in=6, n_classes=3, arch=arch, batch_size=16)
    assert 0 < per_epoch < 5
