"""Fold construction: coverage, speaker/label balance, determinism, step masks and budgets."""
import numpy as np
import pytest

from paragrid.errors import UserError
from paragrid.grid.folds import (
    fold_steps,
    repeat_seed,
    speaker_independent_folds,
    speaker_stratified_folds,
)

K = 5


def _corpus(seed: int = 0):
    """Uneven speakers (one smaller than k) and skewed labels, like a real emotion corpus."""
    rng = np.random.default_rng(seed)
    sizes = {"F01": 37, "M01": 52, "F02": 23, "M02": 41, "F03": 3, "M03": 30}
    speakers = np.concatenate([[s] * n for s, n in sizes.items()])
    labels = rng.choice(["angry", "happy", "neutral", "sad"], size=speakers.size, p=[0.1, 0.3, 0.45, 0.15])
    return speakers, labels


def _spread(counts: np.ndarray) -> int:
    return int(counts.max() - counts.min())


def test_stratified_covers_every_utterance_once_with_valid_ids():
    speakers, labels = _corpus()
    fold = speaker_stratified_folds(speakers, labels, K, seed=3)
    assert fold.shape == speakers.shape and fold.dtype == np.int64
    assert fold.min() == 0 and fold.max() == K - 1
    # one fold id per utterance; the masks of fold_steps partition the corpus
    steps = fold_steps(fold, K)
    assert (steps.test.sum(axis=0) == 1).all()


def test_stratified_balances_speakers_labels_and_fold_sizes():
    speakers, labels = _corpus()
    for seed in range(5):
        fold = speaker_stratified_folds(speakers, labels, K, seed=seed)
        assert _spread(np.bincount(fold, minlength=K)) <= 1
        for s in np.unique(speakers):
            in_s = speakers == s
            per_fold = np.bincount(fold[in_s], minlength=K)
            assert _spread(per_fold) <= 1, (seed, s, per_fold)
            for lab in np.unique(labels[in_s]):
                group = in_s & (labels == lab)
                assert _spread(np.bincount(fold[group], minlength=K)) <= 1, (seed, s, lab)


def test_speaker_with_fewer_than_k_utterances_is_spread_one_per_fold():
    speakers, labels = _corpus()
    fold = speaker_stratified_folds(speakers, labels, K, seed=1)
    small = fold[speakers == "F03"]
    assert small.size == 3 and np.unique(small).size == 3


