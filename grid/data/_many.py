"""Many corpora: one label set over every corpus, and pooled source corpora for PT/FT.

A transfer matrix compares corpora that label their emotions differently. `apply_classes` gives
every corpus the spec's label set (`classes:`): a corpus that lacks one of the classes is refused
in one line naming corpus and class (unless the spec writes `classes: shared`, the classes every
corpus holds), and utterances of any other class are left out of that corpus, with a warning
that counts them (nothing is dropped silently).

`add_pooled` builds the corpora that PT/FT's pooled sources train on (`emotion@all-others`, or
an explicit list of one task on several other corpora): the member corpora's utterances one
after another, speakers and sessions prefixed with their corpus so that two corpora's `spk1`
stay two speakers. A pooled corpus is split and z-normalised as one corpus (its own folds of
the spec's scheme, its training folds' statistics under `normalisation: train`); it is a source
only, so none of its utterances is ever a target's test utterance.
"""
from __future__ import annotations

import dataclasses
import hashlib
import warnings

import numpy as np

from paragrid.errors import UserError
from paragrid.grid.data._corpus import Corpus, read_corpora
from paragrid.grid.spec import LEAVE_ONE_OUT, Spec, Trial, corpus_key, expand_trials, parse_source, pooled


def load_corpora(spec: Spec, label_columns: set[str]) -> dict[str, Corpus]:
    """Every corpus of the spec as the trials see it: read, restricted to the spec's classes, plus
    the pooled corpora of PT/FT's pooled sources (keyed 'a+b'); a problem is a UserError naming it."""
    return add_pooled(spec, apply_classes(spec, read_corpora(spec, label_columns)), expand_trials(spec).trials)


class ClassesWarning(UserWarning):
    """Utterances left out of a corpus because their class is not in the spec's label set."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _subset(corpus: Corpus, keep: np.ndarray, tag: str) -> Corpus:
    return dataclasses.replace(corpus, x=corpus.x[keep], labels={c: v[keep] for c, v in corpus.labels.items()},
                               fingerprint=_digest(corpus.fingerprint, tag))


def apply_classes(spec: Spec, corpora: dict[str, Corpus]) -> dict[str, Corpus]:
    """Every corpus restricted to the spec's label set of its task (no-op without `classes:`)."""
    if spec.classes is None:
        return corpora
    held = {n: set(c.labels[spec.task].tolist()) for n, c in corpora.items()}
    if spec.classes == "shared":
        classes = sorted(set.intersection(*held.values()))
        if len(classes) < 2:
            raise UserError(f"spec {spec.origin}: the corpora share {len(classes)} '{spec.task}' "
                            f"class(es) ({', '.join(classes) or 'none'}): a classifier needs two; "
                            f"map their labels to common classes with --label-map")
    else:
        classes = list(spec.classes)
        for key, have in held.items():
            missing = [c for c in classes if c not in have]
            if missing:
                raise UserError(
                    f"corpus '{corpora[key].name}' ({corpora[key].path}) has no '{missing[0]}' utterance of the spec's "
                    f"classes ({', '.join(classes)}): map a label to it with --label-map, drop it from "
                    f"classes, or write `classes: shared` for the classes all corpora hold")
    out, warned = {}, set()
    for name, corpus in corpora.items():
        keep = np.isin(corpus.labels[spec.task], classes)
        if not keep.all() and corpus.name not in warned:  # once per corpus, not per feature set
            warned.add(corpus.name)
            left = corpus.labels[spec.task][~keep]
            counts = ", ".join(f"{c}={int((left == c).sum())}" for c in sorted(set(left.tolist())))
            warnings.warn(f"corpus '{corpus.name}' ({corpus.path}): {int((~keep).sum())} utterances outside the "
                          f"spec's classes ({', '.join(classes)}) are left out: {counts}", ClassesWarning,
                          stacklevel=2)
        out[name] = corpus if keep.all() else _subset(corpus, keep, "classes:" + ",".join(classes))
    return out


def pooled_name(sources: tuple[str, ...]) -> str:
    """'emotion@a', 'emotion@b' -> 'a+b' (corpus names cannot hold '+')."""
    return "+".join(parse_source(s)[1] for s in sources)


def pool(members: list[Corpus]) -> Corpus:
    """One corpus of the members' utterances, speakers and sessions prefixed by their corpus."""
    shared = set.intersection(*(set(c.labels) for c in members))
    labels = {}
    for col in sorted(shared):
        values = [c.labels[col] for c in members]
        if col in ("speaker", "session"):
            values = [np.char.add(f"{c.name}/", v.astype(str)) for c, v in zip(members, values)]
        labels[col] = np.concatenate(values).astype(object).astype(str)
    first = members[0]  # a trial's corpora share one feature set (validate_corpora checks it)
    return Corpus(name="+".join(c.name for c in members), path=" + ".join(c.path for c in members),
                  x=np.concatenate([c.x for c in members]), labels=labels,
                  fingerprint=_digest("pool", *(c.fingerprint for c in members)),
                  features=first.features, feature_set=first.feature_set, columns=first.columns)


def add_pooled(spec: Spec, corpora: dict[str, Corpus], trials: list[Trial]) -> dict[str, Corpus]:
    """`corpora` plus one pooled corpus per pooled PT/FT source set of `trials`."""
    out = dict(corpora)
    for t in trials:
        if t.method != "ptft" or not pooled(t.sources, t.target):
            continue
        name = corpus_key(pooled_name(t.sources), t.features)
        if name in out:
            continue
        if spec.fold_scheme in LEAVE_ONE_OUT or spec.fold_scheme == "file":
            raise UserError(f"spec {spec.origin}: ptft on {'+'.join(t.sources)} trains one model on the "
                            f"pooled corpora, which {spec.fold_scheme} cannot split (its folds are one "
                            f"corpus's units or published lists): use a k-fold fold_scheme or drop ptft for that source set")
        out[name] = pool([corpora[corpus_key(parse_source(s)[1], t.features)] for s in t.sources])
    return out
