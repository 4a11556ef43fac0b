"""Cross-validation folds: which utterance tests, validates and trains in each step.

The paper's protocol (docs/PROTOCOL.md, section 4) is repeated k-fold CV with folds
*stratified by speaker*: every speaker appears in every fold, so speaker and gender source
models can be trained and tested on the same speakers. Step i tests fold i, selects the epoch on fold
(i+1) % k and trains on the rest, or on a seeded `budget` of the rest (cross-corpus experiment; smaller budgets nest inside larger).

Two leave-one-out schemes follow the literature users compare with (docs/PROTOCOL.md): in
leave-one-speaker-out (LOSO) step i tests speaker i, and in leave-one-session-out step i tests
session i; there k is the number of speakers (sessions), the validation unit of each step is a
seeded draw among the other units, and the rest train (`leave_one_out_steps`).

Everything here is a pure function of its arguments and a seed, so a trial can be re-run on any
machine and land on exactly the same utterances. Seeds must be non-negative integers (numpy's
SeedSequence refuses negative ones).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from paragrid.errors import UserError

# repeat_seed spaces repeats of different base seeds this far apart, so (base, repeat) pairs
# never collide as long as repeat < REPEATS_PER_BASE.
REPEATS_PER_BASE = 1000

# Third entry of the validation draw's seed sequence: [seed, step, _VAL_STREAM] is a stream of its
# own, independent of the budget draw's [seed, step], so neither choice shifts the other.
_VAL_STREAM = 1


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_k(k) -> int:
    # k = 3 is the smallest split with a test, a validation and a training fold.
    return _check_int("k (number of folds)", k, 3)


def _codes(values: np.ndarray, name: str) -> np.ndarray:
    """Integer codes 0..U-1 for any 1-D array of ids (strings, ints); sorted-unique order."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise UserError(f"{name} must be a 1-D array with one entry per utterance, got shape {values.shape}")
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)


