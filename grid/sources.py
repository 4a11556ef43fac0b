"""Corpora in memory, their fold splits, and the source models the transfer trials need.

Stage 1 of a grid trains every source model once; stage 2's trials load them. A source model is
identified by a key hashed from everything that determines its weights: the source task, the
*content* of its corpus, the exact train/validation/test rows of every step, the
normalisation, the architecture, the training settings and the seed. Two trials that need the
same model (ptft and prognet, or the same source at two budgets where the budget does not
matter) therefore share it, and a second run of the spec, or another spec in the same
storage, finds it already trained.

Which rows a source model trains on (PROTOCOL.md):
  * same-corpus sources (`speaker`, `gender`, any label column of the target corpus) use the
    target's own split of that repeat and the SAME training folds as the target trial (the fold
    budget included); the validation fold selects the epoch; the test fold is never trained on;
  * a cross-corpus source (`emotion@other`) uses its own corpus's split of that repeat, with all
    k-2 training folds (the full source corpus); source fold f feeds target fold f.
Each corpus is z-normalised with its own statistics.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from paragrid.errors import UserError
from paragrid.grid.folds import LEAVE_ONE_OUT, FoldSteps, fold_steps, leave_one_out_steps, repeat_seed, \
    speaker_independent_folds, speaker_stratified_folds, unit_folds
from paragrid.grid.spec import Spec, Trial, parse_source
from paragrid.grid.store import Storage

KEY_VERSION = 2  # bump when the meaning of a stored source model changes (2: seeds per role)


# ----------------------------------------------------------------------------- corpora

@dataclass
class Corpus:
    """One corpus as the trials need it: features, label columns, and a content fingerprint."""

    name: str
    path: str
    x: np.ndarray                   # (N, D) float64, raw (normalised per step later)
    labels: dict[str, np.ndarray]   # label column -> (N,) str
    fingerprint: str

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def fingerprint(df: pd.DataFrame, columns: list[str]) -> str:
    """A hash of the table's content (not its bytes: the parquet's write time does not count)."""
    h = hashlib.sha256(json.dumps(columns).encode())
    h.update(pd.util.hash_pandas_object(df[columns], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def load_corpora(spec: Spec, label_columns: set[str]) -> dict[str, Corpus]:
    """Read every corpus of the spec (driver side); any problem is a UserError naming it."""
    from paragrid.features.store import read_features

    corpora = {}
    for name, path in spec.corpora.items():
        df, meta = read_features(path)
        feats = list(meta["feature_columns"])
        # leave-one-session-out also needs the session column (its units), docs/FORMATS.md
        units = {LEAVE_ONE_OUT[spec.fold_scheme]} if spec.fold_scheme in LEAVE_ONE_OUT else set()
        wanted = sorted(label_columns | {"speaker", spec.task} | units)
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise UserError(f"corpus '{name}' ({path}) has no label column(s) {', '.join(missing)} "
                            f"(named by the spec's task or sources); columns: "
                            f"{', '.join(c for c in df.columns if c not in feats)}")
        labels = {}
        for c in wanted:
            col = df[c]
            if col.isna().any():
                raise UserError(f"corpus '{name}' ({path}): {int(col.isna().sum())} utterances have no "
                                f"'{c}' label; fill or remove them in the feature table")
            labels[c] = col.astype(str).to_numpy()
        if len(df) < spec.k:
            raise UserError(f"corpus '{name}' ({path}) has {len(df)} utterances, fewer than k={spec.k} folds")
        corpora[name] = Corpus(name=name, path=path, x=df[feats].to_numpy(np.float64),
                               labels=labels, fingerprint=fingerprint(df, feats + wanted))
    return corpora


def classes_of(values: np.ndarray) -> list[str]:
    return sorted(set(values.tolist()))


def encode(values: np.ndarray, classes: list[str], what: str) -> np.ndarray:
    """Labels -> 0..C-1 in the order of `classes`; an unknown label is a UserError."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
    except KeyError as err:
        raise UserError(f"{what}: label {err.args[0]!r} is not among the model's classes {classes}") from None


# ----------------------------------------------------------------------------- folds

_FOLD_CACHE: dict[tuple, np.ndarray] = {}


