"""One Ray Tune run of `paragrid tune`: the tuning trainable, the searcher and scheduler, a Tuner.

The Ray session and the per-trial resources are the grid's own (paragrid.grid.console), so a
run and a tuning session meet a cluster the same way. Tune's own JSON and CSV logger callbacks
are passed explicitly, so Ray's tools see every trial's per-epoch validation UAR in
RUNDIR/tune/<corpus>/ray/ whatever the environment says.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from paragrid.grid.tune._study import METRIC
from paragrid.grid.tune._trial import tune_trainable


def run_tune(ctx, searcher, scheduler, *, resources: dict, concurrent: int, out_dir: Path,
             time_budget_s: float | None, verbose: bool, callbacks: list) -> None:
    """One Ray Tune run of `searcher`'s jobs (it says when it is finished)."""
    from ray import tune  # heavy: ray
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback  # heavy: ray

    trainable = tune.with_parameters(tune_trainable, ctx=ctx)
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", search_alg=searcher, scheduler=scheduler,
            num_samples=-1, time_budget_s=time_budget_s, max_concurrent_trials=concurrent,
            reuse_actors=True, trial_dirname_creator=lambda trial: f"trial-{trial.trial_id}"),
        # Ray's own experiment folder (logs, error files, Tune's JSON/CSV logs) sits next to the study.
        run_config=tune.RunConfig(
            name=time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}", storage_path=str(out_dir / "ray"),
            verbose=1 if verbose else 0,
            callbacks=[JsonLoggerCallback(), CSVLoggerCallback(), *callbacks]),
    )
    tuner.fit()
