"""Corpus checks against a spec, before Ray starts: seconds of numpy instead of a failed grid.

A corpus that cannot support the spec's task fails deterministically in every trial, but only
after the source models have trained; and a fold that lacks a class gives numbers that look
fine and mean something else. `validate_corpora` finds both on the driver, from the labels
and the fold masks alone (no training, no features), and stops with one line naming the corpus
file and the fix:
  * the corpora of a trial share a feature set (the same feature columns in the same order);
  * every corpus a trial uses holds >= 2 classes of each task it is used for (the target task
    on every target, each source task on the corpus it is trained on);
  * speaker-stratified folds: every speaker has >= k utterances (else it cannot be in every
    fold, which is what the scheme promises and what the speaker source task relies on);
  * after the split, in every repeat and at every fold budget the spec uses: each step's
    training rows hold every class of the task (a class never trained on can never be
    predicted), and, for the k-fold schemes, each test fold holds every class of the target task
    (its UAR would otherwise be a mean over fewer classes, with another chance level).

Leave-one-speaker-out and leave-one-session-out test one unit per step; a speaker who never
expresses some emotion is a fact of the corpus, not a fixable split, so such test units are a
`FoldWarning` (their step's UAR is the mean recall over the classes they hold), not an error.

`leave_one_out_k` and `leave_one_out_repeats` serve spec validation: under a leave-one-out
scheme k is the number of units, read from the parquets' speaker/session column, and repeats
is 1.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paragrid.errors import UserError
from paragrid.grid.data._corpus import fold_split, steps_for
from paragrid.grid.data._files import overlapping_speakers
from paragrid.grid.data._folds import FoldSteps
from paragrid.grid.spec import LEAVE_ONE_OUT, Spec, corpus_key, expand_trials, parse_source


class FoldWarning(UserWarning):
    """A split that is valid but scored over fewer classes in some steps (leave-one-out)."""


@dataclass(frozen=True)
class _Need:
    """One (corpus, task, budget) the grid trains on, and in which role."""

    corpus: str
    task: str
    budget: int
    role: str   # "target" (the spec's task on a target) or "source"
    name: str   # how the spec names it: "task 'emotion'", "source 'gender'", ...


# ----------------------------------------------------------------------------- spec side: k


# ----------------------------------------------------------------------------- corpora side

def validate_corpora(spec: Spec, corpora: dict) -> None:
    """Raise a one-line UserError when a corpus cannot support the spec (see the module doc).

    `corpora` maps corpus names to `paragrid.grid.data._corpus.Corpus` (from `load_corpora`, with the
    label columns of every source task loaded). Costs a few fold splits per repeat: no training.
    Warns (`FoldWarning`) for leave-one-out test units without some class.
    """

    _check_shared_features(spec, corpora)
    # Labels and folds are the same under every feature set (load_corpora checked that each
    # corpus's parquets hold the same utterances): check each corpus once, by name.
    corpora = {c.name: c for c in reversed(list(corpora.values()))}
    needs = _needs(spec)
    if spec.fold_scheme == "file":
        _report_file_splits(spec, corpora)
    for need in needs:
        _check_classes(spec, corpora[need.corpus], need)
    if spec.fold_scheme == "speaker-stratified":
        for name in dict.fromkeys(n.corpus for n in needs):
            _check_speaker_sizes(spec, corpora[name])

    short_units: dict[str, dict[str, list[str]]] = {}  # corpus -> test unit -> missing classes
    for need in needs:
        corpus = corpora[need.corpus]
        classes, codes = np.unique(corpus.labels[need.task], return_inverse=True)
        onehot = np.eye(len(classes), dtype=np.int64)[codes.reshape(-1)]
        for repeat in range(spec.repeats):
            steps = steps_for(corpus, spec, repeat, need.budget)
            if need.role == "target":  # first: a class missing from a fold explains the rest
                test_counts = steps.test @ onehot
                if spec.fold_scheme in LEAVE_ONE_OUT:
                    for f in np.flatnonzero((test_counts == 0).any(axis=1)):
                        missing = [str(c) for c in classes[test_counts[f] == 0]]
                        short_units.setdefault(corpus.name, {})[steps.test_unit[f]] = missing
                else:
                    _check_test_folds(spec, corpus, need, repeat, classes, test_counts)
            _check_training_classes(spec, corpus, need, steps, repeat, classes, steps.train @ onehot)
    for name, units in short_units.items():
        unit = LEAVE_ONE_OUT[spec.fold_scheme]
        listed = ", ".join(f"{u} (no {'/'.join(m)})" for u, m in sorted(units.items()))
        warnings.warn(
            f"corpus '{name}' ({corpora[name].path}): {len(units)} of {spec.k} test {unit}s hold no "
            f"utterance of some '{spec.task}' class: {listed}; their step's UAR is the mean recall "
            f"over the classes they hold", FoldWarning, stacklevel=2)


def _check_shared_features(spec: Spec, corpora: dict) -> None:
    """A trial's corpora must share a feature set: a cross-corpus source's network columns read
    the target's features, so their columns (names and order) must be the same."""
    seen: set[tuple[str, str, str]] = set()
    for t in expand_trials(spec).trials:
        target = corpora[corpus_key(t.target, t.features)]
        for s in t.sources:
            other = parse_source(s)[1]
            if other is None or other == t.target or (t.target, other, t.features) in seen:
                continue
            seen.add((t.target, other, t.features))
            source = corpora[corpus_key(other, t.features)]
            if source.columns != target.columns:
                what = lambda c: f"{len(c.columns)} {c.feature_set or 'feature'} columns ({c.path})"  # noqa: E731
                raise UserError(f"trial {t.trial_id} mixes feature sets: target '{t.target}' has "
                                f"{what(target)}, source '{s}' has {what(source)}; the corpora of a "
                                "trial must share a feature set: extract both with the same --feature-set")


