"""Source models a grid needs: one job per (task, corpus, repeat, budget, settings), keyed so that
runs in the same storage share the models they have in common.

The key covers everything that decides the model's weights (the corpus content, the split's
masks, the architecture and training of the target it serves), so a stored model is reused
exactly when retraining it would give the same numbers.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from paragrid.errors import UserError
from paragrid.grid.data import Corpus, FoldSteps, classes_of, pooled_name, repeat_seed, steps_for
from paragrid.grid.spec import Spec, Trial, corpus_key, parse_source, pooled

KEY_VERSION = 2  # bump when the meaning of a stored source model changes (2: seeds per role)



def _masks_digest(steps: FoldSteps) -> str:
    h = hashlib.sha256()
    for m in (steps.train, steps.val, steps.test):
        h.update(np.packbits(m, axis=None).tobytes())
    return h.hexdigest()[:16]



@dataclass(frozen=True)
class SourceJob:
    """One source model to train: a task on a corpus, for one repeat's folds."""

    task: str
    corpus: str
    repeat: int
    budget: int  # training folds per step (k-2 for a cross-corpus source)
    cross: bool  # trained on another corpus than the target (own split, full budget)
    key: str
    for_target: str = ""  # the target whose architecture it has (a column of that target's nets)
    features: str = ""    # the feature-set label of the trials it serves ('' = the spec has no axis)

    @property
    def corpus_key(self) -> str:
        """Its corpus as its feature set gives it: the key of the grid's loaded corpora."""
        return corpus_key(self.corpus, self.features)

    @property
    def job_id(self) -> str:
        fs = f".{self.features.replace('@', '_at_')}" if self.features else ""
        return f"source.{self.task}.{self.corpus}{fs}.b{self.budget}.r{self.repeat}.{self.key[:8]}"



def source_job(source: str, trial: Trial, spec: Spec, corpora: dict[str, Corpus]) -> SourceJob:
    """The source model `source` (a resolved name) that `trial` needs."""
    task, other = parse_source(source)
    cross = other is not None and other != trial.target
    corpus = corpora[corpus_key(other if cross else trial.target, trial.features)]
    budget = spec.k - 2 if cross else trial.budget
    if task not in corpus.labels:
        raise UserError(f"source '{source}': corpus '{corpus.name}' has no label column '{task}'")
    n_classes = len(classes_of(corpus.labels[task]))
    if n_classes < 2:
        raise UserError(f"source '{source}': corpus '{corpus.name}' has a single '{task}' class; "
                        "nothing to learn")
    steps = steps_for(corpus, spec, trial.repeat, budget)
    ident = {
        "version": KEY_VERSION, "task": task, "corpus": corpus.fingerprint,
        "fold_scheme": spec.fold_scheme, "stratify": spec.task, "k": spec.k,
        "seed": repeat_seed(spec.seed, trial.repeat), "budget": budget,
        "train_folds": [list(t) for t in steps.train_folds], "masks": _masks_digest(steps),
        "normalisation": spec.normalisation, "architecture": spec.arch_for(trial.target).to_dict(),
        "training": spec.training_for(trial.target).to_dict(),
    }
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return SourceJob(task=task, corpus=corpus.name, repeat=trial.repeat, budget=budget,
                     cross=cross, key=key, for_target=trial.target, features=trial.features)



def plan_sources(trials: list[Trial], spec: Spec, corpora: dict[str, Corpus]
                 ) -> tuple[dict[str, list[SourceJob]], list[SourceJob]]:
    """(trial_id -> its source jobs in source-set order, unique jobs in first-use order).

    PT/FT on one task over several other corpora (`emotion@all-others`) needs ONE source model,
    trained on the pooled corpora (grid/data/_many.py: the corpus named 'a+b'); ProgNet on the
    same set needs one model per corpus, a frozen column each."""
    per_trial: dict[str, list[SourceJob]] = {}
    unique: dict[str, SourceJob] = {}
    for t in trials:
        if t.method == "ptft" and pooled(t.sources, t.target):
            task = parse_source(t.sources[0])[0]
            jobs = [source_job(f"{task}@{pooled_name(t.sources)}", t, spec, corpora)]
        else:
            jobs = [source_job(s, t, spec, corpora) for s in t.sources]
        per_trial[t.trial_id] = jobs
        for j in jobs:
            unique.setdefault(j.key, j)
    return per_trial, list(unique.values())

