"""Ray Tune's overhead per trial: from a trial being started to its first epoch, and from its
last epoch to Tune seeing it complete, with trials so small that the overhead is what remains.

Each trial is a function trainable that trains a tiny stacked model (2 x 32, k = 4 folds,
--rows utterances, --epochs epochs) with paragrid.models.train.train_folds and stamps the end
of every epoch through epoch_callback. A Tune callback stamps, on the driver, when Tune has
started each trial's actor (on_trial_start) and when it completes the trial (same machine,
same clock). Per trial:

  actor started -> trainable entered    Tune handing the trial to its (new or reused) actor
  trainable entered -> train_folds      imports (first trial of an actor only) and data set-up
  train_folds -> first epoch starts     the trainer's own set-up (end of epoch 1 minus one epoch)
  last epoch -> Tune sees it done       final evaluation, tune.report, the result travelling back
  one epoch                             median epoch duration: the useful work, for scale

and for the whole fit: ray.init, Tuner.fit wall time, and the overhead per trial in CPU-slot
seconds: (fit wall x slots - time spent in epochs) / trials, which also counts the time before
an actor exists (scheduling, process start) that no stamp inside a trial can see.
Settings mirror the grid runner: 1 CPU per trial, reuse_actors (switch off with
--no-reuse-actors), function trainable, tune.report at the end.

Run: .venv/bin/python bench/ray_overhead.py --trials 8 --epochs 5 [--record]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings

import benchlib


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--trials", type=int, default=8, help="trials (default 8)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per trial (default 5)")
    ap.add_argument("--rows", type=int, default=200, help="utterances per trial's data set (default 200)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs given to Ray (default: all)")
    ap.add_argument("--no-reuse-actors", action="store_true", help="a fresh actor per trial")
    return ap.parse_args(argv)


def trainable(config: dict) -> None:
    """One tiny trial: train_folds with an epoch stamp, then report the stamps."""
    t_enter = time.time()
    import numpy as np
    import torch
    from ray import tune

    from paragrid.models.config import Architecture, TrainSettings
    from paragrid.models.train import train_folds
    from paragrid.models.data import FoldData
    from paragrid.models.options import Pack, Run

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(config["seed"])
    n, k = config["rows"], 4
    x = rng.normal(size=(n, 16)).astype(np.float32)
    y = rng.integers(0, 4, n)
    fold = rng.permutation(np.arange(n) % k)
    test = np.stack([fold == f for f in range(k)])
    val = np.stack([fold == (f + 1) % k for f in range(k)])
    stamps: list[float] = []
    t_call = time.time()
    train_folds(FoldData(x, y, ~(test | val), val, test, 4), Architecture(layers=2, width=32, dropout=0.5),
                TrainSettings(max_epochs=config["epochs"], batch_size=32, curve_stride=config["epochs"]),
                pack=Pack(seed=config["seed"]),
                run=Run(device="cpu", epoch_callback=lambda e, best: bool(stamps.append(time.time()))))
    tune.report({"t_enter": t_enter, "t_call": t_call, "stamps": stamps, "t_report": time.time()})


def main(argv=None) -> dict:
    args = parse_args(argv)
    for key, value in (("RAY_AIR_NEW_OUTPUT", "0"), ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"),
                       ("RAY_USAGE_STATS_ENABLED", "0"), ("RAY_DEDUP_LOGS", "0")):
        os.environ.setdefault(key, value)
    with benchlib.contained(loggers=("ray", "ray.tune", "ray.train", "ray.air")):
        return run(args)


def run(args: argparse.Namespace) -> dict:
    import ray
    from ray import tune

    class Stamps(tune.Callback):
        def __init__(self):
            self.start: dict[str, float] = {}
            self.done: dict[str, float] = {}
            self.result: dict[str, dict] = {}

        def on_trial_start(self, iteration, trials, trial, **info):
            self.start.setdefault(trial.trial_id, time.time())

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.result[trial.trial_id] = result

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.done[trial.trial_id] = time.time()

    # Workers cannot import this script (bench/ is not a package): ship `trainable` by value,
    # as happens anyway when the script runs as __main__.
    ray.cloudpickle.register_pickle_by_value(sys.modules[trainable.__module__])
    load0 = benchlib.load()
    info = benchlib.machine(1)
    stamps = Stamps()
    t0 = time.time()
    started = not ray.is_initialized()   # reuse a running Ray (a test's), as the grid runner does
    if started:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=True)
    t_init = time.time() - t0
    ray_cpus = ray.cluster_resources().get("CPU", args.cpus)
    try:
        with tempfile.TemporaryDirectory(prefix="paragrid-bench-ray-") as tmp:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space={"seed": tune.grid_search(list(range(args.trials))), "epochs": args.epochs,
                             "rows": args.rows},
                tune_config=tune.TuneConfig(num_samples=1, reuse_actors=not args.no_reuse_actors),
                run_config=tune.RunConfig(name="bench", storage_path=tmp, verbose=0, callbacks=[stamps]),
            )
            t1 = time.time()
            grid = tuner.fit()
            t_fit = time.time() - t1
            n_errors = grid.num_errors
    finally:
        if started:
            ray.shutdown()
    load1 = benchlib.load()

    per = []
    for tid, res in stamps.result.items():
        s = res["stamps"]
        epoch = statistics.median(b - a for a, b in zip(s, s[1:])) if len(s) > 1 else 0.0
        start, done = stamps.start.get(tid), stamps.done.get(tid)
        if start is None or done is None:
            continue
        per.append({"to_trainable": res["t_enter"] - start, "to_train_folds": res["t_call"] - res["t_enter"],
                    "to_first_epoch": s[0] - epoch - res["t_call"], "after_last_epoch": done - s[-1],
                    "epoch": epoch, "train": s[-1] - s[0] + epoch})

    def stat(key: str) -> tuple[float, float, float]:
        v = [p[key] for p in per]
        return (min(v), statistics.median(v), max(v)) if v else (float("nan"),) * 3

    labels = (("actor started -> trainable entered", "to_trainable"),
              ("trainable entered -> train_folds called", "to_train_folds"),
              ("train_folds called -> first epoch starts", "to_first_epoch"),
              ("last epoch ends -> Tune sees it done", "after_last_epoch"),
              ("one epoch (useful work)", "epoch"))
    rows = [[label, *(f"{1e3 * v:.0f}" for v in stat(key))] for label, key in labels]
    slots = min(int(ray_cpus), args.trials)
    useful = sum(p["train"] for p in per)
    busy = useful / (t_fit * slots) if per else float("nan")
    overhead = (t_fit * slots - useful) / max(1, len(per))
    body = benchlib.md_table(["per trial", "min ms", "median ms", "max ms"], rows)
    notes = [f"{args.trials} trials x {args.epochs} epochs of a 2 x 32 model on {args.rows} rows, k = 4; "
             f"{ray_cpus:g} CPUs in Ray, 1 CPU per trial, reuse_actors={not args.no_reuse_actors}; "
             f"{len(per)} trials stamped, {n_errors} errors",
             f"ray.init {t_init:.1f} s{'' if started else ' (Ray was already running)'}; Tuner.fit {t_fit:.1f} s; "
             f"epochs fill {100 * busy:.0f}% of the {slots} CPU slot(s) during the fit: overhead "
             f"{overhead:.2f} slot-seconds per trial",
             "the first trial on each actor pays the worker's imports (torch, paragrid): the max column; "
             "reused actors: the min column"]
    text = benchlib.section("ray_overhead (Ray Tune, per trial)", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    keys = [key for _, key in labels]
    result = {"bench": "ray_overhead", "machine": info, "trials": args.trials, "epochs": args.epochs,
              "stamped": len(per), "errors": n_errors, "ray_init_s": t_init, "fit_s": t_fit, "busy_fraction": busy,
              "overhead_slot_s_per_trial": overhead,
              "per_trial_s": {k: dict(zip(("min", "median", "max"), stat(k))) for k in keys},
              "reuse_actors": not args.no_reuse_actors, "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
