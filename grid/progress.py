"""What the console shows while a grid runs: the plan, a time estimate, one line per change.

The estimate comes from a quick calibration on the driver (the real trainer timed for a few
epochs on a sample of a real corpus, which gives a rate per row-weight and a cost per step) and
a cost model of each trial (rows x weights x epochs, plus steps x epochs); once trials finish,
their observed speed rescales it. Either way it is an estimate and is labelled as one.

Ray's own output is silenced by the runner; this module prints compact lines only. Errors of a
trial are one line naming the trial and its error, and where the full traceback is.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from ray import tune


def fmt_duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def say(line: str) -> None:
    print(line, flush=True)


# ----------------------------------------------------------------------------- estimate

@dataclass(frozen=True)
class Calibration:
    flops_per_s: float       # training + validation arithmetic, as the stacked trainer achieves it
    batch_overhead_s: float  # fixed cost of one optimisation step of the stacked trainer
    trial_overhead_s: float  # per trial: data preparation, model build, writing files

    def epoch_seconds(self, *, k: int, n_train: float, n_val: float, n_in: int, n_classes: int,
                      arch: dict, batch_size: int, columns: int = 1) -> float:
        """One epoch of all k folds: training passes (x3 for backward) and the validation pass."""
        w, layers = arch["width"], arch["layers"]
        params = n_in * w + (layers - 1) * w * w + w * n_classes
        flops = 2 * params * k * (3 * n_train + n_val) * columns
        batches = max(1, math.ceil(n_train / batch_size))
        return batches * self.batch_overhead_s * columns + flops / self.flops_per_s


def calibrate(arch: dict, training: dict, x, y, n_classes: int, k: int, threads: int = 1) -> Calibration:
    """Time the real stacked trainer on a sample of a real corpus (<= 2000 rows), with the spec's
    architecture, optimiser and batch size: once at the spec's batch size and once with one batch
    per epoch, which separates the fixed cost per step from the cost per row. ~1-3 s on a CPU."""
    import numpy as np
    import torch

    from paragrid.models.config import Architecture, TrainSettings
    from paragrid.models.train import FoldData, train_folds

    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    fold_of = np.random.default_rng(0).permutation(n) % k
    test = fold_of[None] == np.arange(k)[:, None]
    val = np.roll(test, 1, axis=0)
    data = FoldData(x=x, y=np.asarray(y), train=~(test | val), val=val, test=test, n_classes=n_classes)
    n_train, n_val = float(data.train.sum(1).mean()), float(val.sum(1).mean())
    architecture = Architecture(**arch)

    def per_epoch(batch: int) -> tuple[float, float]:
        """(seconds per epoch, seconds of set-up) from a 1- and a 3-epoch run."""
        times = []
        for epochs in (1, 3):
            settings = TrainSettings(**{**training, "batch_size": batch, "max_epochs": epochs,
                                        "patience": None, "curve_stride": 1000})
            t0 = time.perf_counter()
            train_folds(data, architecture, settings, device="cpu")
            times.append(time.perf_counter() - t0)
        epoch = max(1e-6, (times[1] - times[0]) / 2)
        return epoch, max(0.0, times[0] - epoch)

    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        at_batch, setup = per_epoch(training["batch_size"])
        one_batch, _ = per_epoch(int(data.train.sum(1).max()))
    finally:
        torch.set_num_threads(old_threads)
    batches = max(1, math.ceil(n_train / training["batch_size"]))
    step = max(0.0, (at_batch - one_batch) / max(1, batches - 1))
    rows_time = max(1e-6, one_batch - step)
    w, layers = arch["width"], arch["layers"]
    params = x.shape[1] * w + (layers - 1) * w * w + w * n_classes
    flops = 2 * params * k * (3 * n_train + n_val)
    return Calibration(flops_per_s=flops / rows_time, batch_overhead_s=step, trial_overhead_s=setup + 0.3)


# ----------------------------------------------------------------------------- live progress

KINDS = ("source", "dnn", "transfer")
LABELS = {"source": "source models", "dnn": "dnn", "transfer": "transfer"}


def kind_of(item: dict) -> str:
    if item["kind"] == "source":
        return "source"
    return "dnn" if item["method"] == "dnn" else "transfer"


class Progress(tune.Callback):
    """Counts the grid's trials by kind and prints one compact line whenever something changes,
    and at least every `heartbeat_s` while trials run.

    Stage 1 (source models, and the DNN baselines that need none) and stage 2 (transfer trials)
    run in one Tune run: a transfer trial starts as soon as its own source models exist.
    `on_done(item_id)` is called on the driver as each trial finishes (the runner merges its
    files there); `error_of(item_id, trial)` returns (one-line error, log location);
    `on_tick()` runs on every Tune step.
    ETA: the calibrated estimate per trial, rescaled by how fast finished trials really were.
    """

    def __init__(self, name: str, items: list[dict], estimates: dict[str, float] | None, slots: int,
                 verbose: bool, on_done: Callable[[str], None] | None = None,
                 error_of: Callable[[str, object], tuple[str, str]] | None = None,
                 max_failures: int = 0, out: Callable[[str], None] = say, min_interval_s: float = 1.0,
                 on_tick: Callable[[], None] | None = None, heartbeat_s: float | None = 60.0):
        self.name, self.verbose, self.slots = name, verbose, max(1, slots)
        # A paper-size trial trains for minutes: while trials run, the status line is repeated at
        # least this often, so a quiet console still shows elapsed time and a fresh ETA.
        self.heartbeat_s = heartbeat_s
        self.on_done, self.error_of, self.max_failures, self.out = on_done, error_of, max_failures, out
        self.on_tick = on_tick  # called every Tune step (the runner refreshes its lock there)
        self.kind = {it["id"]: kind_of(it) for it in items}
        self.cost = {it["id"]: (estimates or {}).get(it["id"], 1.0) for it in items}
        self.has_estimate = estimates is not None
        self.total = {k: sum(v == k for v in self.kind.values()) for k in KINDS}
        self.done = dict.fromkeys(KINDS, 0)
        self.failed = dict.fromkeys(KINDS, 0)
        self.finished: set[str] = set()
        self.completed: list[tuple[float, float]] = []  # (when, estimated cost) of each success
        self.retried = 0
        self.running: set[str] = set()
        self.failures: list[tuple[str, str, str]] = []  # (item id, error line, log)
        self.t0 = time.time()
        self.started_at: dict[str, float] = {}
        self.attempts: dict[str, int] = {}
        self.min_interval_s, self._last_line, self._pending = min_interval_s, 0.0, False

    @staticmethod
    def _id(trial) -> str:
        return trial.config["item"]["id"]

    # -- Tune hooks (all run on the driver)
    def on_trial_start(self, iteration, trials, trial, **info):
        tid = self._id(trial)
        self.running.add(tid)
        self.started_at[tid] = time.time()
        self.attempts[tid] = self.attempts.get(tid, 0) + 1
        if self.verbose:
            self.line(f"start {tid}", force=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        tid = self._id(trial)
        self.running.discard(tid)
        self.done[self.kind[tid]] += 1
        self.finished.add(tid)
        self.completed.append((time.time(), self.cost[tid]))
        if self.on_done is not None:
            self.on_done(tid)
        wall = time.time() - self.started_at.get(tid, time.time())
        self.line(f"done {tid} ({fmt_duration(wall)})" if self.verbose else None,
                  force=self.verbose or self.left() == 0)

    def on_trial_recover(self, iteration, trials, trial, **info):
        tid = self._id(trial)
        self.running.discard(tid)
        self.retried += 1
        err, log = self._error(trial)
        n = self.attempts.get(tid, 1)
        self.line(f"trial {tid} failed (attempt {n} of {self.max_failures + 1}), retrying: {err} "
                  f"[log: {log}]", force=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        tid = self._id(trial)
        self.running.discard(tid)
        err, log = self._error(trial)
        self.fail(tid, err, log, "FAILED")

    def fail(self, tid: str, err: str, log: str, verb: str = "skipped") -> None:
        """A trial that will not produce results (failed after retries, or its source failed)."""
        self.failed[self.kind[tid]] += 1
        self.finished.add(tid)
        self.failures.append((tid, err, log))
        self.line(f"trial {tid} {verb}: {err}" + (f" [log: {log}]" if log else ""), force=True)

    # -- output
    def _error(self, trial) -> tuple[str, str]:
        if self.error_of is not None:
            return self.error_of(self._id(trial), trial)
        return "error", str(getattr(trial, "error_file", "") or "")

    def left(self) -> int:
        return sum(self.total.values()) - sum(self.done.values()) - sum(self.failed.values())

    def eta_s(self) -> float | None:
        if self.left() <= 0:
            return 0.0
        now = time.time()
        remaining = sum(c for t, c in self.cost.items() if t not in self.finished)
        if len(self.completed) >= 2:
            # Observed seconds per unit of estimated cost since the first trial finished (worker
            # start-up excluded), parallelism included.
            first_t, first_cost = self.completed[0]
            cost = sum(c for _, c in self.completed) - first_cost
            if cost > 0 and now > first_t:
                return (now - first_t) / cost * remaining
        if self.has_estimate:
            started = min(self.started_at.values(), default=now)
            return max(0.0, remaining / self.slots - (now - started))
        return None

    def stage(self) -> str:
        src = self.total["source"]
        if src and self.done["source"] + self.failed["source"] < src:
            return "stage 1/2"
        return "stage 2/2" if self.total["transfer"] else "stage 1/1"

    def status(self) -> str:
        eta = self.eta_s()
        eta_s = "?" if eta is None else f"~{fmt_duration(eta)}"
        counts = ", ".join(f"{LABELS[k]} {self.done[k]}/{self.total[k]}" for k in KINDS if self.total[k])
        failed = sum(self.failed.values())
        extra = (f", {failed} failed" if failed else "") + \
            (f", {self.retried} retried" if self.retried else "")
        return (f"[{self.name} {self.stage()}] {counts} | {len(self.running)} running{extra} | "
                f"{fmt_duration(time.time() - self.t0)} elapsed, ETA {eta_s} (estimate)")

    def line(self, event: str | None, force: bool = False) -> None:
        """The event (if any), then the status line (rate-limited unless forced)."""
        if event:
            self.out(f"  {event}")
        now = time.time()
        if force or now - self._last_line >= self.min_interval_s:
            self.out(self.status())
            self._last_line, self._pending = now, False
        else:
            self._pending = True  # printed by on_step_end once the interval has passed

    def on_step_end(self, iteration, trials, **info):
        if self.on_tick is not None:
            self.on_tick()
        quiet_for = time.time() - self._last_line
        if self._pending and quiet_for >= self.min_interval_s:
            self.line(None, force=True)
        elif self.running and self.heartbeat_s is not None and quiet_for >= self.heartbeat_s:
            self.line(None, force=True)
