"""Progress of a `paragrid tune` run, counted in trials and epochs, with an ETA from throughput.

Why epochs and not only trials: a tuning trial that the scheduler stops at its grace epoch
costs a fraction of one that trains to the end, so "12 of 30 trials" says little about the
time left. The plan is `trials x max_epochs`; a trial that ends early gives its unused epochs
back, so the total only shrinks. The ETA is the remaining epochs over the epochs per second
measured since the first trial started (all slots together, overheads included); it assumes
no further trial ends early, so it is an upper bound, and says so. A status line is printed
on a steady beat (every `beat_s` seconds), not once per trial.

`TuningProgress` is plain bookkeeping with an injectable clock (tested on a recorded sequence);
`ProgressCallback` feeds it from Ray Tune's public Callback hooks.
"""
from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

from paragrid.grid.console import StatusLine, fmt_duration
from paragrid.models.options import Pack, Run

BEAT_S = 30.0


@dataclass
class TuningProgress:
    """Trials and epochs done of the planned total; throughput and ETA."""

    clock: Callable[[], float] = time.monotonic
    trials_total: int = 0
    epochs_total: int = 0
    trials_done: int = 0
    epochs_done: int = 0               # of finished trials
    running: dict[str, int] = field(default_factory=dict)    # trial id -> epochs so far
    planned: dict[str, int] = field(default_factory=dict)    # trial id -> its epoch cap
    t_start: float | None = None

    def plan(self, trials: int, epochs_each: int) -> None:
        """Add `trials` trials of at most `epochs_each` epochs to the plan."""
        self.trials_total += trials
        self.epochs_total += trials * epochs_each

    def started(self, trial_id: str, epochs_cap: int) -> None:
        if self.t_start is None:
            self.t_start = self.clock()
        self.running.setdefault(trial_id, 0)
        self.planned.setdefault(trial_id, epochs_cap)

    def result(self, trial_id: str, epoch: int, epochs_cap: int) -> None:
        self.started(trial_id, epochs_cap)
        self.running[trial_id] = max(self.running[trial_id], int(epoch))

    def finished(self, trial_id: str, epochs_cap: int) -> None:
        """The trial ended (completed, stopped early or failed): its unused epochs leave the plan."""
        self.started(trial_id, epochs_cap)
        ran = self.running.pop(trial_id)
        cap = self.planned.pop(trial_id)
        self.trials_done += 1
        self.epochs_done += ran
        self.epochs_total -= max(0, cap - ran)

    @property
    def epochs_now(self) -> int:
        return self.epochs_done + sum(self.running.values())

    def rate(self) -> float | None:
        """Epochs per second since the first trial started (None before any evidence)."""
        if self.t_start is None:
            return None
        elapsed = self.clock() - self.t_start
        done = self.epochs_now
        return done / elapsed if elapsed > 0 and done > 0 else None

    def eta_s(self) -> float | None:
        rate = self.rate()
        if rate is None:
            return None
        return max(0, self.epochs_total - self.epochs_now) / rate

    def line(self) -> str:
        pct = 100.0 * self.epochs_now / self.epochs_total if self.epochs_total else 100.0
        rate, eta = self.rate(), self.eta_s()
        speed = f"{rate:.1f} epochs/s" if rate is not None else "measuring speed"
        left = f"ETA <= {fmt_duration(eta)}" if eta is not None else "ETA when the first epochs are in"
        return (f"   progress: trials {self.trials_done}/{self.trials_total} ({len(self.running)} running), "
                f"epochs {self.epochs_now:,}/{self.epochs_total:,} ({pct:.0f}%), {speed}, {left}")


def make_callback(progress: TuningProgress, say: Callable[[str], None], beat_s: float = BEAT_S):
    """A ray.tune.Callback (paragrid.grid.tune._plugins.ProgressCallback) that feeds `progress` and
    prints its line through the grid's StatusLine every `beat_s` seconds (the first a beat after
    the start) and at the end."""
    from paragrid.grid.tune._plugins import ProgressCallback  # heavy: ray, optuna

    status = StatusLine(out=say, beat_s=beat_s, clock=progress.clock)
    status.last_status = progress.clock()
    return ProgressCallback(progress, status)


# Ray Tune's own cost, from bench/RESULTS.md (ray_overhead.py, demo_timing.py): ~0.4 CPU-slot-
# seconds per trial, and ~10 s to start Ray and the first trial actors.
TRIAL_OVERHEAD_S = 0.5
START_S = 10.0


def estimate_s(epochs: int, seconds_per_epoch: float, trainings: int, slots: int) -> float | None:
    """Wall seconds of a tuning run: its epochs at the timed speed plus Ray's per-trial and
    start-up costs, spread over `slots` (None when the timing failed)."""

    if not math.isfinite(seconds_per_epoch):
        return None
    return START_S + (epochs * seconds_per_epoch + trainings * TRIAL_OVERHEAD_S) / max(1, slots)


def cost_line(what: str, trainings: int, epochs: int, fold_epochs: int, seconds: float | None,
              slots: int) -> str:
    """The cost printed before a run starts: trainings, epochs and an estimate."""
    est = (f"~{fmt_duration(seconds)} on {slots} slot(s) if no trial is stopped early "
           "(an epoch of the paper's architecture timed here; searched sizes vary)" if seconds is not None
           else "no time estimate")
    return (f"== {what}: {trainings:,} trainings, <= {epochs:,} epochs ({fold_epochs:,} fold-epochs); "
            f"{est}")


def seconds_per_epoch(data, arch, train_settings, device: str | None = None, epochs: int = 6,
                      threads: int = 1) -> float:
    """Wall seconds of one epoch of `data` (all its stacked folds), timed on this machine with
    the threads a trial gets. The median epoch after the first (warm-up: allocations, first
    kernels) is returned, so that one disturbed epoch on a shared machine does not decide it."""

    import torch  # heavy: torch

    from paragrid.models.evaluate import SingleClassWarning  # heavy: torch
    from paragrid.models.train import train_folds  # heavy: torch

    settings = replace(train_settings, max_epochs=epochs, patience=None, curve_stride=epochs)
    marks: list[float] = [time.perf_counter()]

    def on_epoch(epoch, best):
        marks.append(time.perf_counter())
        return False

    log = logging.getLogger("paragrid.models")
    level, threads_before = log.level, torch.get_num_threads()
    log.setLevel(logging.ERROR)
    torch.set_num_threads(max(1, int(threads)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingleClassWarning)
            train_folds(data, arch, settings, "dnn", pack=Pack(seed=0),
                        run=Run(device=device or "cpu", epoch_callback=on_epoch))
    finally:
        log.setLevel(level)
        torch.set_num_threads(threads_before)
    deltas = sorted(b - a for a, b in zip(marks[1:], marks[2:]))
    return deltas[len(deltas) // 2] if deltas else float("nan")
