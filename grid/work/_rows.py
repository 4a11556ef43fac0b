"""The rows a trial adds to the results table: one per (trial, fold), docs/FORMATS.md section 4.

Every setting that decides a number is recorded in every row (architecture and where it came
from, initialisation, training settings, updates rule, normalisation, fold scheme, seed), so
a row can be traced to its trial and re-run without the spec that produced it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from paragrid.grid.data import FoldSteps
from paragrid.grid.spec import Spec, Trial
from paragrid.grid.store import ResultRow, frame


@dataclass
class TrialRecord:
    """What the rows of one trial need besides the trainer's outcome."""

    trial: Trial
    steps: FoldSteps
    seed: int
    folds: slice                      # the trial's fold-models in the packed outcome
    classes: list[str]
    source_keys: list[str]
    forgetting: dict[str, dict[str, list[float]]]
    wall_s: float
    node: str
    device: str
    pack_id: str
    pack_size: int
    feature_set: str                  # the results column: the spec's feature-set label ('' = no axis)
    gpu_id: str | None = None
    speaker_confusion: list[str | None] | None = None  # per fold: JSON {speaker: confusion}


def result_rows(rec: TrialRecord, out, spec: Spec, spec_hash: str, hostname: str) -> list[ResultRow]:
    """One row per fold of `rec.trial`, read from the packed outcome `out` (a FoldOutcome);
    `results_frame` makes the table of a whole pack's rows at once (one frame, not one per trial:
    building a 10-row frame cost ~30 ms, more than a tiny trial's training)."""
    t, sl = rec.trial, rec.folds
    a, s = spec.arch_for(t.target), spec.training_for(t.target)
    origin, arch_file = spec.origin_for(t.target)
    single = rec.forgetting[t.sources[0]] if len(t.sources) == 1 and rec.forgetting else None

    def per_fold(values) -> np.ndarray:
        return np.asarray(values)[sl]

    test_uar, val_uar = per_fold(out.test_uar), per_fold(out.val_uar)
    best_epoch, epochs_run = per_fold(out.best_epoch), per_fold(out.epochs_run)
    n_train, n_val, n_test = per_fold(out.n_train), per_fold(out.n_val), per_fold(out.n_test)
    epoch_cap, steps_run = per_fold(out.epoch_cap), per_fold(out.optimizer_steps)
    confusion = np.asarray(out.confusion)[sl]
    rows = []
    for f in range(len(test_uar)):
        rows.append(ResultRow(
            spec_name=spec.name, spec_hash=spec_hash, trial_id=t.trial_id,
            method=t.method, sources=t.sources_label, target=t.target,
            task=spec.task, budget=t.budget, repeat=t.repeat, fold=f,
            val_fold=int(rec.steps.val_fold[f]), seed=rec.seed,
            test_uar=float(test_uar[f]), val_uar=float(val_uar[f]),
            best_epoch=int(best_epoch[f]), epochs_run=int(epochs_run[f]),
            source_uar_before=single["before"][f] if single else None,
            source_uar_after=single["after"][f] if single else None,
            n_train=int(n_train[f]), n_val=int(n_val[f]), n_test=int(n_test[f]),
            classes=json.dumps(rec.classes),
            confusion=json.dumps(confusion[f].astype(int).tolist()),
            normalisation=spec.normalisation, layers=a.layers, width=a.width,
            activation=a.activation, dropout=a.dropout, lr=s.lr,
            optimizer=s.optimizer, batch_size=s.batch_size, max_epochs=s.max_epochs,
            patience=s.patience, wall_s=rec.wall_s, node=rec.node, device=rec.device,
            weight_decay=s.weight_decay, curve_stride=s.curve_stride,
            k=int(rec.steps.train.shape[0]),
            fold_scheme=spec.fold_scheme, train_folds=json.dumps(list(rec.steps.train_folds[f])),
            source_models=json.dumps(rec.source_keys),
            source_uars=json.dumps({n: {key: v[key][f] for key in v} for n, v in rec.forgetting.items()})
            if rec.forgetting else None,
            experiments=json.dumps(list(t.experiments)), hostname=hostname,
            architecture_origin=origin, architecture_file=arch_file, init=a.init,
            updates=s.updates, epoch_cap=int(epoch_cap[f]),
            optimizer_steps=int(steps_run[f]),
            source_probe_uar_after=single["probe_after"][f] if single else None,
            pack_id=rec.pack_id, pack_size=rec.pack_size,
            # leave-one-out schemes: the speaker / session a step tests and validates on
            test_unit=rec.steps.test_unit[f] if rec.steps.test_unit else None,
            val_unit=rec.steps.val_unit[f] if rec.steps.val_unit else None,
            rng=out.rng,  # the random-stream kind (models/streams.py)
            precision=s.precision, gpu_id=rec.gpu_id, feature_set=rec.feature_set,
            speaker_confusion=rec.speaker_confusion[f] if rec.speaker_confusion else None,
            class_weights=s.class_weights,
        ))
    return rows


def speaker_confusions(speakers: np.ndarray, y: np.ndarray, test: np.ndarray, pred: np.ndarray | None,
                       n_classes: int) -> list[str | None]:
    """Per fold (row of `test` (F, N)): JSON {speaker: confusion matrix (rows = truth)} of its test
    rows, counted with one np.add.at per fold; None per fold when there are no predictions."""
    if pred is None:
        return [None] * test.shape[0]
    names, codes = np.unique(np.asarray(speakers).astype(str), return_inverse=True)
    out = []
    for f in range(test.shape[0]):
        rows = np.flatnonzero(test[f])
        counts = np.zeros((len(names), n_classes, n_classes), dtype=np.int64)
        np.add.at(counts, (codes[rows], y[rows], pred[f, rows]), 1)
        present = np.flatnonzero(counts.sum(axis=(1, 2)))
        out.append(json.dumps({str(names[s]): counts[s].tolist() for s in present}))
    return out


def results_frame(rows: list[ResultRow]) -> pd.DataFrame:
    """The results table (docs/FORMATS.md section 4) of rows made by result_rows, typed."""
    return frame(rows, ResultRow)
