"""Fold construction: coverage, speaker/label balance, determinism, step masks and budgets."""
import numpy as np
import pytest

from paragrid.errors import UserError
from paragrid.grid.data import (choose_val_folds, fold_steps, leave_one_out_steps, repeat_seed,
                                speaker_independent_folds, speaker_stratified_folds, unit_folds)

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


# --- leave-one-speaker-out and leave-one-session-out -------------------------------------------


def _loso_corpus(seed: int = 0):
    """Seven speakers of uneven size in three-and-a-bit sessions; speaker M03 never sounds sad."""
    rng = np.random.default_rng(seed)
    sizes = {"F01": 30, "M01": 24, "F02": 41, "M02": 18, "F03": 27, "M03": 22, "F04": 35}
    speakers = np.concatenate([[s] * n for s, n in sizes.items()])
    sessions = np.array([f"session{s[-1]}" for s in speakers])
    labels = rng.choice(["angry", "happy", "neutral", "sad"], size=speakers.size)
    labels[speakers == "M03"] = rng.choice(["angry", "happy", "neutral"], size=sizes["M03"])
    return speakers, sessions, labels


def test_loso_tests_every_speaker_exactly_once_and_never_trains_or_validates_on_it():
    speakers, _, labels = _loso_corpus()
    steps = leave_one_out_steps(speakers, seed=repeat_seed(3, 1), labels=labels)
    names = sorted(set(speakers))
    assert steps.k == len(names) and steps.test_unit == tuple(names)
    tested = steps.test.sum(axis=0)
    np.testing.assert_array_equal(tested, np.ones(speakers.size))  # each utterance tested once
    for i, speaker in enumerate(names):
        tr, va, te = steps.train[i], steps.val[i], steps.test[i]
        np.testing.assert_array_equal(te, speakers == speaker)      # the whole speaker, alone
        assert speaker not in set(speakers[tr]) | set(speakers[va])  # never trains or validates
        val_speakers = set(speakers[va])
        assert len(val_speakers) == 1 and val_speakers == {steps.val_unit[i]}
        assert steps.val_unit[i] != speaker
        assert (tr | va | te).all() and not (tr & va).any()         # the rest train
        assert set(speakers[tr]) == set(names) - {speaker, steps.val_unit[i]}


def test_loso_validation_speaker_is_seeded_per_step_and_repeat():
    speakers, _, labels = _loso_corpus()
    a = leave_one_out_steps(speakers, seed=repeat_seed(0, 0), labels=labels)
    b = leave_one_out_steps(speakers, seed=repeat_seed(0, 0), labels=labels)
    assert a.val_unit == b.val_unit
    np.testing.assert_array_equal(a.train, b.train)
    # other repeats draw other validation speakers; the test speakers stay the same
    draws = {leave_one_out_steps(speakers, seed=repeat_seed(0, r), labels=labels).val_unit
             for r in range(6)}
    assert len(draws) > 1
    assert {leave_one_out_steps(speakers, seed=repeat_seed(0, r)).test_unit for r in range(6)} == {a.test_unit}
    # not a fixed neighbour: the offset validation - test varies over the steps
    assert len({(int(v) - i) % a.k for i, v in enumerate(a.val_fold)}) > 1


def test_loso_validation_prefers_speakers_holding_every_class():
    speakers, _, labels = _loso_corpus()
    for r in range(20):
        steps = leave_one_out_steps(speakers, seed=repeat_seed(0, r), labels=labels)
        assert "M03" not in steps.val_unit  # the speaker without 'sad' never selects an epoch
    # ... but it is drawn when nothing else is left
    fold, names = unit_folds(np.array(["a", "a", "b", "b", "c", "c"]))
    lab = np.array(["x", "y", "x", "y", "x", "x"])
    val = choose_val_folds(fold, 3, seed=0, labels=lab)
    assert val[0] == 1 and val[1] == 0 and val[2] in (0, 1)


