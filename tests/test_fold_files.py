"""fold_scheme: file -- published splits from a CSV or EmoBox-style JSONL lists: test sets as
published, validation speakers drawn from the training speakers, coverage and overlap reported."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from grid_helpers import tiny_spec, write_corpus, write_spec

from paragrid.errors import UserError
from paragrid.grid.data import FoldWarning, load_corpora, steps_for, validate_corpora
from paragrid.grid.spec import load_spec


def _setup(tmp_path, fold_of, drop_last: int = 0):
    """Corpus ca (6 speakers x 8 utterances) and a CSV placing utterance (s, u) in fold_of(s, u)."""
    write_corpus(tmp_path / "ca.parquet", "ca", n_speakers=6, per_speaker=8)
    ids = [(f"ca-{s}-{u}", fold_of(s, u)) for s in range(6) for u in range(8)]
    ids = ids[: len(ids) - drop_last]
    pd.DataFrame(ids, columns=["utterance_id", "fold"]).to_csv(tmp_path / "folds.csv", index=False)
    return ids


def _spec(tmp_path, files="folds.csv", **over):
    doc = tiny_spec(corpora={"ca": "ca.parquet"}, methods=["dnn"], sources=[], fold_scheme="file",
                    fold_files={"ca": files}, repeats=2, **over)
    doc.pop("k")
    return load_spec(write_spec(tmp_path, doc))


def _check(spec):
    corpora = load_corpora(spec, set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_corpora(spec, corpora)
    return corpora["ca"], [str(w.message) for w in caught if issubclass(w.category, FoldWarning)]


def test_a_csv_split_tests_its_folds_and_validates_on_training_speakers(tmp_path):
    _setup(tmp_path, lambda s, u: s % 3 + 1, drop_last=8)   # 3 speaker-independent folds; speaker 5 left out
    spec = _spec(tmp_path)
    assert spec.k == 3
    corpus, notes = _check(spec)
    assert any("places 40 of 48 utterances (83.3%) in 3 folds" in n for n in notes)
    assert not any("both training and test" in n for n in notes)
    speakers = corpus.labels["speaker"]
    expected = np.array([int(u.split("-")[1]) % 3 if int(u.split("-")[1]) < 5 else -1
                         for u in corpus.labels["utterance_id"]])
    for repeat in (0, 1):
        steps = steps_for(corpus, spec, repeat, spec.k - 2)
        for i in range(3):
            np.testing.assert_array_equal(steps.test[i], expected == i)       # the published test set
            assert not (steps.train[i] & (steps.val[i] | steps.test[i])).any()
            assert not (steps.val[i] & steps.test[i]).any()
            val_spk = set(speakers[steps.val[i]])
            assert val_spk and val_spk.isdisjoint(speakers[steps.train[i]])   # whole speakers
            assert val_spk <= set(speakers[(expected >= 0) & (expected != i)])  # drawn from training
            assert not (steps.train[i] | steps.val[i])[expected < 0].any()    # uncovered: in no step
    again = steps_for(corpus, spec, 0, spec.k - 2)
    np.testing.assert_array_equal(again.val, steps_for(corpus, spec, 0, spec.k - 2).val)


def test_a_speaker_in_training_and_test_is_warned(tmp_path):
    _setup(tmp_path, lambda s, u: (u + s) % 4)   # utterance-level folds: every speaker everywhere
    _, notes = _check(_spec(tmp_path))
    assert any("4 of 4 steps have speakers in both training and test" in n for n in notes)


def test_emobox_jsonl_lists_give_the_same_test_sets(tmp_path):
    ids = _setup(tmp_path, lambda s, u: s % 3 + 1)
    folder = tmp_path / "emobox"
    folder.mkdir()
    for fold in (1, 2, 3):
        test = [u for u, f in ids if f == fold]
        train = [u for u, f in ids if f != fold]
        (folder / f"ca_test_fold_{fold}.jsonl").write_text(
            "\n".join(json.dumps({"key": u, "emo": "x"}) for u in test) + "\n")
        (folder / f"ca_train_fold_{fold}.jsonl").write_text(
            "\n".join(json.dumps({"key": u, "emo": "x"}) for u in train) + "\n")
    csv_corpus, _ = _check(_spec(tmp_path))
    # a file that is not a fold list (no fold number) counts for neither k nor the split
    (folder / "ca_test_notes.jsonl").write_text(json.dumps({"key": ids[0][0]}) + "\n")
    spec = _spec(tmp_path, files="emobox")
    assert spec.k == 3
    corpus, notes = _check(spec)
    assert any("places 48 of 48" in n for n in notes)
    a = steps_for(csv_corpus, _spec(tmp_path), 0, 1)
    b = steps_for(corpus, spec, 0, 1)
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.train | a.val, b.train | b.val)


def test_file_split_errors_are_one_line(tmp_path):
    _setup(tmp_path, lambda s, u: s % 4)   # 4 folds: the full budget is 2
    with pytest.raises(UserError, match="budgets must be \\[all\\]"):
        _spec(tmp_path, budgets=[1])
    with pytest.raises(UserError, match="fold_files.ca: .*nope.csv not found"):
        _spec(tmp_path, files="nope.csv")
