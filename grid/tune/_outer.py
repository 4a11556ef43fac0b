"""Nested tuning's outer evaluation: one outer step's test fold, scored once with its choice.

Step (repeat r, test fold i) is the grid's own step i of repeat r (grid/sources.steps_for, made
on the driver): fold i tests, the grid's validation fold of that step (fold (i+1) % k in
k-fold schemes) selects the epoch, the other k-2 folds train (the full budget), features
z-normalised as the spec says (grid/data/_normalise.py; `train`: statistics from the step's training
rows only). The network is a plain DNN with the architecture and training values the step's
search chose, and the spec's training settings otherwise (max_epochs, patience, ...): what the
grid would train for a DNN trial of that step with that architecture.

The row has the grid's results columns (docs/FORMATS.md section 4, and the columns the grid
adds: `architecture_origin = tuned-nested`, ...), one row per outer step, so the report and the
statistics read it like any results table. The step's network trains alone (not stacked with the repeat's
other folds) but with the streams of the grid's fold-model i of that repeat (same seed, same
fold id: Pack(seed, fold_ids=[i])), as the grid's DNN of that step would.
"""
from __future__ import annotations

import json
import math
import socket
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from paragrid.grid.data import FoldSteps, classes_of, encode, repeat_seed, zscore
from paragrid.grid.spec import ARCHITECTURE_KEYS, TRAINING_KEYS
from paragrid.grid.store import NestedResultRow, frame
from paragrid.grid.tune._study import Job
from paragrid.models.options import Pack, Run

ORIGIN = "tuned-nested"
# Under normalisation: corpus the outer test fold's features entered the z-scores' statistics,
# so the label says it is not leakage-free (docs/PROTOCOL.md, analysis/stats/_cells.py).
ORIGIN_CORPUS_NORM = "tuned-nested-corpus-norm"


def outer_settings(job: Job, spec):
    """(Architecture, TrainSettings) of the outer network: the choice over the spec's settings."""
    arch = replace(spec.architecture, **{k: job.params[k] for k in ARCHITECTURE_KEYS})
    training = replace(spec.training, **{k: job.params[k] for k in TRAINING_KEYS})
    return arch, training


def outer_data(corpus, spec, all_steps, test_fold: int):
    """(FoldData with F = 1, FoldSteps of that one step, classes) of outer step `test_fold` of a
    repeat whose k steps (the grid's, paragrid.grid.data._corpus.steps_for) are `all_steps`."""
    from paragrid.models.data import FoldData  # heavy: torch

    i = test_fold
    steps = FoldSteps(train=all_steps.train[i:i + 1], val=all_steps.val[i:i + 1],
                      test=all_steps.test[i:i + 1], val_fold=all_steps.val_fold[i:i + 1],
                      train_folds=[all_steps.train_folds[i]])
    labels = corpus.labels[spec.task]
    classes = classes_of(labels)  # as the grid: the corpus's classes (order of the confusion matrix)
    y = encode(labels, classes, f"corpus '{corpus.name}' task '{spec.task}'")
    x = zscore(corpus.x, steps, spec.normalisation)
    data = FoldData(x=x, y=y, train=steps.train, val=steps.val, test=steps.test, n_classes=len(classes))
    return data, steps, classes


