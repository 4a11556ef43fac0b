"""What one Ray Tune trial computes, free of Ray: a source model, or a target trial's k folds.

Both train all k folds of a repeat at once (paragrid.models.train.train_folds, fold-vectorised)
on features z-normalised per corpus and per step (paragrid.grid.normalise). A target trial
returns its rows of the results table (one per fold, docs/FORMATS.md section 4) and of the
curves table (section 5); the runner writes them to the trial's own folder.
"""
from __future__ import annotations

import json
import socket
import time

import numpy as np
import pandas as pd

from paragrid.grid.normalise import zscore
from paragrid.grid.sources import Corpus, SourceJob, classes_of, encode, steps_for
from paragrid.grid.spec import Spec, Trial, parse_source
from paragrid.grid.folds import repeat_seed

RESULT_COLUMNS = [
    "spec_name", "spec_hash", "trial_id", "method", "sources", "target", "task", "budget", "repeat",
    "fold", "val_fold", "seed", "test_uar", "val_uar", "best_epoch", "epochs_run",
    "source_uar_before", "source_uar_after", "n_train", "n_val", "n_test", "classes", "confusion",
    "normalisation", "layers", "width", "activation", "dropout", "lr", "optimizer", "batch_size",
    "max_epochs", "patience", "wall_s", "node", "device",
    # added columns (FORMATS.md allows additions): provenance and the full forgetting record
    "weight_decay", "curve_stride", "k", "fold_scheme", "train_folds", "source_models",
    "source_uars", "experiments", "hostname",
]
CURVE_COLUMNS = ["trial_id", "method", "sources", "target", "budget", "repeat", "fold", "epoch",
                 "train_loss", "val_uar", "test_uar"]


def _settings(spec: Spec):
    from paragrid.models.config import Architecture, TrainSettings

    return Architecture(**spec.architecture), TrainSettings(**spec.training)


def _task_data(corpus: Corpus, spec: Spec, repeat: int, budget: int, task: str,
               classes: list[str], x: np.ndarray | None = None):
    """FoldData of one task on one corpus for all k steps of a repeat."""
    from paragrid.models.train import FoldData

    steps = steps_for(corpus, spec, repeat, budget)
    if x is None:
        x = zscore(corpus.x, steps, spec.normalisation)
    y = encode(corpus.labels[task], classes, f"corpus '{corpus.name}' task '{task}'")
    return FoldData(x=x, y=y, train=steps.train, val=steps.val, test=steps.test,
                    n_classes=len(classes)), steps


def train_source(job: SourceJob, spec: Spec, corpora: dict[str, Corpus], device: str):
    """Train one source model; return (StackedModel, meta) with its per-fold test UAR."""
    from paragrid.models.train import train_folds

    corpus = corpora[job.corpus]
    classes = classes_of(corpus.labels[job.task])
    arch, settings = _settings(spec)
    data, steps = _task_data(corpus, spec, job.repeat, job.budget, job.task, classes)
    seed = repeat_seed(spec.seed, job.repeat)
    out = train_folds(data, arch, settings, method="dnn", seed=seed, device=device, class_names=classes)
    meta = {
        "key": job.key, "task": job.task, "corpus": job.corpus, "corpus_fingerprint": corpus.fingerprint,
        "repeat": job.repeat, "budget": job.budget, "cross": job.cross, "seed": seed, "k": spec.k,
        "classes": classes, "train_folds": [list(t) for t in steps.train_folds],
        "test_uar": out.test_uar.tolist(), "val_uar": out.val_uar.tolist(),
        "best_epoch": out.best_epoch.tolist(), "epochs_run": out.epochs_run.tolist(),
        "normalisation": spec.normalisation, "architecture": spec.architecture,
        "training": spec.training, "device": out.device, "wall_s": out.wall_s,
        "trained_by_spec": spec.name,
    }
    return out.model, meta


