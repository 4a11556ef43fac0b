"""UAR and confusion: hand-computed cases, including the pitfalls (swapped arguments, accuracy as UAR)."""

import numpy as np
import pytest
import torch

from paragrid.errors import UserError
from paragrid.models.metrics import confusion, uar, uar_stacked


def test_confusion_rows_are_truth_columns_prediction():
    cm = confusion(np.array([0, 0, 1]), np.array([1, 1, 1]), 2)
    assert cm.tolist() == [[0, 2], [0, 1]]


def test_uar_hand_computed_differs_from_accuracy_and_from_swapped_arguments():
    truth = np.array([0, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 1, 1])
    # recall(0) = 3/4, recall(1) = 1/1 -> UAR 0.875; accuracy 4/5 = 0.8;
    # swapped arguments give mean precision: (3/3 + 1/2) / 2 = 0.75
    assert uar(truth, pred, 2) == pytest.approx(0.875)
    assert uar(pred, truth, 2) == pytest.approx(0.75)
    assert np.mean(truth == pred) == pytest.approx(0.8)


def test_uar_three_classes_by_hand():
    truth = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 2])
    assert uar(truth, pred, 3) == pytest.approx((6 / 7 + 1 / 2 + 1) / 3)


def test_absent_class_is_excluded_and_empty_fold_is_nan():
    # class 2 never occurs in the truth: its recall is undefined and left out of the mean,
    # but predicting it is still an error for the true class.
    truth = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])
    assert uar(truth, pred, 3) == pytest.approx((1 / 2 + 1) / 2)
    assert np.isnan(uar(np.array([], dtype=int), np.array([], dtype=int), 3))


def test_single_class_prediction_is_chance():
    truth = np.array([0, 1, 2, 3, 0, 1, 2, 3, 3, 3])
    assert uar(truth, np.full(10, 3), 4) == pytest.approx(0.25)


def test_out_of_range_labels_are_a_user_error():
    with pytest.raises(UserError):
        uar(np.array([0, 3]), np.array([0, 1]), 3)


def test_stacked_uar_equals_numpy_per_fold():
    rng = np.random.default_rng(1)
    n_folds, rows, c = 5, 37, 4
    y = rng.integers(0, c, (n_folds, rows))
    y[0] = rng.integers(0, 2, rows)          # a fold where classes 2 and 3 are absent from the truth
    p = rng.integers(0, c, (n_folds, rows))
    valid = rng.random((n_folds, rows)) < 0.7
    valid[4] = False                          # an empty fold -> nan
    got = uar_stacked(torch.as_tensor(y), torch.as_tensor(p), torch.as_tensor(valid), c).numpy()
    want = [uar(y[f][valid[f]], p[f][valid[f]], c) for f in range(n_folds)]
    np.testing.assert_allclose(got[:4], want[:4], rtol=0, atol=1e-12)
    assert np.isnan(got[4]) and np.isnan(want[4])