def test_stratified_is_deterministic_per_seed_and_varies_across_seeds():
    speakers, labels = _corpus()
    a = speaker_stratified_folds(speakers, labels, K, seed=7)
    b = speaker_stratified_folds(speakers, labels, K, seed=7)
    c = speaker_stratified_folds(speakers, labels, K, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # not merely a relabelling of the same partition: some pair of utterances changes company
    same_a = a[:, None] == a[None, :]
    same_c = c[:, None] == c[None, :]
    assert not np.array_equal(same_a, same_c)


def test_stratified_accepts_integer_ids_and_rejects_bad_input():
    speakers, labels = _corpus()
    spk_int = np.unique(speakers, return_inverse=True)[1]
    lab_int = np.unique(labels, return_inverse=True)[1]
    np.testing.assert_array_equal(
        speaker_stratified_folds(spk_int, lab_int, K, seed=2),
        speaker_stratified_folds(speakers, labels, K, seed=2),
    )
    with pytest.raises(UserError, match="k"):
        speaker_stratified_folds(speakers, labels, 2, seed=0)
    with pytest.raises(UserError, match="labels"):
        speaker_stratified_folds(speakers, labels[:-1], K, seed=0)
    with pytest.raises(UserError, match="utterances"):
        speaker_stratified_folds(speakers[:3], labels[:3], K, seed=0)
    with pytest.raises(UserError, match="seed"):
        speaker_stratified_folds(speakers, labels, K, seed=-1)


def test_speaker_independent_keeps_speakers_whole_and_sizes_balanced():
    speakers = np.repeat([f"S{i:02d}" for i in range(12)], [40, 35, 33, 30, 30, 28, 25, 22, 20, 15, 12, 10])
    fold = speaker_independent_folds(speakers, K, seed=4)
    assert fold.dtype == np.int64 and set(fold.tolist()) == set(range(K))
    for s in np.unique(speakers):
        assert np.unique(fold[speakers == s]).size == 1, s
    sizes = np.bincount(fold, minlength=K)
    # greedy largest-first packing: no fold exceeds the ideal share by more than the largest speaker
    assert sizes.max() - sizes.min() <= 40
    assert sizes.max() <= speakers.size / K + 40
    np.testing.assert_array_equal(fold, speaker_independent_folds(speakers, K, seed=4))
    assert not np.array_equal(fold, speaker_independent_folds(speakers, K, seed=5))


def test_speaker_independent_needs_k_speakers():
    speakers = np.repeat(["a", "b", "c", "d"], 5)
    with pytest.raises(UserError, match="at least k=5 speakers"):
        speaker_independent_folds(speakers, 5, seed=0)
    assert set(speaker_independent_folds(speakers, 4, seed=0).tolist()) == {0, 1, 2, 3}


def test_fold_steps_masks_are_disjoint_covering_and_in_the_right_folds():
    speakers, labels = _corpus()
    fold = speaker_stratified_folds(speakers, labels, K, seed=0)
    steps = fold_steps(fold, K)
    n = fold.size
    assert steps.train.shape == steps.val.shape == steps.test.shape == (K, n)
    assert steps.train.dtype == bool
    np.testing.assert_array_equal(steps.val_fold, (np.arange(K) + 1) % K)
    for i in range(K):
        tr, va, te = steps.train[i], steps.val[i], steps.test[i]
        assert not (tr & va).any() and not (tr & te).any() and not (va & te).any()
        assert (tr | va | te).all()  # no budget: every utterance is used
        np.testing.assert_array_equal(te, fold == i)
        np.testing.assert_array_equal(va, fold == (i + 1) % K)
        assert steps.train_folds[i] == tuple(f for f in range(K) if f not in (i, (i + 1) % K))
        np.testing.assert_array_equal(tr, np.isin(fold, steps.train_folds[i]))


def test_fold_steps_budget_picks_a_seeded_subset_per_step():
    k = 10
    fold = np.arange(200) % k
    steps = fold_steps(fold, k, budget=3, seed=11)
    for i in range(k):
        chosen = steps.train_folds[i]
        allowed = {f for f in range(k) if f not in (i, (i + 1) % k)}
        assert len(chosen) == 3 and set(chosen) <= allowed
        np.testing.assert_array_equal(steps.train[i], np.isin(fold, chosen))
        assert not (steps.train[i] & (steps.val[i] | steps.test[i])).any()
    again = fold_steps(fold, k, budget=3, seed=11)
    assert again.train_folds == steps.train_folds
    np.testing.assert_array_equal(again.train, steps.train)
    # the subset differs across steps (in terms of offsets from the test fold) and across seeds
    relative = {tuple(sorted((f - i) % k for f in steps.train_folds[i])) for i in range(k)}
    assert len(relative) > 1
    assert fold_steps(fold, k, budget=3, seed=12).train_folds != steps.train_folds
    # a full budget equals no budget
    assert fold_steps(fold, k, budget=k - 2, seed=5).train_folds == fold_steps(fold, k).train_folds


@pytest.mark.parametrize("budget", [0, -1, 9, 3.0, True])
def test_fold_steps_rejects_invalid_budget(budget):
    fold = np.arange(50) % 10
    with pytest.raises(UserError, match="budget must be in 1..k-2"):
        fold_steps(fold, 10, budget=budget)


def test_fold_steps_rejects_bad_k_and_fold_ids():
    with pytest.raises(UserError, match="k"):
        fold_steps(np.arange(10) % 2, 2)
    with pytest.raises(UserError, match="0..4"):
        fold_steps(np.arange(10) % 6, 5)
    with pytest.raises(UserError, match="empty"):
        fold_steps(np.array([0, 1, 2, 0, 1, 2]), 4)


def test_repeat_seed_is_stable_and_distinct():
    assert repeat_seed(0, 0) == 0
    assert repeat_seed(42, 3) == 42003
    seeds = {repeat_seed(b, r) for b in range(3) for r in range(10)}
    assert len(seeds) == 30
    with pytest.raises(UserError):
        repeat_seed(1, 1000)
    with pytest.raises(UserError):
        repeat_seed(-1, 0)