def _report_file_splits(spec: Spec, corpora: dict) -> None:
    """fold_scheme file: each split's coverage, and speakers in both training and test of a step."""
    for name in spec.corpora:
        corpus = corpora[name]
        split = fold_split(corpus, spec)
        unknown = f"; {split.unknown} id(s) in the file are not in the corpus" if split.unknown else ""
        warnings.warn(f"corpus '{name}' ({spec.fold_files[name]}): the published split places "
                      f"{split.covered} of {corpus.n} utterances ({split.covered / corpus.n:.1%}) in "
                      f"{split.k} folds; the rest are in no step{unknown}", FoldWarning, stacklevel=3)
        steps = steps_for(corpus, spec, 0, spec.k - 2)
        both = overlapping_speakers(steps, corpus.labels["speaker"])
        if both:
            listed = "; ".join(f"fold {split.names[i]}: {', '.join(s[:3])}" for i, s in both[:3])
            warnings.warn(f"corpus '{name}' ({spec.fold_files[name]}): {len(both)} of {split.k} steps have "
                          f"speakers in both training and test ({listed}): the split is not speaker-"
                          f"independent, so its UAR is not a new-speaker UAR", FoldWarning, stacklevel=3)


def _needs(spec: Spec) -> list[_Need]:
    """Every (corpus, task, budget) some trial trains on, first use first."""
    out: dict[tuple, _Need] = {}
    for t in expand_trials(spec).trials:
        wanted = [_Need(t.target, spec.task, t.budget, "target", f"task '{spec.task}'")]
        for s in t.sources:
            task, other = parse_source(s)
            cross = other is not None and other != t.target
            wanted.append(_Need(other if cross else t.target, task, spec.k - 2 if cross else t.budget,
                                "source", f"source '{s}'"))
        for need in wanted:
            out.setdefault((need.corpus, need.task, need.budget, need.role), need)
    return list(out.values())


def _fix_labels(corpus) -> str:
    return (f"re-extract it with `paragrid features SOURCE --format FMT --label-map MAP.yaml "
            f"--out {Path(corpus.path).name}`, MAP.yaml mapping the corpus' labels to classes")


def _check_classes(spec: Spec, corpus, need: _Need) -> None:
    if need.task not in corpus.labels:
        raise UserError(f"corpus '{corpus.name}' ({corpus.path}): no '{need.task}' labels were loaded "
                        f"for {need.name}: load the corpora with that label column")
    values, counts = np.unique(corpus.labels[need.task], return_counts=True)
    if need.task == "gender" and "unknown" in values:
        n = int(counts[list(values).index("unknown")])
        raise UserError(f"corpus '{corpus.name}' ({corpus.path}) lacks gender for {n} of {corpus.n} "
                        f"utterances (gender 'unknown'), which {need.name} needs: give the manifest a "
                        f"gender column (M/F) and re-extract, or drop the gender source from the spec")
    if len(values) >= 2:
        return
    found = f"'{values[0]}' for all {int(counts[0])} utterances" if len(values) else "no utterances"
    if need.role == "target":
        raise UserError(f"corpus '{corpus.name}' ({corpus.path}) has a single '{need.task}' class "
                        f"({found}): a classifier needs at least two; {_fix_labels(corpus)}")
    raise UserError(f"corpus '{corpus.name}' ({corpus.path}): {need.name} has a single class ({found}), "
                    f"nothing to learn: drop that source for this corpus from the spec")


