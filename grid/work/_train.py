"""What one unit of work computes, free of Ray: a source model, or a pack of target trials.

A pack (paragrid.grid.plan) trains the k folds of every trial in it as ONE stacked model
(paragrid.models.train.train_folds along the fold axis, F = k x trials), each fold-model with the
random streams it would have alone, so its numbers equal the trial's unpacked run. Features are
z-normalised per corpus and per step (paragrid.grid.data). For each trial the pack returns
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

from paragrid.grid.data import Corpus, FoldSteps, classes_of, encode, repeat_seed, steps_for, zscore
from paragrid.grid.plan import SourceJob
from paragrid.grid.work._rows import TrialRecord, result_rows, results_frame, speaker_confusions
from paragrid.grid.spec import Spec, Trial, corpus_key
from paragrid.grid.store import CURVE_COLUMNS, CurveRow, typed
from paragrid.models.options import Pack, Run

TARGET_ROLE = "target"


def source_role(job: SourceJob) -> str:
    return f"source:{job.task}@{job.corpus}"


def _role_seed(seed: int, role: str) -> int:
    from paragrid.models.columns import role_seed  # heavy: torch

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
    from paragrid.models.data import FoldData  # heavy: torch

    steps = steps_for(corpus, spec, repeat, budget)
    if x is None:
        x = zscore(corpus.x, steps, spec.normalisation)
    y = encode(corpus.labels[task], classes, f"corpus '{corpus.name}' task '{task}'")
    return FoldData(x=x, y=y, train=steps.train, val=steps.val, test=steps.test,
                    n_classes=len(classes), n_full_train=_full_train(corpus, spec, repeat, steps, for_target)), steps


def _full_train(corpus: Corpus, spec: Spec, repeat: int, steps: FoldSteps, for_target: str) -> np.ndarray | None:
    """Training rows each step would have at the full budget (None unless training.updates is
    matched for `for_target`)."""
    if spec.training_for(for_target).updates != "matched":
        return None
    k = steps.train.shape[0]
    return steps_for(corpus, spec, repeat, k - 2).train.sum(1)


def train_source(job: SourceJob, spec: Spec, corpora: dict[str, Corpus], device: str):
    """Train one source model; return (StackedModel, meta) with its per-fold test UAR."""
    return train_sources([job], spec, corpora, device)[0]


def train_sources(jobs: list[SourceJob], spec: Spec, corpora: dict[str, Corpus], device: str) -> list[tuple]:
    """Train source models of the same task, corpus and settings (grid.plan.source_pack_key) as
    ONE stacked model, each fold-model with the streams it would have alone; return
    (StackedModel, meta) per job, each equal to the job trained alone."""
    from paragrid.models.pack import stack_data  # heavy: torch
    from paragrid.models.train import train_folds  # heavy: torch

    first = jobs[0]
    corpus = corpora[first.corpus_key]
    classes = classes_of(corpus.labels[first.task])
    arch, settings = spec.arch_for(first.for_target), spec.training_for(first.for_target)
    datas, steps_of, seeds, fold_ids, starts = [], [], [], [], [0]
    for job in jobs:
        data, steps = _task_data(corpus, spec, job.repeat, job.budget, job.task, classes, job.for_target)
        k = steps.train.shape[0]
        datas.append(data)
        steps_of.append(steps)
        seeds += [_role_seed(repeat_seed(spec.seed, job.repeat), source_role(job))] * k
        fold_ids += list(range(k))
        starts.append(starts[-1] + k)
    packed = stack_data(datas) if len(datas) > 1 else datas[0]
    out = train_folds(packed, arch, settings, "dnn", pack=Pack(seed=seeds[0], seeds=seeds, fold_ids=fold_ids,
                                                               class_names=classes), run=Run(device=device))
    trained = []
    for i, (job, steps) in enumerate(zip(jobs, steps_of)):
        one = out.select(range(starts[i], starts[i + 1])) if len(jobs) > 1 else out
        seed = repeat_seed(spec.seed, job.repeat)
        meta = {
            "key": job.key, "task": job.task, "corpus": job.corpus, "corpus_fingerprint": corpus.fingerprint,
            "repeat": job.repeat, "budget": job.budget, "cross": job.cross, "seed": seed,
            "role": source_role(job), "k": int(steps.train.shape[0]),
            "classes": classes, "train_folds": [list(t) for t in steps.train_folds],
            "test_uar": one.test_uar.tolist(), "val_uar": one.val_uar.tolist(),
            "best_epoch": one.best_epoch.tolist(), "epochs_run": one.epochs_run.tolist(),
            "normalisation": spec.normalisation, "architecture": spec.arch_for(job.for_target).to_dict(),
            "training": spec.training_for(job.for_target).to_dict(), "device": out.device, "wall_s": out.wall_s / len(jobs),
            "trained_by_spec": spec.name, "pack_size": len(jobs),
        }
        trained.append((one.model, meta))
    return trained


def _pack_data(trials: list[Trial], spec: Spec, target: Corpus, classes: list[str]):
    """The pack's FoldData: every trial's steps stacked on the fold axis."""
    from paragrid.models.data import FoldData  # heavy: torch

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
             sources: list[list[tuple[object, dict]]], device: str, node: str, pack_id: str = "",
             gpu_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train the trials (same target, method and source set) as one stacked model; return the
    pack's (results rows, curves rows), trial after trial in the order given.

    `sources[i]` holds (StackedModel, meta) per source of trial i, in the trial's source order.
    """
    from paragrid.models.pack import stack_models  # heavy: torch
    from paragrid.models.train import train_folds  # heavy: torch

    t0 = time.perf_counter()
    first = trials[0]
    target = corpora[corpus_key(first.target, first.features)]
    classes = classes_of(target.labels[spec.task])
    arch, settings = spec.arch_for(first.target), spec.training_for(first.target)
    data, parts = _pack_data(trials, spec, target, classes)
    seeds = [_role_seed(p.seed, TARGET_ROLE) for p in parts for _ in range(p.steps.train.shape[0])]
    fold_ids = [f for p in parts for f in range(p.steps.train.shape[0])]
    stacked_sources = [stack_models([sources[i][j][0] for i in range(len(trials))])
                       for j in range(len(sources[0]))]  # one per source model (a pooled PT/FT: one)
    out = train_folds(data, arch, settings, first.method, stacked_sources,
                      pack=Pack(seeds=seeds, fold_ids=fold_ids, class_names=classes), run=Run(device=device))
    forgetting = _forgetting(out.model, parts, spec, corpora, sources, data, stacked_sources)
    share = (time.perf_counter() - t0) / len(trials)  # each trial's share of the pack's wall time
    rows, hostname = [], socket.gethostname()
    pred = getattr(out, "test_pred", None)
    per_speaker = speaker_confusions(target.labels["speaker"], np.asarray(data.y), np.asarray(data.test),
                                     None if pred is None else np.asarray(pred), len(classes))
    for i, p in enumerate(parts):
        rec = TrialRecord(trial=p.trial, steps=p.steps, seed=p.seed, folds=p.folds, classes=classes,
                          source_keys=[m["key"] for _, m in sources[i]], forgetting=forgetting[i],
                          wall_s=share, node=node, device=out.device, pack_id=pack_id or first.trial_id,
                          pack_size=len(trials), gpu_id=gpu_id, feature_set=target.features,
                          speaker_confusion=per_speaker[p.folds])
        rows.extend(result_rows(rec, out, spec, spec_hash, hostname=hostname))
    return results_frame(rows), _pack_curves(out.curves, parts)