def fold_of(corpus: Corpus, spec: Spec, repeat: int) -> np.ndarray:
    """The corpus's fold split of one repeat (stratified by the target task's labels)."""
    key = (corpus.fingerprint, spec.fold_scheme, spec.task, spec.k, spec.seed, repeat)
    if key not in _FOLD_CACHE:
        seed = repeat_seed(spec.seed, repeat)
        if spec.fold_scheme in LEAVE_ONE_OUT:  # fold f = the f-th speaker (session), every repeat
            folds = unit_folds(corpus.labels[LEAVE_ONE_OUT[spec.fold_scheme]])[0]
        elif spec.fold_scheme == "speaker-independent":
            folds = speaker_independent_folds(corpus.labels["speaker"], spec.k, seed)
        else:
            folds = speaker_stratified_folds(corpus.labels["speaker"], corpus.labels[spec.task], spec.k, seed)
        _FOLD_CACHE[key] = folds
    return _FOLD_CACHE[key]


def steps_for(corpus: Corpus, spec: Spec, repeat: int, budget: int) -> FoldSteps:
    """All k steps of one repeat, training on `budget` of the k-2 training folds.

    Leave-one-out schemes: step f tests unit f, validates on a seeded draw of another unit and
    trains on (`budget` of) the other k-2; spec validation made k the number of units.
    """
    if spec.fold_scheme in LEAVE_ONE_OUT:
        steps = leave_one_out_steps(corpus.labels[LEAVE_ONE_OUT[spec.fold_scheme]],
                                    repeat_seed(spec.seed, repeat), budget=budget,
                                    labels=corpus.labels[spec.task])
        if steps.k != spec.k:
            raise UserError(f"corpus '{corpus.name}' ({corpus.path}) has {steps.k} "
                            f"{LEAVE_ONE_OUT[spec.fold_scheme]}s but the spec's k is {spec.k}: "
                            f"remove k from the spec (it is the number of units)")
        return steps
    return fold_steps(fold_of(corpus, spec, repeat), spec.k, budget=budget,
                      seed=repeat_seed(spec.seed, repeat))


def _masks_digest(steps: FoldSteps) -> str:
    h = hashlib.sha256()
    for m in (steps.train, steps.val, steps.test):
        h.update(np.packbits(m, axis=None).tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- source jobs

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

    @property
    def job_id(self) -> str:
        return f"source.{self.task}.{self.corpus}.b{self.budget}.r{self.repeat}.{self.key[:8]}"


def source_job(source: str, trial: Trial, spec: Spec, corpora: dict[str, Corpus]) -> SourceJob:
    """The source model `source` (a resolved name) that `trial` needs."""
    task, other = parse_source(source)
    cross = other is not None and other != trial.target
    corpus = corpora[other if cross else trial.target]
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
        "normalisation": spec.normalisation, "architecture": spec.arch_for(trial.target),
        "training": spec.training_for(trial.target),
    }
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return SourceJob(task=task, corpus=corpus.name, repeat=trial.repeat, budget=budget,
                     cross=cross, key=key, for_target=trial.target)


def plan_sources(trials: list[Trial], spec: Spec, corpora: dict[str, Corpus]
                 ) -> tuple[dict[str, list[SourceJob]], list[SourceJob]]:
    """(trial_id -> its source jobs in source-set order, unique jobs in first-use order)."""
    per_trial: dict[str, list[SourceJob]] = {}
    unique: dict[str, SourceJob] = {}
    for t in trials:
        jobs = [source_job(s, t, spec, corpora) for s in t.sources]
        per_trial[t.trial_id] = jobs
        for j in jobs:
            unique.setdefault(j.key, j)
    return per_trial, list(unique.values())


# ----------------------------------------------------------------------------- model store

class ModelStore:
    """Trained source models under `<storage>/source-models/<key>/`.

    model.pt holds the weights AND the training record (test UAR per fold, classes, ...) in one
    file, so the two always belong together even if two runs race to store the same key;
    meta.json (written last) is a human-readable copy whose existence marks the entry complete.
    """

    def __init__(self, storage: Storage):
        self.storage = storage

    def has(self, key: str) -> bool:
        return self.storage.exists("source-models", key, "meta.json")

    def save(self, key: str, model, meta: dict) -> None:
        import torch

        d = model.to_dict()
        d["meta"] = {**d.get("meta", {}), "paragrid_source": meta}
        buf = io.BytesIO()
        torch.save(d, buf)
        self.storage.write_bytes(buf.getvalue(), "source-models", key, "model.pt")
        self.storage.write_json(meta, "source-models", key, "meta.json")

    def load(self, key: str, device: str = "cpu"):
        """(StackedModel on `device`, its training record)."""
        import torch

        from paragrid.models.nets import StackedModel

        if not self.has(key):
            raise UserError(f"source model {key} is missing from {self.storage.uri('source-models')}; "
                            "re-run the grid to train it")
        raw = self.storage.read_bytes("source-models", key, "model.pt")
        model = StackedModel.from_dict(torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True))
        return model.to(device), model.meta["paragrid_source"]