def _check_speaker_sizes(spec: Spec, corpus) -> None:
    speakers, counts = np.unique(corpus.labels["speaker"], return_counts=True)
    small = np.flatnonzero(counts < spec.k)
    if not small.size:
        return
    worst = small[np.argmin(counts[small])]
    lower = f"lower k to {int(counts[worst])}, " if counts[worst] >= 3 else ""
    if small.size == 1:
        who = f"speaker '{speakers[worst]}' has {int(counts[worst])} utterance(s), fewer than k={spec.k}"
    else:  # every one of them, so one edit of the spec fixes them all
        who = ("speakers " + ", ".join(f"'{speakers[i]}' ({int(counts[i])})" for i in small)
               + f" have fewer than k={spec.k} utterances")
    names = ", ".join(str(speakers[i]) for i in small)
    raise UserError(
        f"corpus '{corpus.name}' ({corpus.path}): {who}, so speaker-stratified folds "
        f"cannot put {'it' if small.size == 1 else 'them'} in every fold: {lower}leave "
        f"{'it' if small.size == 1 else 'them'} out in the spec (exclude_speakers: [{names}], or "
        f"min_utterances: {spec.k}), or use fold_scheme: speaker-independent")


def _step_name(spec: Spec, steps: FoldSteps, repeat: int, f: int) -> str:
    if spec.fold_scheme in LEAVE_ONE_OUT:
        unit = LEAVE_ONE_OUT[spec.fold_scheme]
        return f"repeat {repeat}, step {f} (test {unit} {steps.test_unit[f]})"
    return f"repeat {repeat}, step {f} (test fold {f})"


def _check_training_classes(spec: Spec, corpus, need: _Need, steps: FoldSteps, repeat: int,
                            classes: np.ndarray, counts: np.ndarray) -> None:
    bad = np.flatnonzero((counts == 0).any(axis=1))
    if not bad.size:
        return
    f = int(bad[0])
    missing = ", ".join(f"'{c}'" for c in classes[counts[f] == 0][:3])
    loo = spec.fold_scheme in LEAVE_ONE_OUT
    unit = f"{LEAVE_ONE_OUT[spec.fold_scheme]}s" if loo else "folds"
    budget = f"budget {need.budget} of {spec.k - 2} training {unit}"
    fix = ("raise the budget" if need.budget < spec.k - 2 else
           "the corpus has too few utterances of that class; merge or drop it with --label-map"
           if need.role == "target" else "drop that source for this corpus")
    if need.budget < spec.k - 2 and not loo:
        fix += " or lower k"
    raise UserError(
        f"corpus '{corpus.name}' ({corpus.path}): {_step_name(spec, steps, repeat, f)} trains {need.name} "
        f"on no {missing} utterance ({budget}; {bad.size} of {spec.k} steps alike), so the model can "
        f"never predict it: {fix}")


def _check_test_folds(spec: Spec, corpus, need: _Need, repeat: int, classes: np.ndarray,
                      counts: np.ndarray) -> None:
    bad = np.flatnonzero((counts == 0).any(axis=1))
    if not bad.size:
        return
    f = int(bad[0])
    cls = classes[counts[f] == 0][0]
    total = int((corpus.labels[need.task] == cls).sum())
    other = (" or use fold_scheme: leave-one-speaker-out, which scores each test speaker over "
             "the classes it holds") if spec.fold_scheme == "speaker-independent" else ""
    raise UserError(
        f"corpus '{corpus.name}' ({corpus.path}): repeat {repeat}, test fold {f} holds no '{cls}' "
        f"utterance ('{cls}' has {total} in the corpus; {bad.size} of {spec.k} folds lack a class), "
        f"so its UAR would be a mean over fewer classes: lower k, or merge the class with "
        f"--label-map{other}")