def _pack_curves(curves: pd.DataFrame, parts: list[_Part]) -> pd.DataFrame:
    """The pack's curve rows with each trial's coordinates, its folds numbered from 0 again."""
    first_fold = np.array([p.start for p in parts])
    which = np.searchsorted(first_fold, curves["fold"].to_numpy(), side="right") - 1   # the row's trial
    curves = curves.assign(fold=curves["fold"].to_numpy() - first_fold[which])
    for col, get in (("trial_id", lambda t: t.trial_id), ("method", lambda t: t.method),
                     ("sources", lambda t: t.sources_label), ("target", lambda t: t.target),
                     ("budget", lambda t: t.budget), ("repeat", lambda t: t.repeat)):
        curves[col] = np.asarray([get(p.trial) for p in parts], dtype=object)[which]
    curves = curves.iloc[np.argsort(which, kind="stable")]     # trial after trial
    return typed(curves[CURVE_COLUMNS], CurveRow).reset_index(drop=True)


def _forgetting(model, parts: list[_Part], spec: Spec, corpora: dict[str, Corpus],
                sources: list[list[tuple[object, dict]]], data, stacked_sources: list) -> list[dict]:
    """Per trial, per source: the source task's test UAR before transfer, after it under the
    source's own head ("after"), and by a linear probe re-fitted on the transferred network's
    last hidden layer ("probe_after"), each on the source's own corpus and folds. Computed once
    per pack and source over every fold-model (each fold's probe is fitted on its own training
    rows only, so packing changes nothing), then split per trial."""
    from paragrid.models.evaluate import source_task_uar  # heavy: torch
    from paragrid.models.pack import stack_data  # heavy: torch
    from paragrid.models.probe import source_probe_uar  # heavy: torch

    out: list[dict[str, dict[str, list[float]]]] = [{} for _ in parts]
    first = parts[0].trial
    if first.method == "dnn":
        return out
    for j in range(len(sources[0])):
        task, other = sources[0][j][1]["task"], sources[0][j][1]["corpus"]
        # the source as the trial names it; a pooled PT/FT source as 'emotion@a+b'
        name = first.sources[j] if len(first.sources) == len(sources[0]) else f"{task}@{other}"
        datas = []
        for i, p in enumerate(parts):
            meta = sources[i][j][1]
            if not meta["cross"]:  # same corpus: the target's steps and x
                x = data.x if data.x.ndim == 2 else data.x[p.folds]
                own = corpora[corpus_key(p.trial.target, p.trial.features)]
                src, _ = _task_data(own, spec, p.trial.repeat, p.trial.budget, task,
                                    meta["classes"], p.trial.target, x=x)
            else:  # cross-corpus: the source corpus's own split, full budget, its own statistics
                source = corpora[corpus_key(other, p.trial.features)]
                src, _ = _task_data(source, spec, p.trial.repeat, meta["budget"], task, meta["classes"],
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

