"""What a tuning trial runs on a Ray worker: one configuration on its inner folds, or (nested)
one outer evaluation.

A search trial trains a plain DNN (the paper tuned its architecture with a DNN) on the inner
CV of its stream (grid/tune/_data.py), all inner folds stacked into one model by
paragrid.models.train.train_folds, and reports to Tune every `report_every` epochs the mean
over folds of each fold's best validation UAR so far. The last report (and only it) carries
`finished: True` with the trained objective, so the searcher can tell a trial that trained to
the end from one the scheduler stopped. The data are built on the worker from the corpora the
driver shipped once through Ray's object store (a study's inner data are cached per worker).
"""
from __future__ import annotations

import json
import logging
import socket
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from paragrid.grid.spec import ARCHITECTURE_KEYS, TRAINING_KEYS, TuneSettings
from paragrid.grid.tune._data import HELD_OUT_FOLD, inner_cv
from paragrid.grid.tune._outer import run_outer_job
from paragrid.grid.tune._spec import max_epochs_of
from paragrid.grid.tune._study import METRIC, Job
from paragrid.grid.work import choose_device
from paragrid.models.options import Pack, Run

Report = Callable[[dict], None]


@dataclass
class TrialContext:
    """Everything a worker needs besides the job (shipped once via tune.with_parameters)."""

    spec: Any
    settings: TuneSettings
    corpora: dict                   # name -> paragrid.grid.data._corpus.Corpus
    splits: dict                    # (corpus, repeat) -> fold id per utterance (the grid's split)
    outer_steps: dict = field(default_factory=dict)  # nested: (corpus, repeat) -> the grid's FoldSteps
    report_every: int = 1
    spec_hash: str = ""
    # Test hook: replaces `run_search_job` (e.g. a synthetic learning curve); same contract.
    trainer: Callable[[Job, "TrialContext", Report], dict] | None = None
    cache: dict = field(default_factory=dict)


def report_stride(max_epochs: int, reports: int = 100) -> int:
    """Report every this many epochs: about `reports` results per trial, so a 600-epoch
    search does not send Tune 600 results per trial (the scheduler decides in epochs anyway)."""
    return max(1, max_epochs // reports)


def trial_settings(config: dict, spec, settings: TuneSettings):
    """(Architecture, TrainSettings) of a trial: its sampled values over the spec's."""
    values = {**spec.architecture.to_dict(), **spec.training.to_dict(), **settings.fixed, **config}
    max_epochs = max_epochs_of(spec, settings)
    arch = replace(spec.architecture, **{k: values[k] for k in ARCHITECTURE_KEYS})
    # curves are not kept: curve_stride = max_epochs records as little as possible
    training = replace(spec.training, **{k: values[k] for k in TRAINING_KEYS}, max_epochs=max_epochs,
                       curve_stride=max_epochs)
    return arch, training


class Reporter:
    """What a search trial tells Tune, and when: every `every` epochs the running objective
    (mean over folds of each fold's best validation UAR so far), one report late, so that the
    last report can be the finished result (`finished: True`, the trained objective) and the
    scheduler can tell a fully trained trial from one it stopped. Test hooks that fake a
    learning curve use it too, so they report exactly as a real trial does."""

    def __init__(self, report: Report, every: int = 1) -> None:
        self.report, self.every, self.pending = report, max(1, int(every)), None

    def epoch(self, epoch: int, objective: float) -> None:
        if epoch % self.every == 0:
            if self.pending:
                self.report(self.pending)
            self.pending = {METRIC: float(objective), "epoch": int(epoch), "finished": False}

    def finish(self, result: dict) -> dict:
        if self.pending and self.pending["epoch"] < result["epoch"]:
            self.report(self.pending)
        self.pending = None
        self.report(result)
        return result


def evaluate_config(data, arch, train_settings, seed: int, report: Report | None = None,
                    device: str | None = None, every: int = 1) -> dict:
    """Train the DNN of one configuration on the tuning folds; return its objective (and, with
    `report`, report its progress through a Reporter)."""

    from paragrid.models.evaluate import SingleClassWarning  # heavy: torch
    from paragrid.models.train import train_folds  # heavy: torch

    epoch_callback = None
    reporter = Reporter(report, every) if report is not None else None
    best = np.full(data.n_folds, -np.inf)
    t0 = time.perf_counter()
    if reporter is not None:
        def on_epoch(epoch: int, val_uar: np.ndarray) -> bool:
            # fmax: a fold not trained yet reports nan, which must not poison the mean.
            np.fmax(best, np.asarray(val_uar, dtype=float), out=best)
            reporter.epoch(epoch, float(best.mean()))
            return False
        epoch_callback = on_epoch
    # The synthetic test row makes every fold "predict one class on its test fold": not news.
    train_log = logging.getLogger("paragrid.models")
    level = train_log.level
    train_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingleClassWarning)
            out = train_folds(data, arch, train_settings, "dnn", pack=Pack(seed=seed),
                              run=Run(device=device, epoch_callback=epoch_callback))
    finally:
        train_log.setLevel(level)
    val = np.asarray(out.val_uar, dtype=float)
    result = {METRIC: float(np.mean(val)), "val_uar_std": float(np.std(val)),
              "epoch": int(np.max(out.epochs_run)), "finished": True,
              "val_uar_folds": [float(v) for v in val], "best_epochs": [int(v) for v in out.best_epoch],
              "device": out.device, "wall_s": float(time.perf_counter() - t0)}
    return reporter.finish(result) if reporter is not None else result