def speaker_stratified_folds(speakers: np.ndarray, labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id (0..k-1, int64) per utterance, stratified by speaker and, within a speaker, by label.

    Construction: order the utterances by (speaker in a seeded random order, label in a seeded
    random order drawn anew for each speaker, seeded random tie-break) and deal that sequence
    round-robin over the k folds from a seeded random start. (With one label order for every
    speaker, a rare class landed in the same folds for every speaker, leaving whole folds without
    it on small corpora; a per-speaker order spreads it.)
    Because one deal runs through the whole sequence:
      * each speaker's utterances are a consecutive run, so its per-fold counts differ by <= 1;
      * each (speaker, label) group is a consecutive run too, so its per-fold counts differ
        by <= 1 (label balance within a speaker is always achieved);
      * each speaker's start offset continues where the previous speaker stopped, so the
        remainders rotate over the folds and total fold sizes differ by <= 1.
    A speaker with fewer than k utterances is allowed: it simply appears in fewer folds (at most
    one utterance per fold). Same seed -> identical split; another seed -> another split.
    """
    k = _check_k(k)
    seed = _check_int("seed", seed, 0)
    spk = _codes(speakers, "speakers")
    lab = _codes(labels, "labels")
    n = spk.size
    if lab.size != n:
        raise UserError(f"speakers ({n}) and labels ({lab.size}) must have one entry per utterance each")
    if n < k:
        raise UserError(f"only {n} utterances for k={k} folds: every fold needs at least one; lower k")

    rng = np.random.default_rng(seed)
    speaker_rank = rng.permutation(spk.max() + 1)[spk]  # seeded order of whole speakers
    tie_break = rng.random(n)                            # seeded shuffle inside a label group
    start = int(rng.integers(k))
    n_labels = lab.max() + 1
    label_rank = np.argsort(rng.random((spk.max() + 1, n_labels)), axis=1)[spk, lab]  # per speaker
    order = np.lexsort((tie_break, label_rank, speaker_rank))   # last key is the primary one
    fold = np.empty(n, dtype=np.int64)
    fold[order] = (start + np.arange(n)) % k
    return fold


def speaker_independent_folds(speakers: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id (0..k-1, int64) per utterance with every speaker wholly inside one fold.

    For leave-speakers-out evaluation. Speakers are shuffled (seeded), then placed largest first
    into the currently smallest fold (greedy bin packing, ties by the shuffle), which keeps fold
    sizes close; fold ids are finally permuted so fold 0 is not always the biggest speaker's.
    """
    k = _check_k(k)
    seed = _check_int("seed", seed, 0)
    spk = _codes(speakers, "speakers")
    n_speakers = int(spk.max()) + 1 if spk.size else 0
    if n_speakers < k:
        raise UserError(
            f"speaker-independent folds need at least k={k} speakers, the corpus has {n_speakers}; "
            "lower k or use speaker-stratified folds"
        )
    rng = np.random.default_rng(seed)
    counts = np.bincount(spk, minlength=n_speakers)
    shuffled = rng.permutation(n_speakers)
    by_size = shuffled[np.argsort(-counts[shuffled], kind="stable")]
    sizes = np.zeros(k, dtype=np.int64)
    fold_of_speaker = np.empty(n_speakers, dtype=np.int64)
    for s in by_size:  # loop over speakers (tens), not utterances
        f = int(np.argmin(sizes))
        fold_of_speaker[s] = f
        sizes[f] += counts[s]
    relabel = rng.permutation(k)
    return relabel[fold_of_speaker[spk]]


@dataclass(frozen=True)
class FoldSteps:
    """Masks for all k steps of one repeat, stacked on a leading fold axis (F = k)."""

    train: np.ndarray  # (k, N) bool  the budgeted training folds of step i
    val: np.ndarray    # (k, N) bool  fold val_fold[i] ((i+1) % k for the k-fold schemes)
    test: np.ndarray   # (k, N) bool  fold i
    val_fold: np.ndarray    # (k,) int
    train_folds: list[tuple[int, ...]]  # which folds trained step i (after budget)
    # Leave-one-out schemes: the speaker (session) that step i tests and the one it validates
    # on, so results can name them; empty for the k-fold schemes, whose folds mix speakers.
    test_unit: tuple[str, ...] = ()
    val_unit: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        """Number of steps (F): the spec's k, or the number of units for leave-one-out."""
        return int(self.test.shape[0])


def fold_steps(fold_of: np.ndarray, k: int, budget: int | None = None, seed: int = 0,
               val_fold: np.ndarray | None = None) -> FoldSteps:
    """Step i: test fold i, validation fold (i+1) % k, training the other k-2 folds or a subset.

    With a budget b < k-2 the training folds of step i are the first b of the k-2 in one seeded
    order, np.random.default_rng([seed, i]).permutation: reproducible, independent across steps,
    identical for every method and source given the same seed (so methods are compared on the
    same data), and *nested*: budget 1 lies inside 2 inside 4 inside 8 of the same step, so a
    curve over budgets carries no subset noise between its points (docs/PROTOCOL.md).
    `val_fold` (k,) replaces the (i+1) % k rule with a validation fold per step (leave-one-out
    schemes draw it, see `choose_val_folds`); val_fold[i] must differ from i.
    Every fold must hold at least one utterance (an empty test or validation fold cannot be scored).
    """
    k = _check_k(k)
    seed = _check_int("seed", seed, 0)
    if budget is None:
        budget = k - 2
    if isinstance(budget, bool) or not isinstance(budget, Integral) or not 1 <= budget <= k - 2:
        raise UserError(f"budget must be in 1..k-2 = 1..{k - 2} training folds, got {budget!r}")
    budget = int(budget)

    fold_of = np.asarray(fold_of)
    if fold_of.ndim != 1 or not np.issubdtype(fold_of.dtype, np.integer):
        raise UserError(f"fold_of must be a 1-D integer array of fold ids, got {fold_of.dtype} {fold_of.shape}")
    if fold_of.size and (fold_of.min() < 0 or fold_of.max() >= k):
        raise UserError(f"fold ids must lie in 0..{k - 1} for k={k}, got {fold_of.min()}..{fold_of.max()}")
    sizes = np.bincount(fold_of, minlength=k)
    if (sizes == 0).any():
        raise UserError(f"folds {np.flatnonzero(sizes == 0).tolist()} are empty (k={k}); lower k")

    is_fold = fold_of[None, :] == np.arange(k)[:, None]  # (k, N): row f = members of fold f
    if val_fold is None:
        val_fold = (np.arange(k) + 1) % k
    else:
        val_fold = np.asarray(val_fold)
        if (val_fold.shape != (k,) or not np.issubdtype(val_fold.dtype, np.integer)
                or (val_fold < 0).any() or (val_fold >= k).any() or (val_fold == np.arange(k)).any()):
            raise UserError(f"val_fold must be k={k} fold ids in 0..{k - 1}, none equal to its own "
                            f"step, got {val_fold.tolist()}")
    train_folds: list[tuple[int, ...]] = []
    for i in range(k):
        rest = np.array([f for f in range(k) if f != i and f != val_fold[i]])
        if budget < rest.size:
            rest = np.random.default_rng([seed, i]).permutation(rest)[:budget]
        train_folds.append(tuple(sorted(int(f) for f in rest)))
    train = np.zeros((k, fold_of.size), dtype=bool)
    for i, folds in enumerate(train_folds):
        train[i] = is_fold[list(folds)].any(axis=0)
    return FoldSteps(train=train, val=is_fold[val_fold], test=is_fold.copy(),
                     val_fold=val_fold.astype(np.int64), train_folds=train_folds)


def unit_folds(units: np.ndarray, name: str = "units") -> tuple[np.ndarray, tuple[str, ...]]:
    """(fold id per utterance, unit names): fold f holds every utterance of the f-th unit.

    Units are speakers (leave-one-speaker-out) or sessions (leave-one-session-out), numbered in
    sorted order of their names, so fold f is the same speaker in every repeat and every run:
    results of two methods pair up by speaker, and a row's fold names its test speaker.
    """
    values = np.asarray(units)
    if values.ndim != 1:
        raise UserError(f"{name} must be a 1-D array with one entry per utterance, got shape {values.shape}")
    names, codes = np.unique(values.astype(str), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), tuple(str(u) for u in names)


def choose_val_folds(fold_of: np.ndarray, k: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """A validation fold per step i (never i itself), drawn from np.random.default_rng([seed, i, 1]).

    Leave-one-out schemes have no natural "next fold"; a fixed neighbour would tie each test
    speaker to one validation speaker in every repeat. The draw is uniform over the folds that
    hold the most classes of `labels` (all of them where any fold does), so that the validation
    UAR that picks the epoch is not computed over a missing class when that can be avoided.
    """
    k = _check_k(k)
    seed = _check_int("seed", seed, 0)
    fold_of = np.asarray(fold_of)
    if fold_of.ndim != 1 or (fold_of.size and (fold_of.min() < 0 or fold_of.max() >= k)):
        raise UserError(f"fold_of must be a 1-D array of fold ids in 0..{k - 1}")
    if labels is None:
        coverage = np.zeros(k, dtype=np.int64)
    else:
        lab = _codes(labels, "labels")
        if lab.size != fold_of.size:
            raise UserError(f"labels ({lab.size}) and folds ({fold_of.size}) must have one entry per utterance each")
        present = np.zeros((k, int(lab.max()) + 1 if lab.size else 1), dtype=bool)
        present[fold_of, lab] = True
        coverage = present.sum(axis=1)
    out = np.empty(k, dtype=np.int64)
    for i in range(k):
        others = np.array([f for f in range(k) if f != i])
        best = others[coverage[others] == coverage[others].max()]
        out[i] = int(np.random.default_rng([seed, i, _VAL_STREAM]).choice(best))
    return out


def leave_one_out_steps(units: np.ndarray, seed: int, budget: int | None = None,
                        labels: np.ndarray | None = None) -> FoldSteps:
    """Leave-one-speaker-out (units = speakers) or leave-one-session-out (units = sessions).

    One step per unit: that unit is the test set; one other unit, drawn per step and seeded by
    `seed` (the repeat's seed, so it encodes (spec seed, repeat)), is the validation set; the
    remaining U-2 units train, or a seeded `budget` of them (drawn as in `fold_steps`). The
    test sets are the same in every repeat (that is what leave-one-out means); repeats re-draw
    the validation unit, the budget subset and the initialisation only.
    """
    fold_of, names = unit_folds(units)
    k = len(names)
    if k < 3:
        raise UserError(f"leave-one-out needs at least 3 units (test, validation, training), "
                        f"got {k}: {', '.join(names)}")
    val = choose_val_folds(fold_of, k, seed, labels)
    steps = fold_steps(fold_of, k, budget=budget, seed=seed, val_fold=val)
    return FoldSteps(train=steps.train, val=steps.val, test=steps.test, val_fold=steps.val_fold,
                     train_folds=steps.train_folds, test_unit=names,
                     val_unit=tuple(names[int(v)] for v in val))


def repeat_seed(base_seed: int, repeat: int) -> int:
    """Seed of repeat r: base_seed * 1000 + repeat.

    Stable across versions and machines (plain arithmetic, recorded in results as `seed`), and
    distinct for every (base_seed, repeat) with 0 <= repeat < 1000.
    """
    base_seed = _check_int("base seed", base_seed, 0)
    repeat = _check_int("repeat", repeat, 0)
    if repeat >= REPEATS_PER_BASE:
        raise UserError(f"repeat must be < {REPEATS_PER_BASE}, got {repeat}; use fewer repeats")
    return base_seed * REPEATS_PER_BASE + repeat