def run_trial(trial: Trial, spec: Spec, spec_hash: str, corpora: dict[str, Corpus],
              sources: list[tuple[object, dict]], device: str, node: str
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one target trial's k folds; return (results rows, curves rows).

    `sources` holds (StackedModel, meta) per source of the trial, in the trial's source order.
    """
    from paragrid.models.train import source_task_uar, train_folds

    t0 = time.perf_counter()
    target = corpora[trial.target]
    classes = classes_of(target.labels[spec.task])
    arch, settings = _settings(spec)
    data, steps = _task_data(target, spec, trial.repeat, trial.budget, spec.task, classes)
    seed = repeat_seed(spec.seed, trial.repeat)
    out = train_folds(data, arch, settings, method=trial.method, sources=[m for m, _ in sources],
                      seed=seed, device=device, class_names=classes)

    # Forgetting: each source's own test UAR, before and after transfer, on its own corpus/folds.
    forgetting: dict[str, dict[str, list[float]]] = {}
    for name, (model, meta) in zip(trial.sources, sources):
        task, other = parse_source(name)
        if other is None or other == trial.target:  # same corpus: the target's steps, same x
            src_data, _ = _task_data(target, spec, trial.repeat, trial.budget, task, meta["classes"],
                                     x=data.x)
        else:  # cross-corpus: the source corpus's own split, full budget, its own statistics
            src_data, _ = _task_data(corpora[other], spec, trial.repeat, meta["budget"], task,
                                     meta["classes"])
        after = source_task_uar(out.model, model, src_data)
        forgetting[name] = {"before": [float(v) for v in meta["test_uar"]],
                            "after": [float(v) for v in np.asarray(after)]}
    wall_s = time.perf_counter() - t0

    single = forgetting[trial.sources[0]] if len(trial.sources) == 1 else None
    n_train = _per_fold(out.n_train, data.train)
    n_val = _per_fold(out.n_val, data.val)
    n_test = _per_fold(out.n_test, data.test)
    a, s = spec.architecture, spec.training
    rows = []
    for f in range(spec.k):
        rows.append({
            "spec_name": spec.name, "spec_hash": spec_hash, "trial_id": trial.trial_id,
            "method": trial.method, "sources": trial.sources_label, "target": trial.target,
            "task": spec.task, "budget": trial.budget, "repeat": trial.repeat, "fold": f,
            "val_fold": int(steps.val_fold[f]), "seed": seed,
            "test_uar": float(out.test_uar[f]), "val_uar": float(out.val_uar[f]),
            "best_epoch": int(out.best_epoch[f]), "epochs_run": int(out.epochs_run[f]),
            "source_uar_before": single["before"][f] if single else None,
            "source_uar_after": single["after"][f] if single else None,
            "n_train": n_train[f], "n_val": n_val[f], "n_test": n_test[f],
            "classes": json.dumps(classes),
            "confusion": json.dumps(np.asarray(out.confusion[f]).astype(int).tolist()),
            "normalisation": spec.normalisation, "layers": a["layers"], "width": a["width"],
            "activation": a["activation"], "dropout": a["dropout"], "lr": s["lr"],
            "optimizer": s["optimizer"], "batch_size": s["batch_size"], "max_epochs": s["max_epochs"],
            "patience": s["patience"], "wall_s": wall_s, "node": node, "device": out.device,
            "weight_decay": s["weight_decay"], "curve_stride": s["curve_stride"], "k": spec.k,
            "fold_scheme": spec.fold_scheme, "train_folds": json.dumps(list(steps.train_folds[f])),
            "source_models": json.dumps([m["key"] for _, m in sources]),
            "source_uars": json.dumps({n: {"before": v["before"][f], "after": v["after"][f]}
                                       for n, v in forgetting.items()}) if forgetting else None,
            "experiments": json.dumps(list(trial.experiments)), "hostname": socket.gethostname(),
        })
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    results = results.astype({"source_uar_before": "float64", "source_uar_after": "float64",
                              "patience": "Int64"})

    curves = out.curves.copy()
    for col, val in (("trial_id", trial.trial_id), ("method", trial.method),
                     ("sources", trial.sources_label), ("target", trial.target),
                     ("budget", trial.budget), ("repeat", trial.repeat)):
        curves[col] = val
    return results, curves[CURVE_COLUMNS].reset_index(drop=True)


def _per_fold(counts, mask: np.ndarray) -> list[int]:
    counts = np.asarray(mask).sum(axis=1) if counts is None else np.asarray(counts)
    return [int(c) for c in counts]
