"""The Ray side of `paragrid tune`: the session, the per-trial resources, and one Tune run.

Only documented Ray settings are used: the environment variables below are those of Ray
Tune's "Environment variables used by Ray Tune" page (TUNE_DISABLE_SIGINT_HANDLER), the Ray
AIR user guide (RAY_AIR_NEW_OUTPUT), the usage-stats page (RAY_USAGE_STATS_ENABLED) and the
logging guide (RAY_DEDUP_LOGS); each is set only where the user has not set it. Tune's own
JSON and CSV logger callbacks are passed explicitly, so Ray's tools see every trial's
per-epoch validation UAR in RUNDIR/tune/<corpus>/ray/ whatever the environment says.
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path

from paragrid.grid.tune_study import METRIC


def quiet(verbose: bool) -> None:
    """Keep Ray's console output from drowning paragrid's lines (verbose lets it through)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")           # the classic reporter: silent at verbose=0
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C stops at once; the studies resume
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    level = logging.WARNING if verbose else logging.CRITICAL
    for name in ("ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("ray").setLevel(logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")


def ray_session(address: str | None, verbose: bool, say):
    """A Ray connection for the call: the grid's own (paragrid.grid.schedule), after `quiet`."""
    from paragrid.grid.schedule import ray_session as grid_session

    quiet(verbose)
    return grid_session(address, verbose, say)


def trial_resources(spec, ray, say) -> tuple[dict, int]:
    """The per-trial resource request, fitted to the cluster, and how many trials fit at once:
    the grid's rule (paragrid.grid.schedule.fit_resources)."""
    from paragrid.grid.schedule import fit_resources

    slots = fit_resources(spec, ray, say)
    return slots.request, slots.count


def run_tune(ctx, searcher, scheduler, *, resources: dict, concurrent: int, out_dir: Path,
             time_budget_s: float | None, verbose: bool, callbacks: list) -> None:
    """One Ray Tune run of `searcher`'s jobs (it says when it is finished)."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from paragrid.grid.tune_trial import tune_trainable

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
