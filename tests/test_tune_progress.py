"""`paragrid tune` progress: trials and epochs done/total, throughput, ETA (durations: test_grid_progress).

Fed a recorded sequence of Tune events with a fake clock: a fixed-speed machine, a trial the
scheduler stops early (its unused epochs leave the plan), and a machine that slows down.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from paragrid.grid.tune import TuningProgress, cost_line, make_callback


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_eta_from_measured_epochs_per_second():
    clock = Clock()
    p = TuningProgress(clock=clock)
    p.plan(trials=4, epochs_each=100)
    assert p.epochs_total == 400 and p.eta_s() is None          # no evidence yet
    assert "measuring speed" in p.line()
    p.started("a", 100)
    p.started("b", 100)
    clock.t += 10
    p.result("a", 20, 100)
    p.result("b", 20, 100)                                     # 40 epochs in 10 s: 4 epochs/s
    assert p.rate() == pytest.approx(4.0)
    assert p.eta_s() == pytest.approx((400 - 40) / 4.0)
    line = p.line()
    assert "trials 0/4 (2 running)" in line and "epochs 40/400 (10%)" in line and "ETA <= 1m30s" in line


def test_a_stopped_trial_gives_its_unused_epochs_back():
    clock = Clock()
    p = TuningProgress(clock=clock)
    p.plan(trials=3, epochs_each=600)
    p.started("a", 600)
    clock.t += 30
    p.result("a", 150, 600)
    p.finished("a", 600)                                       # the scheduler stopped it at 150
    assert (p.trials_done, p.epochs_done, p.epochs_total) == (1, 150, 150 + 2 * 600)
    assert p.eta_s() == pytest.approx((1350 - 150) / (150 / 30))


def test_eta_follows_a_machine_that_slows_down():
    """Recorded: 10 epochs/s for a minute, then 2 epochs/s (another job took the cores). The
    cumulative rate falls with the evidence and the ETA grows, but never jumps past what the
    measured epochs allow."""
    clock = Clock()
    p = TuningProgress(clock=clock)
    p.plan(trials=1, epochs_each=2000)
    p.started("a", 2000)
    etas = []
    epochs = 0
    for second in range(1, 181):
        clock.t += 1
        epochs += 10 if second <= 60 else 2
        p.result("a", epochs, 2000)
        etas.append(p.eta_s())
    fast = etas[59]                       # after 60 s: 600 epochs at 10/s -> 1400 / 10 = 140 s
    assert fast == pytest.approx(140.0)
    assert etas[-1] == pytest.approx((2000 - 840) / (840 / 180))
    assert all(b >= a - 1.0 for a, b in zip(etas[60:], etas[61:]))   # grows once slowed ...
    steps = [b - a for a, b in zip(etas, etas[1:])]
    assert max(steps) < 10.0                                          # ... smoothly, no jumps


def test_callback_prints_on_a_beat_not_per_trial():
    clock = Clock()
    p = TuningProgress(clock=clock)
    p.plan(trials=3, epochs_each=10)
    lines: list[str] = []
    cb = make_callback(p, lines.append, beat_s=30)
    trials = [SimpleNamespace(trial_id=t, config={"job": SimpleNamespace(max_epochs=10)}) for t in "abc"]
    for t in trials:
        cb.on_trial_start(0, trials, t)
        for epoch in range(1, 11):
            clock.t += 1
            cb.on_trial_result(0, trials, t, {"epoch": epoch})
            cb.on_step_end(0, trials)
        cb.on_trial_complete(0, trials, t)
    assert len(lines) == 1                              # 3 trials in 30 s: one beat, not one per trial
    assert "trials 2/3 (1 running), epochs 30/30 (100%)" in lines[0]
    cb.on_experiment_end(trials)
    assert "trials 3/3 (0 running), epochs 30/30 (100%)" in lines[-1]


def test_cost_line_names_trainings_epochs_and_estimate():
    line = cost_line("nested tuning x", 12, 7200, 64800, 125.0, 2)
    assert "12 trainings" in line and "7,200 epochs" in line and "64,800 fold-epochs" in line
    assert "~2m05s on 2 slot(s)" in line
    assert "no time estimate" in cost_line("x", 1, 1, 1, None, 1)


def test_estimate_adds_rays_per_trial_and_start_up_cost():
    from paragrid.grid.tune import START_S, TRIAL_OVERHEAD_S, estimate_s

    assert estimate_s(1000, 0.1, 20, 2) == pytest.approx(START_S + (100 + 20 * TRIAL_OVERHEAD_S) / 2)
    assert estimate_s(1000, float("nan"), 20, 2) is None
