"""The prior of the time estimate: the real trainer timed on the driver for a few epochs.

A quick calibration (a sample of a real corpus, the spec's network, optimiser and batch size)
gives a rate per row-weight and a cost per step; with a cost model of each unit (rows x weights
x epochs, plus steps x epochs) it estimates each unit's seconds on one slot (`Unit.cost`). It is
only the prior: it was 2.65x optimistic on a real EmoDB run, so `grid.console` replaces it by the
measured throughput as units finish.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from paragrid.models.config import Architecture, TrainSettings
from paragrid.models.options import Run

# Fixed costs measured once on a 2-core machine (bench/RESULTS.md, "Scale probe"), not per run:
# what one trial costs inside a pack beyond its training (its data, rows and curves) and what one
# unit costs beyond its trials (source models loaded, files written, the worker's own set-up).
IN_PACK_TRIAL_S = 0.02
UNIT_OVERHEAD_S = 0.3


@dataclass(frozen=True)
class Calibration:
    flops_per_s: float       # training + validation arithmetic, as the stacked trainer achieves it
    batch_overhead_s: float  # fixed cost of one optimisation step of the stacked trainer
    trial_overhead_s: float  # per trial inside a pack: data preparation, model build, its rows
    unit_overhead_s: float = UNIT_OVERHEAD_S  # per unit (a pack or a source model): loading, writing
    probe_row_step_s: float = 0.0   # the forgetting probe: seconds per (fold-model, row, step), timed
    probe_width: int = 1            # ... at this hidden width
    probe_classes: int = 2          # ... and this many classes

    def probe_seconds(self, *, k: int, n_train: float, width: int, n_classes: int) -> float:
        """The forgetting probe of one source (models/probe.py): PROBE_STEPS full-batch steps over
        k folds' training rows, at the timed rate per row and step, scaled to another width or
        class count by the work per row (~ 4 W C flops for logits and gradient plus ~30 C for
        the softmax and the update)."""
        from paragrid.models.probe import PROBE_STEPS  # heavy: torch

        def work(w: int, c: int) -> float:
            return 4 * w * c + 30 * c

        scale = work(width, n_classes) / work(self.probe_width, self.probe_classes)
        return PROBE_STEPS * k * n_train * self.probe_row_step_s * scale

    def epoch_seconds(self, *, k: int, n_train: float, n_val: float, n_in: int, n_classes: int,
                      arch: Architecture, batch_size: int, columns: int = 1) -> float:
        """One epoch of all k folds: training passes (x3 for backward) and the validation pass."""
        w, layers = arch.width, arch.layers
        params = n_in * w + (layers - 1) * w * w + w * n_classes
        flops = 2 * params * k * (3 * n_train + n_val) * columns
        batches = max(1, math.ceil(n_train / batch_size))
        return batches * self.batch_overhead_s * columns + flops / self.flops_per_s


def calibrate(arch: Architecture, training: TrainSettings, x, y, n_classes: int, k: int, threads: int = 1) -> Calibration:
    """Time the real stacked trainer on a sample of a real corpus (<= 2000 rows), with the spec's
    architecture, optimiser and batch size: once at the spec's batch size and once with one batch
    per epoch, which separates the fixed cost per step from the cost per row. ~1-3 s on a CPU."""
    import torch  # heavy: torch

    from paragrid.models.data import FoldData  # heavy: torch
    from paragrid.models.train import train_folds  # heavy: torch

    clock = cpu_clock(threads)
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    fold_of = np.random.default_rng(0).permutation(n) % k
    test = fold_of[None] == np.arange(k)[:, None]
    val = np.roll(test, 1, axis=0)
    data = FoldData(x=x, y=np.asarray(y), train=~(test | val), val=val, test=test, n_classes=n_classes)
    n_train, n_val = float(data.train.sum(1).mean()), float(val.sum(1).mean())

    def train(batch: int, epochs: int) -> None:
        settings = replace(training, batch_size=batch, max_epochs=epochs, patience=None, curve_stride=1000)
        train_folds(data, arch, settings, run=Run(device="cpu"))

    def per_epoch(batch: int) -> tuple[float, float]:
        """(seconds per epoch, seconds of set-up) from a 1- and a 3-epoch run, each the best of
        two (see cpu_clock for why the clock is the thread's CPU time)."""
        one, three = (best_of_two(clock, lambda: train(batch, e)) for e in (1, 3))
        epoch = max(1e-6, (three - one) / 2)
        return epoch, max(0.0, one - epoch)

    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        train(training.batch_size, 1)   # untimed: the first call pays one-off imports and allocations
        at_batch, setup = per_epoch(training.batch_size)
        one_batch, _ = per_epoch(int(data.train.sum(1).max()))
        probe_row_step_s = probe_rate(k, int(n_train), arch.width, n_classes, clock)
    finally:
        torch.set_num_threads(old_threads)
    batches = max(1, math.ceil(n_train / training.batch_size))
    step = max(0.0, (at_batch - one_batch) / max(1, batches - 1))
    rows_time = max(1e-6, one_batch - step)
    w, layers = arch.width, arch.layers
    params = x.shape[1] * w + (layers - 1) * w * w + w * n_classes
    flops = 2 * params * k * (3 * n_train + n_val)
    return Calibration(flops_per_s=flops / rows_time, batch_overhead_s=step, trial_overhead_s=setup + IN_PACK_TRIAL_S,
                       probe_row_step_s=probe_row_step_s, probe_width=w, probe_classes=n_classes)


def cpu_clock(threads: int):
    """The clock the calibration reads. It runs while Ray starts on the same cores, and wall-clock
    timings were seen 2-4x too slow under that load (packs then came out as many times too
    small): with one torch thread every operation runs on the calling thread, so that thread's
    CPU time is what the work costs, whoever else wants the cores. With more threads, the wall
    clock (torch's pool threads are not this thread)."""
    return time.thread_time if threads <= 1 else time.perf_counter


def best_of_two(clock, fn) -> float:
    """The shorter of two timings of fn() on `clock` (the caller has run it once untimed)."""
    best = float("inf")
    for _ in range(2):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def probe_rate(k: int, rows: int, width: int, n_classes: int, clock, steps: int = 20) -> float:
    """Seconds per (fold-model, row, step) of the forgetting probe (models/probe.py), timed on
    random features of the real shape (with calibrate's torch threads): its cost is per row and
    step, like the probe's, and a flop count at the trainer's rate was 2x off (a 1 x 8
    network's rate is all step overhead)."""
    import torch  # heavy: torch

    from paragrid.models.probe import fit_probe  # heavy: torch

    rows = max(1, rows)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(k, rows, width, generator=g)
    y = torch.randint(0, n_classes, (k, rows), generator=g)
    valid = torch.ones(k, rows, dtype=torch.bool)
    fit_probe(h, y, valid, n_classes, steps=2)            # untimed: first-call costs
    return best_of_two(clock, lambda: fit_probe(h, y, valid, n_classes, steps=steps)) / (steps * k * rows)