def run_outer_job(job: Job, ctx, device: str | None = None, node: str = "") -> dict:
    """Train and score one outer step; return its results row (JSON-able values)."""

    from paragrid.models.train import train_folds  # heavy: torch

    t0 = time.perf_counter()
    spec, corpus = ctx.spec, ctx.corpora[job.corpus]
    arch, settings = outer_settings(job, spec)
    data, steps, classes = outer_data(corpus, spec, ctx.outer_steps[(job.corpus, job.repeat)], job.test_fold)
    from paragrid.models.columns import role_seed  # heavy: torch

    seed = repeat_seed(spec.seed, job.repeat)
    # The random streams of the grid's DNN fold-model of this test fold: the grid seeds its
    # target models with role_seed(repeat seed, "target") (grid/work/_train.py), fold id i.
    out = train_folds(data, arch, settings, "dnn",
                      pack=Pack(seed=role_seed(seed, "target"), fold_ids=[job.test_fold], class_names=classes),
                      run=Run(device=device))
    n_train, n_val, n_test = (int(np.asarray(m).sum()) for m in (data.train, data.val, data.test))
    epochs_run = int(out.epochs_run[0])
    cap = getattr(out, "epoch_cap", None)
    steps_run = getattr(out, "optimizer_steps", None)
    a, s = arch.to_dict(), settings.to_dict()
    row = NestedResultRow(
        spec_name=spec.name, spec_hash=ctx.spec_hash,
        trial_id=f"nested.dnn.{job.corpus}.r{job.repeat}.f{job.test_fold}",
        method="dnn", sources="none", target=job.corpus, task=spec.task,
        budget=spec.k - 2, repeat=job.repeat, fold=job.test_fold,
        val_fold=int(steps.val_fold[0]), seed=seed,
        test_uar=float(out.test_uar[0]), val_uar=float(out.val_uar[0]),
        best_epoch=int(out.best_epoch[0]), epochs_run=epochs_run,
        source_uar_before=None, source_uar_after=None,
        n_train=n_train, n_val=n_val, n_test=n_test, classes=json.dumps(classes),
        confusion=json.dumps(np.asarray(out.confusion[0]).astype(int).tolist()),
        normalisation=spec.normalisation, layers=a["layers"], width=a["width"],
        activation=a["activation"], dropout=a["dropout"], lr=s["lr"],
        optimizer=s["optimizer"], batch_size=s["batch_size"], max_epochs=s["max_epochs"],
        patience=s["patience"], wall_s=time.perf_counter() - t0, node=node,
        device=out.device, weight_decay=s["weight_decay"], curve_stride=s["curve_stride"],
        k=spec.k, fold_scheme=spec.fold_scheme,
        train_folds=json.dumps(list(steps.train_folds[0])), source_models=json.dumps([]),
        source_uars=None, experiments=json.dumps([]), hostname=socket.gethostname(),
        architecture_origin=ORIGIN if spec.normalisation == "train" else ORIGIN_CORPUS_NORM,
        architecture_file=None,
        init=a.get("init", "glorot-uniform"), updates=s.get("updates", "per-epoch"),
        epoch_cap=int(cap[0]) if cap is not None else int(s["max_epochs"]),
        optimizer_steps=int(steps_run[0]) if steps_run is not None
        else epochs_run * math.ceil(n_train / s["batch_size"]),
        source_probe_uar_after=None, pack_id=f"nested.{job.corpus}.r{job.repeat}.f{job.test_fold}",
        pack_size=1, tune_trial=int(job.number), inner_val_uar=job.value,
        test_unit=None, val_unit=None, rng=out.rng, precision=settings.precision, gpu_id=None,
        feature_set=corpus.features,
        speaker_confusion=None, class_weights=s.get("class_weights", "none"),
    )
    return vars(row)


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """The outer evaluations as a results table (the grid's columns, then nested tuning's own),
    in (target, repeat, fold) order; rows stored by an older paragrid leave newer columns null."""
    df = frame(rows, NestedResultRow)
    return df.sort_values(["target", "repeat", "fold"], kind="stable").reset_index(drop=True)


CHOICE_COLUMNS = ["target", "repeat", "test_fold", "tune_trial", "inner_val_uar", *ARCHITECTURE_KEYS,
                  *TRAINING_KEYS, "trials", "complete", "stopped_early", "baseline_inner_val_uar",
                  "test_uar", "val_uar", "best_epoch"]


def choice_record(job: Job, row: dict, counts: dict) -> dict:
    """One outer step's choice: the chosen trial, its inner objective, the study's counts
    (trials, complete, stopped_early, baseline_inner_val_uar) and the outer scores."""
    return {"target": job.corpus, "repeat": job.repeat, "test_fold": job.test_fold,
            "tune_trial": int(job.number), "inner_val_uar": job.value,
            **{k: job.params[k] for k in (*ARCHITECTURE_KEYS, *TRAINING_KEYS)}, **counts,
            "test_uar": row["test_uar"], "val_uar": row["val_uar"], "best_epoch": row["best_epoch"]}


def choices_frame(choices: list[dict]) -> pd.DataFrame:
    """One row per outer step (choice_record), in (target, repeat, test fold) order."""
    return pd.DataFrame(choices, columns=CHOICE_COLUMNS).sort_values(
        ["target", "repeat", "test_fold"], kind="stable").reset_index(drop=True)
