"""What one unit of work computes, free of Ray: a source model, or a pack of target trials.

A pack (paragrid.grid.work) trains the k folds of every trial in it as ONE stacked model
(paragrid.models.train.train_folds along the fold axis, F = k x trials), each fold-model with the
random streams it would have alone, so its numbers equal the trial's unpacked run. Features are
z-normalised per corpus and per step (paragrid.grid.normalise). For each trial the pack returns
its rows of the results table (one per fold, docs/FORMATS.md section 4) and of the curves table
(section 5); the trainable writes them to the trial's own folder.

Random streams per role: a source model draws its initial weights, batch orders and dropout
masks from `role_seed(seed, "source:...")`, the target models from `role_seed(seed, "target")`,
so a source and the targets built on it never share random numbers by accident. The target
methods (dnn, ptft, prognet) of one repeat DO share their stream on purpose: common random
numbers make the paired method comparisons of the statistics less noisy.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from paragrid.grid.normalise import zscore
from paragrid.grid.rows import CURVE_COLUMNS, RESULT_COLUMNS, TrialRecord, result_rows
from paragrid.grid.sources import Corpus, SourceJob, classes_of, encode, steps_for
from paragrid.grid.spec import Spec, Trial, parse_source
from paragrid.grid.folds import FoldSteps, repeat_seed

__all__ = ["RESULT_COLUMNS", "CURVE_COLUMNS", "train_source", "run_pack", "TARGET_ROLE"]

TARGET_ROLE = "target"


def source_role(job: SourceJob) -> str:
    return f"source:{job.task}@{job.corpus}"


def _settings(spec: Spec, target: str):
    from paragrid.models.config import Architecture, TrainSettings

    return Architecture(**spec.arch_for(target)), TrainSettings(**spec.training_for(target))


def _role_seed(seed: int, role: str) -> int:
    from paragrid.models.columns import role_seed

    return role_seed(seed, role)


@dataclass
class _Part:
    """One trial's slice of a pack: its steps and its fold-models' rows in the stacked data."""

    trial: Trial
    steps: FoldSteps
    seed: int
    start: int

    @property
    def folds(self) -> slice:
        return slice(self.start, self.start + self.steps.train.shape[0])


def _task_data(corpus: Corpus, spec: Spec, repeat: int, budget: int, task: str,
               classes: list[str], for_target: str, x: np.ndarray | None = None):
    """FoldData of one task on one corpus for all steps of a repeat, trained with the settings
    of target `for_target` (a cross-corpus source is a column of that target's networks)."""
    from paragrid.models.train import FoldData

    steps = steps_for(corpus, spec, repeat, budget)
    if x is None:
        x = zscore(corpus.x, steps, spec.normalisation)
    y = encode(corpus.labels[task], classes, f"corpus '{corpus.name}' task '{task}'")
    return FoldData(x=x, y=y, train=steps.train, val=steps.val, test=steps.test,
                    n_classes=len(classes), n_full_train=_full_train(corpus, spec, repeat, steps, for_target)), steps


def _full_train(corpus: Corpus, spec: Spec, repeat: int, steps: FoldSteps, for_target: str) -> np.ndarray | None:
    """Training rows each step would have at the full budget (None unless training.updates is
    matched for `for_target`)."""
    if spec.training_for(for_target)["updates"] != "matched":
        return None
    k = steps.train.shape[0]
    return steps_for(corpus, spec, repeat, k - 2).train.sum(1)


def train_source(job: SourceJob, spec: Spec, corpora: dict[str, Corpus], device: str):
    """Train one source model; return (StackedModel, meta) with its per-fold test UAR."""
    from paragrid.models.train import train_folds

    corpus = corpora[job.corpus]
    classes = classes_of(corpus.labels[job.task])
    arch, settings = _settings(spec, job.for_target)
    data, steps = _task_data(corpus, spec, job.repeat, job.budget, job.task, classes, job.for_target)
    seed = repeat_seed(spec.seed, job.repeat)
    out = train_folds(data, arch, settings, method="dnn", seed=_role_seed(seed, source_role(job)),
                      device=device, class_names=classes)
    meta = {
        "key": job.key, "task": job.task, "corpus": job.corpus, "corpus_fingerprint": corpus.fingerprint,
        "repeat": job.repeat, "budget": job.budget, "cross": job.cross, "seed": seed,
        "role": source_role(job), "k": int(steps.train.shape[0]),
        "classes": classes, "train_folds": [list(t) for t in steps.train_folds],
        "test_uar": out.test_uar.tolist(), "val_uar": out.val_uar.tolist(),
        "best_epoch": out.best_epoch.tolist(), "epochs_run": out.epochs_run.tolist(),
        "normalisation": spec.normalisation, "architecture": spec.arch_for(job.for_target),
        "training": spec.training_for(job.for_target), "device": out.device, "wall_s": out.wall_s,
        "trained_by_spec": spec.name,
    }
    return out.model, meta


def _pack_data(trials: list[Trial], spec: Spec, target: Corpus, classes: list[str]):
    """The pack's FoldData: every trial's steps stacked on the fold axis."""
    from paragrid.models.train import FoldData

    parts, xs, fulls, start = [], [], [], 0
    for t in trials:
        steps = steps_for(target, spec, t.repeat, t.budget)
        parts.append(_Part(t, steps, repeat_seed(spec.seed, t.repeat), start))
        start += steps.train.shape[0]
        # corpus normalisation: the same features for every step of every repeat, shared once
        xs.append(zscore(target.x, steps, spec.normalisation, view=True))
        fulls.append(_full_train(target, spec, t.repeat, steps, target.name))
    shared = spec.normalisation == "corpus"
    x = xs[0][0] if shared else np.concatenate(xs)
    y = encode(target.labels[spec.task], classes, f"corpus '{target.name}' task '{spec.task}'")
    cat = lambda name: np.concatenate([getattr(p.steps, name) for p in parts])  # noqa: E731
    data = FoldData(x=x, y=y, train=cat("train"), val=cat("val"), test=cat("test"), n_classes=len(classes),
                    n_full_train=None if fulls[0] is None else np.concatenate(fulls))
    return data, parts


def run_pack(trials: list[Trial], spec: Spec, spec_hash: str, corpora: dict[str, Corpus],
             sources: list[list[tuple[object, dict]]], device: str, node: str, pack_id: str = ""
             ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Train the trials (same target, method and source set) as one stacked model; return
    (results rows, curves rows) per trial, in the order given.

    `sources[i]` holds (StackedModel, meta) per source of trial i, in the trial's source order.
    """
    from paragrid.models.pack import stack_models
    from paragrid.models.train import train_folds

    t0 = time.perf_counter()
    first = trials[0]
    target = corpora[first.target]
    classes = classes_of(target.labels[spec.task])
    arch, settings = _settings(spec, first.target)
    data, parts = _pack_data(trials, spec, target, classes)
    seeds = [_role_seed(p.seed, TARGET_ROLE) for p in parts for _ in range(p.steps.train.shape[0])]
    fold_ids = [f for p in parts for f in range(p.steps.train.shape[0])]
    stacked_sources = [stack_models([sources[i][j][0] for i in range(len(trials))])
                       for j in range(len(first.sources))]
    out = train_folds(data, arch, settings, method=first.method, sources=stacked_sources, seeds=seeds,
                      fold_ids=fold_ids, device=device, class_names=classes)
    forgetting = _forgetting(out.model, parts, spec, corpora, sources, data, stacked_sources)
    share = (time.perf_counter() - t0) / len(trials)  # each trial's share of the pack's wall time
    outputs = []
    for i, p in enumerate(parts):
        rec = TrialRecord(trial=p.trial, steps=p.steps, seed=p.seed, folds=p.folds, classes=classes,
                          source_keys=[m["key"] for _, m in sources[i]], forgetting=forgetting[i],
                          wall_s=share, node=node, device=out.device, pack_id=pack_id or first.trial_id,
                          pack_size=len(trials))
        results = result_rows(rec, out, spec, spec_hash, hostname=socket.gethostname())
        curves = out.curves[(out.curves["fold"] >= p.folds.start) & (out.curves["fold"] < p.folds.stop)].copy()
        curves["fold"] -= p.folds.start
        for col, val in (("trial_id", p.trial.trial_id), ("method", p.trial.method),
                         ("sources", p.trial.sources_label), ("target", p.trial.target),
                         ("budget", p.trial.budget), ("repeat", p.trial.repeat)):
            curves[col] = val
        outputs.append((results, curves[CURVE_COLUMNS].reset_index(drop=True)))
    return outputs


def _forgetting(model, parts: list[_Part], spec: Spec, corpora: dict[str, Corpus],
                sources: list[list[tuple[object, dict]]], data, stacked_sources: list) -> list[dict]:
    """Per trial, per source: the source task's test UAR before transfer, after it under the
    source's own head ("after"), and by a linear probe re-fitted on the transferred network's
    last hidden layer ("probe_after"), each on the source's own corpus and folds. Computed once
    per pack and source over every fold-model (each fold's probe is fitted on its own training
    rows only, so packing changes nothing), then split per trial."""
    from paragrid.models.pack import stack_data
    from paragrid.models.probe import source_probe_uar
    from paragrid.models.train import source_task_uar

    out: list[dict[str, dict[str, list[float]]]] = [{} for _ in parts]
    first = parts[0].trial
    if first.method == "dnn":
        return out
    for j, name in enumerate(first.sources):
        task, other = parse_source(name)
        datas = []
        for i, p in enumerate(parts):
            meta = sources[i][j][1]
            if other is None or other == p.trial.target:  # same corpus: the target's steps and x
                x = data.x if data.x.ndim == 2 else data.x[p.folds]
                src, _ = _task_data(corpora[p.trial.target], spec, p.trial.repeat, p.trial.budget, task,
                                    meta["classes"], p.trial.target, x=x)
            else:  # cross-corpus: the source corpus's own split, full budget, its own statistics
                src, _ = _task_data(corpora[other], spec, p.trial.repeat, meta["budget"], task, meta["classes"],
                                    p.trial.target)
            datas.append(src)
        packed = stack_data(datas)
        after = np.asarray(source_task_uar(model, stacked_sources[j], packed))
        probe = np.asarray(source_probe_uar(model, packed))
        for i, p in enumerate(parts):
            out[i][name] = {"before": [float(v) for v in sources[i][j][1]["test_uar"]],
                            "after": [float(v) for v in after[p.folds]],
                            "probe_after": [float(v) for v in probe[p.folds]]}
    return out


def summary(results: pd.DataFrame) -> dict[str, float]:
    """What a unit reports to Ray Tune: its trials' folds summarised (docs/FORMATS.md)."""
    def stat(col: str, fn) -> float:
        return float(fn(results[col].to_numpy(dtype=float))) if len(results) else float("nan")

    return {"test_uar_mean": stat("test_uar", np.mean), "test_uar_std": stat("test_uar", np.std),
            "val_uar_mean": stat("val_uar", np.mean), "val_uar_std": stat("val_uar", np.std),
            "epochs_run_mean": stat("epochs_run", np.mean), "best_epoch_mean": stat("best_epoch", np.mean),
            "folds": int(len(results))}

