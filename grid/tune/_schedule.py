"""Early stopping of tuning trials: ASHA (default), median stopping or none, one per study.

Why one scheduler per study ("stream"): in nested tuning every outer step has its own study,
and a step's stopping decisions must depend on that step's trials only. A shared ASHA would
rank step A's trial against step B's, whose inner folds include A's outer test fold: the
test fold would leak into A's choice through the scheduler. `StreamScheduler` keeps one
child scheduler per stream (created on first use) and delegates every trial to its own.

Time is the trial's epoch (`time_attr="epoch"`, reported every few epochs), so rungs are in
epochs whatever the report stride. Grace period: `TuneSettings.grace_epochs`, by default the
slow-start horizon max(150, max_epochs // 4) (grid/spec/_search_space.py says why).

The paper's architecture (the study's trial 0, flagged `baseline` in its job) is never stopped
early: it is the reference every tuned value is compared with, and a slow starter (sigmoid,
lr 5e-4). Trials the scheduler did stop are remembered (`stopped`), so that the outputs can
count them apart from trials ended by a time budget or an interrupt.
"""
from __future__ import annotations

import math

from paragrid.grid.spec import TuneSettings

TIME_ATTR = "epoch"


def child_factory(settings: TuneSettings, max_epochs: int):
    """() -> a fresh ASHA / MedianStoppingRule for one stream, or None for `scheduler: none`."""
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule  # heavy: ray

    grace = settings.grace_epochs(max_epochs)
    if settings.scheduler == "none":
        return lambda: None
    if settings.scheduler == "asha":
        return lambda: ASHAScheduler(time_attr=TIME_ATTR, max_t=max_epochs, grace_period=grace,
                                     reduction_factor=settings.reduction_factor)
    # min_time_slice = inf: never PAUSE a trial for lack of peers (a paused function trial
    # without checkpoints would restart from epoch 1); stop or continue only.
    return lambda: MedianStoppingRule(time_attr=TIME_ATTR, grace_period=grace, min_samples_required=3,
                                      min_time_slice=math.inf, hard_stop=True)


def build_scheduler(settings: TuneSettings, max_epochs: int):
    """The scheduler `paragrid tune` runs with (both modes): grid/tune/_plugins.py.StreamScheduler."""
    from paragrid.grid.tune._plugins import StreamScheduler  # heavy: ray, optuna

    return StreamScheduler(child_factory(settings, max_epochs), grace=settings.grace_epochs(max_epochs),
                           kind=settings.scheduler)


def describe(settings: TuneSettings, max_epochs: int) -> str:
    """One phrase for the console and summary: which scheduler, with which grace period."""
    if settings.scheduler == "none":
        return "no early stopping"
    grace = settings.grace_epochs(max_epochs)
    default = " (the slow-start horizon)" if settings.grace_period is None else ""
    extra = f", reduction factor {settings.reduction_factor}" if settings.scheduler == "asha" else ""
    return f"{settings.scheduler} early stopping, grace {grace} epochs{default}{extra}"