def inner_data_of(job: Job, ctx: TrialContext):
    """The inner CV of the job's stream (cached: every trial of a study trains on it)."""

    if job.stream not in ctx.cache:
        spec, corpus = ctx.spec, ctx.corpora[job.corpus]
        if job.repeat is None:   # same-corpus mode: every tuning repeat, fold 0 held out
            parts = [(ctx.splits[(job.corpus, r)], HELD_OUT_FOLD) for r in range(ctx.settings.repeats)]
        else:
            parts = [(ctx.splits[(job.corpus, job.repeat)], job.test_fold)]
        ctx.cache.clear()  # one study's data at a time per worker
        ctx.cache[job.stream] = inner_cv(corpus, spec.task, spec.k, spec.normalisation, parts)
    return ctx.cache[job.stream]


def run_search_job(job: Job, ctx: TrialContext, report: Report, device: str | None = None) -> dict:
    arch, train_settings = trial_settings(job.params, ctx.spec, ctx.settings)
    data = inner_data_of(job, ctx).data
    return evaluate_config(data, arch, train_settings, job.seed, report=report, device=device,
                           every=ctx.report_every)


def tune_trainable(config: dict, *, ctx: TrialContext) -> None:
    """The Ray Tune trainable of both modes: config["job"] says what to run."""

    import ray  # heavy: ray
    import torch  # heavy: torch
    from ray import tune  # heavy: ray

    torch.set_num_threads(max(1, int(ctx.spec.resources.cpu)))  # as the grid's trials do
    choice = choose_device(ray.get_gpu_ids(), ray.util.get_node_ip_address())
    choice.check()  # a GPU torch cannot use: one line naming the node, before any training
    device = choice.device
    job: Job = config["job"]
    if job.kind == "outer":
        row = run_outer_job(job, ctx, device=device, node=socket.gethostname())
        # The row as JSON text: Tune flattens nested dicts in the results it hands the searcher.
        tune.report({METRIC: row["val_uar"], "test_uar": row["test_uar"], "epoch": row["epochs_run"],
                     "finished": True, "row_json": json.dumps(row)})
    elif ctx.trainer is not None:
        ctx.trainer(job, ctx, tune.report)
    else:
        run_search_job(job, ctx, tune.report, device=device)