def test_loso_budget_draws_training_speakers_and_keeps_the_validation_speaker():
    speakers, _, labels = _loso_corpus()
    full = leave_one_out_steps(speakers, seed=5, labels=labels)
    small = leave_one_out_steps(speakers, seed=5, budget=2, labels=labels)
    assert small.val_unit == full.val_unit  # a budget changes the training rows only
    for i in range(full.k):
        assert len(small.train_folds[i]) == 2 and set(small.train_folds[i]) <= set(full.train_folds[i])
        assert len(set(speakers[small.train[i]])) == 2
    again = leave_one_out_steps(speakers, seed=5, budget=2, labels=labels)
    assert again.train_folds == small.train_folds
    with pytest.raises(UserError, match="budget must be in 1..k-2"):
        leave_one_out_steps(speakers, seed=5, budget=full.k - 1)


def test_leave_one_session_out_tests_each_session_once_with_both_its_speakers():
    speakers, sessions, labels = _loso_corpus()
    steps = leave_one_out_steps(sessions, seed=repeat_seed(1, 2), labels=labels)
    assert steps.test_unit == ("session1", "session2", "session3", "session4")
    np.testing.assert_array_equal(steps.test.sum(axis=0), np.ones(speakers.size))
    for i, session in enumerate(steps.test_unit):
        np.testing.assert_array_equal(steps.test[i], sessions == session)
        held = set(speakers[steps.test[i]])
        assert not held & set(speakers[steps.train[i] | steps.val[i]])  # no test speaker leaks
        assert set(sessions[steps.val[i]]) == {steps.val_unit[i]} != {session}
    again = leave_one_out_steps(sessions, seed=repeat_seed(1, 2), labels=labels)
    assert again.val_unit == steps.val_unit


def test_unit_folds_number_units_in_sorted_order_and_leave_one_out_needs_three():
    fold, names = unit_folds(np.array(["b", "a", "c", "a"]))
    assert names == ("a", "b", "c") and fold.tolist() == [1, 0, 2, 0]
    fold, names = unit_folds(np.array([10, 9, 10]))
    assert names == ("10", "9") and fold.tolist() == [0, 1, 0]
    with pytest.raises(UserError, match="at least 3 units"):
        leave_one_out_steps(np.array(["a", "b", "a"]), seed=0)


def test_fold_steps_rejects_a_validation_fold_equal_to_its_step():
    fold = np.arange(30) % 5
    with pytest.raises(UserError, match="none equal to its own step"):
        fold_steps(fold, 5, val_fold=np.array([1, 1, 3, 4, 0]))
    with pytest.raises(UserError, match="val_fold must be k=5"):
        fold_steps(fold, 5, val_fold=np.array([1, 2]))
    custom = fold_steps(fold, 5, val_fold=np.array([2, 3, 4, 0, 1]))
    np.testing.assert_array_equal(custom.val[0], fold == 2)
    assert custom.train_folds[0] == (1, 3, 4) and custom.test_unit == ()


@pytest.mark.parametrize("seed", [0, 3, 17])
def test_fold_budgets_nest_one_inside_two_inside_four_inside_eight(seed):
    k = 10
    fold = np.arange(300) % k
    by_budget = {b: fold_steps(fold, k, budget=b, seed=seed) for b in (1, 2, 4, 8)}
    for i in range(k):
        chosen = [set(by_budget[b].train_folds[i]) for b in (1, 2, 4, 8)]
        assert [len(c) for c in chosen] == [1, 2, 4, 8]
        assert chosen[0] <= chosen[1] <= chosen[2] <= chosen[3]
        # the masks nest too: every budget-b training utterance trains at 2b
        for small, big in zip((1, 2, 4), (2, 4, 8)):
            assert not (by_budget[small].train[i] & ~by_budget[big].train[i]).any()
    # leave-one-out budgets nest the same way
    speakers = np.repeat(np.arange(12), 5)
    loo = {b: leave_one_out_steps(speakers, seed=seed, budget=b) for b in (1, 2, 4, 8)}
    for i in range(12):
        assert (set(loo[1].train_folds[i]) <= set(loo[2].train_folds[i])
                <= set(loo[4].train_folds[i]) <= set(loo[8].train_folds[i]))
