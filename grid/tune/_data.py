"""The inner cross-validation a tuning trial trains on: only rows the search may see.

Both tuning modes score a configuration by an inner CV over the folds of one or more outer
splits with one fold of each split held out:
  * same-corpus mode (`paragrid tune SPEC`): for tuning repeat r, the grid's own split of
    repeat r with its fold 0 (the test fold of the grid's step 0) held out. Optimistic when
    the grid then tests on the other folds with the tuned architecture: they trained or
    validated during the search (hence `architecture_origin = tuned-same-corpus`);
  * nested mode (`paragrid tune SPEC --nested`): for outer step (repeat r, test fold i), the
    grid's split of repeat r with fold i held out; the outer test fold i is evaluated once
    with the architecture chosen here, so no test utterance ever reaches the choice.

Held-out rows are never read: not for the features, not for the labels (classes and label
codes come from the kept rows), not for normalisation (statistics from kept rows only: per
inner step's training rows in the `train` mode, over all kept rows in the `corpus` mode).
Every kept fold validates once while the remaining k-2 kept folds train, as many training
folds as a grid step has. train_folds insists on a test row per step, so each inner step
gets one synthetic all-zero row that belongs to no utterance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from paragrid.errors import UserError
from paragrid.grid.data import FoldSteps, classes_of, encode, fold_of, zscore

HELD_OUT_FOLD = 0  # same-corpus mode: the grid's step-0 test fold of each tuning repeat


@dataclass
class TuningData:
    """What every trial of one study trains on (identical for every trial of the study)."""

    data: object               # paragrid.models.data.FoldData, F = parts x (k-1) inner steps
    classes: list[str]
    n_utterances: int          # corpus size
    held_out: list[int]        # utterances held out (never read) per part
    inner_steps: int           # k-1 per part
    repeats: int               # parts (outer splits) stacked


def inner_cv(corpus, task: str, k: int, normalisation: str,
             parts: Sequence[tuple[np.ndarray, int]]) -> TuningData:
    """Stack the k-1 inner steps of every (fold split, held-out fold) part into one FoldData.

    Rows of a part's held-out fold keep all-zero features and label 0 in that part's steps:
    placeholders whose corpus values are never copied in.
    """
    from paragrid.models.data import FoldData  # heavy: torch

    labels = corpus.labels[task]
    n, d = corpus.x.shape
    kept = [np.asarray(split) != held for split, held in parts]
    used = np.logical_or.reduce(kept)
    classes = classes_of(labels[used])
    if len(classes) < 2:
        raise UserError(f"corpus '{corpus.name}': fewer than two '{task}' classes in the rows "
                        "tuning may see; nothing to tune")
    y = np.zeros(n + 1, dtype=np.int64)             # + 1: the synthetic test row
    y[:n][used] = encode(labels[used], classes, f"corpus '{corpus.name}' task '{task}'")

    steps_per = k - 1
    f_total = len(parts) * steps_per
    x = np.zeros((f_total, n + 1, d), dtype=np.float32)
    train = np.zeros((f_total, n + 1), dtype=bool)
    val = np.zeros((f_total, n + 1), dtype=bool)
    test = np.zeros((f_total, n + 1), dtype=bool)
    test[:, n] = True
    for p, ((split, held), keep) in enumerate(zip(parts, kept)):
        rows = np.flatnonzero(keep)
        sub = np.asarray(split)[rows]
        inner = [v for v in range(k) if v != held]
        tr = np.stack([(sub != v) for v in inner])            # every kept fold but v trains
        va = np.stack([(sub == v) for v in inner])
        steps = FoldSteps(train=tr, val=va, test=np.zeros_like(tr), val_fold=np.asarray(inner),
                          train_folds=[tuple(f for f in inner if f != v) for v in inner])
        z = zscore(corpus.x[rows], steps, normalisation)      # statistics from kept rows only
        block = slice(p * steps_per, (p + 1) * steps_per)
        x[block][:, rows] = z
        train[block][:, rows] = tr
        val[block][:, rows] = va
    data = FoldData(x=x, y=y, train=train, val=val, test=test, n_classes=len(classes))
    return TuningData(data=data, classes=classes, n_utterances=n,
                      held_out=[int((~keep).sum()) for keep in kept], inner_steps=steps_per,
                      repeats=len(parts))


def tuning_data(corpus, spec, repeats: int) -> TuningData:
    """Same-corpus mode: tuning repeats 0..repeats-1, fold HELD_OUT_FOLD of each held out."""

    parts = [(np.asarray(fold_of(corpus, spec, r)), HELD_OUT_FOLD) for r in range(repeats)]
    return inner_cv(corpus, spec.task, spec.k, spec.normalisation, parts)


def step_data(corpus, spec, split: np.ndarray, test_fold: int) -> TuningData:
    """Nested mode: the inner CV of one outer step (the repeat's split, its test fold held out)."""
    return inner_cv(corpus, spec.task, spec.k, spec.normalisation, [(np.asarray(split), test_fold)])
