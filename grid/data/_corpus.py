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
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from paragrid.errors import UserError
from paragrid.features.extract import read_features
from paragrid.grid.data._files import FoldFile, file_steps, read_fold_file
from paragrid.grid.data._folds import (FoldSteps, fold_steps, leave_one_out_steps, repeat_seed,
                                       speaker_independent_folds, speaker_stratified_folds, unit_folds)
from paragrid.grid.spec import LEAVE_ONE_OUT, Spec, corpus_key, parse_features

# ----------------------------------------------------------------------------- corpora

@dataclass
class Corpus:
    """One corpus as the trials need it: features, label columns, and a content fingerprint."""

    name: str
    path: str
    x: np.ndarray                   # (N, D) float64, raw (normalised per step later)
    labels: dict[str, np.ndarray]   # label column -> (N,) str
    fingerprint: str
    left_out: str = ""              # speakers the spec left out (exclude_speakers, min_utterances)
    features: str = ""              # the spec's feature-set label ('' when it has no axis)
    feature_set: str = ""           # what the parquet says it holds (its metadata), e.g. eGeMAPSv02
    columns: tuple[str, ...] = ()   # the feature columns, in order

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def fingerprint(df: pd.DataFrame, columns: list[str]) -> str:
    """A hash of the table's content (not its bytes: the parquet's write time does not count)."""
    h = hashlib.sha256(json.dumps(columns).encode())
    h.update(pd.util.hash_pandas_object(df[columns], index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _layer_columns(path: str, meta: dict, layer: str | None, label: str) -> list[str]:
    """The feature columns of one label: all of them, or one layer's ('wavlm@L6' -> 'L6_...')."""
    feats = list(meta["feature_columns"])
    if layer is None:
        return feats
    chosen = [c for c in feats if c.startswith(layer + "_")]
    if not chosen:
        held = sorted({c.split("_", 1)[0] for c in feats if c.startswith("L") and "_" in c})
        holds = "layers " + ", ".join(held) if held else "it is not a per-layer parquet"
        raise UserError(f"features '{label}': {path} holds no layer {layer} ({holds}); "
                        "extract it with `paragrid features ... --feature-set hf:MODEL --layer all` or "
                        "name a layer it holds")
    return chosen


def read_corpora(spec: Spec, label_columns: set[str]) -> dict[str, Corpus]:
    """Read every corpus of the spec as stored (driver side), one per (corpus, feature-set label)
    when the spec has a feature-set axis, keyed by `corpus_key`; any problem is a UserError naming
    it. `load_corpora` (grid/data/_many.py) adds the spec's label set and pooled corpora."""
    corpora: dict[str, Corpus] = {}
    tables: dict[str, tuple[pd.DataFrame, dict]] = {}
    found: set[str] = set()
    for key, name, label in spec.corpus_keys():
        path = spec.feature_path(name, label)
        if path not in tables:
            tables[path] = read_features(path)
        df, meta = tables[path]
        df, left_out = _select_speakers(spec, name, df, found)
        feats = _layer_columns(path, meta, parse_features(label)[1] if label else None, label)
        # leave-one-session-out also needs the session column (its units), docs/FORMATS.md
        units = {LEAVE_ONE_OUT[spec.fold_scheme]} if spec.fold_scheme in LEAVE_ONE_OUT else set()
        if spec.fold_scheme == "file":  # published splits name utterances
            units = {"utterance_id"}
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
        corpora[key] = Corpus(name=name, path=path, x=df[feats].to_numpy(np.float64), labels=labels,
                              fingerprint=fingerprint(df, feats + wanted), features=label,
                              feature_set=str(meta.get("feature_set", "")), columns=tuple(feats),
                              left_out=left_out)
        _same_utterances(corpora, tables, spec, name, label, path)
    unknown = [s for s in spec.exclude_speakers if s not in found]
    if unknown:
        raise UserError(f"spec {spec.origin}: exclude_speakers names {', '.join(map(repr, unknown))}, a speaker of "
                        f"no corpus: check the ids against the corpora's speaker column")
    return corpora


def _same_utterances(corpora: dict[str, Corpus], tables: dict, spec: Spec, name: str, label: str,
                     path: str) -> None:
    """Feature sets are compared on the same folds: every parquet of a corpus must hold the same
    utterances in the same order (a --skip-bad run of one set may have dropped a file)."""
    first = spec.features[0] if spec.features else ""   # corpus_keys: each corpus's sets in axis order
    if first == label:
        return
    ref_path = corpora[corpus_key(name, first)].path
    ref, mine = tables[ref_path][0]["utterance_id"], tables[path][0]["utterance_id"]
    if len(ref) != len(mine) or (ref.to_numpy() != mine.to_numpy()).any():
        extra = sorted(set(ref) ^ set(mine))
        example = f", e.g. {extra[0]}" if extra else ", in another order"
        raise UserError(f"corpus '{name}': {path} ({label}) and {ref_path} ({first}) hold different "
                        f"utterances ({len(mine)} vs {len(ref)}{example}); "
                        "feature sets are compared on the same folds: re-extract both from one manifest")


def _select_speakers(spec: Spec, name: str, df: pd.DataFrame, found: set[str]) -> tuple[pd.DataFrame, str]:
    """The rows of the speakers the spec keeps, and a line saying whom it left out ('' if none).
    `found` collects the excluded speakers seen, so a typo in exclude_speakers is an error."""
    if not (spec.exclude_speakers or spec.min_utterances) or "speaker" not in df.columns:
        return df, ""
    speaker = df["speaker"].astype(str)
    named = speaker.isin(spec.exclude_speakers)
    found.update(speaker[named].unique())
    counts = speaker[~named].value_counts()
    small = counts[counts < spec.min_utterances].sort_index()
    keep = ~named & ~speaker.isin(small.index)
    parts = []
    if named.any():
        parts.append(f"{speaker[named].nunique()} speaker(s) by exclude_speakers ({int(named.sum())} utterances)")
    if len(small):
        parts.append(f"{len(small)} speaker(s) below min_utterances={spec.min_utterances}: "
                     + ", ".join(f"{s} ({n})" for s, n in small.items()))
    if not parts:
        return df, ""
    return df[keep.to_numpy()].reset_index(drop=True), f"left out {'; '.join(parts)}"


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
        if spec.fold_scheme == "file":  # the published test folds
            folds = fold_split(corpus, spec).test_of
        elif spec.fold_scheme in LEAVE_ONE_OUT:  # fold f = the f-th speaker (session), every repeat
            folds = unit_folds(corpus.labels[LEAVE_ONE_OUT[spec.fold_scheme]])[0]
        elif spec.fold_scheme == "speaker-independent":
            folds = speaker_independent_folds(corpus.labels["speaker"], spec.k, seed)
        else:
            folds = speaker_stratified_folds(corpus.labels["speaker"], corpus.labels[spec.task], spec.k, seed)
        _FOLD_CACHE[key] = folds
    return _FOLD_CACHE[key]


_SPLITS: dict[tuple, FoldFile] = {}


def fold_split(corpus: Corpus, spec: Spec) -> FoldFile:
    """The published split of `corpus` (fold_scheme file), read once per corpus content and file.
    A pooled source corpus ('a+b') has none: load_corpora refuses pooling under fold_scheme file
    (grid/data/_many.py), and this refuses it again should one reach here."""
    names = corpus.name.split("+")
    key = (corpus.fingerprint, tuple(spec.fold_files.get(n, "") for n in names))
    if key not in _SPLITS:
        if any(n not in spec.fold_files for n in names):
            raise UserError(f"corpus '{corpus.name}' has no fold file under fold_files")
        if len(names) > 1:
            raise UserError(f"PT/FT from pooled corpora ({corpus.name}) cannot use fold_scheme file: drop "
                            f"ptft for that source set")
        _SPLITS[key] = read_fold_file(spec.fold_files[corpus.name], corpus.labels["utterance_id"])
    return _SPLITS[key]


def steps_for(corpus: Corpus, spec: Spec, repeat: int, budget: int) -> FoldSteps:
    """All k steps of one repeat, training on `budget` of the k-2 training folds.

    Leave-one-out schemes: step f tests unit f, validates on a seeded draw of another unit and
    trains on (`budget` of) the other k-2; spec validation made k the number of units.
    """
    if spec.fold_scheme == "file":
        return file_steps(fold_split(corpus, spec), corpus.labels["speaker"], repeat_seed(spec.seed, repeat))
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


# ----------------------------------------------------------------------------- source jobs


# ----------------------------------------------------------------------------- model store

