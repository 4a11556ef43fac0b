"""Corpus checks before Ray starts (grid/data/_checks.py) and the spec rules of the leave-one-out schemes.

Each check gets a corpus that breaks exactly it, and must stop with one line naming the corpus
file and the fix; a clean corpus passes silently. Corpora here are tiny feature parquets built
from an explicit table of (speaker, gender, session, labels), so what each test breaks is
visible in the test itself.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from paragrid.errors import UserError
from paragrid.features.extract import write_parquet_atomic
from paragrid.grid.data import FoldWarning, load_corpora, steps_for, validate_corpora
from paragrid.grid.spec import load_spec

FOUR = ["angry", "happy", "neutral", "sad"]


def write_corpus(path: Path, speakers: dict[str, tuple[str, str, list[str]]], d: int = 3) -> Path:
    """speakers: id -> (gender, session, emotion of each utterance)."""
    rng = np.random.default_rng(0)
    name = Path(path).stem
    rows = []
    for spk, (gender, session, labels) in speakers.items():
        for u, emo in enumerate(labels):
            rows.append({"utterance_id": f"{spk}-{u}", "path": f"/nowhere/{spk}/{u}.wav",
                         "speaker": spk, "gender": gender, "emotion": emo, "corpus": name,
                         "duration": 1.0, "sample_rate": 16000, "session": session,
                         **{f"f{i}": float(rng.standard_normal()) for i in range(d)}})
    meta = {"format_version": 1, "feature_set": "test", "feature_level": "Functionals",
            "opensmile_version": "none", "sample_rate": 16000, "n_resampled": 0, "corpus": name,
            "source": "tests", "feature_columns": [f"f{i}" for i in range(d)],
            "created_utc": "2026-01-01T00:00:00Z"}
    write_parquet_atomic(pd.DataFrame(rows), Path(path), meta)
    return Path(path)


def balanced(n_speakers: int, per_class: int = 4, sessions: int | None = None, prefix: str = "S"):
    """Speakers alternating F/M, every class `per_class` times; two speakers per session."""
    out = {}
    for s in range(n_speakers):
        session = f"ses{s // 2 + 1}" if sessions is None else f"ses{s % sessions + 1}"
        out[f"{prefix}{s:02d}"] = ("FM"[s % 2], session, FOUR * per_class)
    return out


def spec_file(folder: Path, corpora: dict[str, Path], **over) -> Path:
    doc = {"name": "check", "corpora": {n: p.name for n, p in corpora.items()}, "task": "emotion",
           "targets": [next(iter(corpora))], "methods": ["dnn", "ptft", "prognet"],
           "sources": [["gender"]], "budgets": ["all"], "k": 4, "repeats": 2, "seed": 0}
    doc.update(over)
    path = Path(folder) / "check.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def check(path: Path) -> None:
    spec = load_spec(path)
    validate_corpora(spec, load_corpora(spec, {"gender"}))


def _one_line(err: pytest.ExceptionInfo, corpus: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(corpus) in msg
    return msg


# --- a clean corpus passes ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["speaker-stratified", "speaker-independent",
                                    "leave-one-speaker-out", "leave-one-session-out"])
def test_a_clean_corpus_passes_every_scheme_silently(tmp_path, scheme):
    a = write_corpus(tmp_path / "a.parquet", balanced(8))
    path = (_loo_spec(tmp_path, {"a": a}, scheme=scheme) if scheme.startswith("leave")
            else spec_file(tmp_path, {"a": a}, fold_scheme=scheme))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check(path)


# --- classes per corpus ---------------------------------------------------------------------------


def test_a_target_with_one_class_names_the_file_and_the_label_map_fix(tmp_path):
    corpus = {f"S{s}": ("FM"[s % 2], "x", ["neutral"] * 6) for s in range(4)}
    a = write_corpus(tmp_path / "a.parquet", corpus)
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a}))
    msg = _one_line(err, a)
    assert "has a single 'emotion' class ('neutral' for all 24 utterances)" in msg
    assert "--label-map MAP.yaml" in msg


def test_a_source_task_with_one_class_is_named(tmp_path):
    corpus = {f"S{s}": ("F", "x", FOUR * 2) for s in range(4)}
    a = write_corpus(tmp_path / "a.parquet", corpus)
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a}))
    msg = _one_line(err, a)
    assert "source 'gender' has a single class ('F' for all 32 utterances)" in msg
    assert "drop that source" in msg


def test_a_cross_corpus_source_is_checked_on_its_own_corpus(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(4, per_class=2))
    b = write_corpus(tmp_path / "b.parquet", {f"T{s}": ("FM"[s % 2], "x", ["sad"] * 8) for s in range(4)})
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a, "b": b}, sources=[["emotion@b"]]))
    assert "source 'emotion@b' has a single class ('sad'" in _one_line(err, b)


# --- speaker-stratified: every speaker in every fold -----------------------------------------------


def test_stratified_speaker_with_fewer_than_k_utterances_is_named_with_the_fixes(tmp_path):
    corpus = balanced(4)
    corpus["S99"] = ("F", "x", FOUR)
    a = write_corpus(tmp_path / "a.parquet", corpus)
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a}, k=5, budgets=["all"]))
    msg = _one_line(err, a)
    assert "speaker 'S99' has 4 utterance(s), fewer than k=5" in msg
    assert "lower k to 4" in msg and "speaker-independent" in msg
    # the same corpus is fine for speaker-independent folds (speakers are whole there)
    check(spec_file(tmp_path, {"a": a}, k=5, fold_scheme="speaker-independent", methods=["dnn"],
                    sources=[]))


def test_every_speaker_below_k_is_named_and_the_spec_can_leave_them_out(tmp_path):
    from paragrid.grid.plan import plan_grid

    corpus = balanced(4)
    corpus["S98"] = ("M", "x", FOUR[:3])
    corpus["S99"] = ("F", "x", FOUR)
    a = write_corpus(tmp_path / "a.parquet", corpus)
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a}, k=5, budgets=["all"]))
    msg = _one_line(err, a)
    assert "speakers 'S98' (3), 'S99' (4) have fewer than k=5 utterances" in msg
    assert "exclude_speakers: [S98, S99]" in msg and "min_utterances: 5" in msg
    # the spec leaves them out, by name or by size; the run says whom, and the label set it uses
    for over in ({"exclude_speakers": ["S98", "S99"]}, {"min_utterances": 5}):
        spec = load_spec(spec_file(tmp_path, {"a": a}, k=5, budgets=["all"], **over))
        said: list[str] = []
        plan = plan_grid(spec, str(tmp_path / "runs"), said.append)
        assert set(plan.corpora["a"].labels["speaker"]) == {f"S{i:02d}" for i in range(4)}
        line = [x for x in said if x.startswith("corpus 'a': ")]
        assert len(line) == 1 and "emotion classes angry, happy, neutral, sad" in line[0]
        assert "left out 2 speaker(s)" in line[0] and "4 speakers" in line[0]
    assert "S98 (3), S99 (4)" in line[0]                 # min_utterances names them with their counts
    with pytest.raises(UserError, match="exclude_speakers names 'S77', a speaker of no corpus"):
        check(spec_file(tmp_path, {"a": a}, k=5, budgets=["all"], exclude_speakers=["S98", "S99", "S77"]))
    with pytest.raises(UserError, match="exclude_speakers must be a list"):
        load_spec(spec_file(tmp_path, {"a": a}, exclude_speakers="S98"))


# --- per fold after the split ------------------------------------------------------------------


def test_a_test_fold_without_some_class_is_an_error_under_k_fold(tmp_path):
    corpus = {f"S{s}": ("FM"[s % 2], "x", ["angry", "happy", "neutral"] * 4) for s in range(4)}
    corpus["S00"] = ("F", "x", ["angry", "happy", "neutral"] * 4 + ["sad"] * 2)  # 2 'sad' for k=4
    a = write_corpus(tmp_path / "a.parquet", corpus)
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a}))
    msg = _one_line(err, a)
    assert re.search(r"repeat 0, test fold \d holds no 'sad' utterance \('sad' has 2 in the corpus", msg)
    assert "lower k" in msg


def test_a_step_that_trains_on_no_utterance_of_a_class_is_an_error(tmp_path):
    # LOSO with a budget of 1 training speaker: speakers S00-S03 never sound sad.
    corpus = {f"S{s:02d}": ("FM"[s % 2], "x", ["angry", "happy", "neutral"] * 3) for s in range(4)}
    corpus.update({f"S{s:02d}": ("FM"[s % 2], "x", FOUR * 3) for s in range(4, 6)})
    a = write_corpus(tmp_path / "a.parquet", corpus)
    path = _loo_spec(tmp_path, {"a": a}, budgets=[1], k=6)
    with pytest.raises(UserError) as err:
        check(path)
    msg = _one_line(err, a)
    assert re.search(r"repeat 0, step \d \(test speaker S0\d\) trains task 'emotion' on no 'sad' "
                     r"utterance \(budget 1 of 4 training speakers", msg)
    assert "raise the budget" in msg


def test_a_gender_source_trained_on_one_gender_is_an_error(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(6))
    path = _loo_spec(tmp_path, {"a": a}, budgets=[1])
    with pytest.raises(UserError) as err:
        check(path)
    assert re.search(r"trains source 'gender' on no '[FM]' utterance \(budget 1 of 4", _one_line(err, a))


def test_loso_test_speakers_without_a_class_are_one_warning(tmp_path):
    corpus = balanced(6)
    corpus["S01"] = ("M", "x", ["angry", "happy", "neutral"] * 3)
    a = write_corpus(tmp_path / "a.parquet", corpus)
    path = _loo_spec(tmp_path, {"a": a})
    with pytest.warns(FoldWarning) as record:
        check(path)
    assert len(record) == 1
    msg = str(record[0].message)
    assert "1 of 6 test speakers hold no utterance of some 'emotion' class: S01 (no sad)" in msg
    assert str(a) in msg and "mean recall over the classes they hold" in msg


# --- spec rules of the leave-one-out schemes ---------------------------------------------------


def _loo_spec(tmp_path, corpora, scheme="leave-one-speaker-out", **over):
    """A spec as a user writes one for leave-one-out: no k, no repeats (unless `over` says)."""
    path = spec_file(tmp_path, corpora, fold_scheme=scheme, **over)
    doc = yaml.safe_load(path.read_text())
    for key in ("k", "repeats"):
        if key not in over:
            del doc[key]
    path.write_text(yaml.safe_dump(doc))
    return path


def test_loso_k_is_the_number_of_speakers(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(7))
    spec = load_spec(_loo_spec(tmp_path, {"a": a}))
    assert spec.k == 7 and spec.fold_scheme == "leave-one-speaker-out" and spec.repeats == 1
    assert spec.experiments[0].budgets == (5,)  # 'all' = the 7 - 2 other speakers
    assert load_spec(_loo_spec(tmp_path, {"a": a}, k=7)).k == 7  # consistent k is accepted
    steps = steps_for(load_corpora(spec, set())["a"], spec, 0, 5)
    assert steps.k == 7 and len(steps.test_unit) == 7


def test_loso_inconsistent_k_says_to_remove_it(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(7))
    with pytest.raises(UserError, match=r"k is 10 but fold_scheme leave-one-speaker-out makes k the "
                                        r"number of speakers, 7 here: remove k from the spec"):
        load_spec(_loo_spec(tmp_path, {"a": a}, k=10))


def test_loo_repeats_are_one_and_more_are_refused_with_the_reason(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(6))
    assert load_spec(_loo_spec(tmp_path, {"a": a}, repeats=1)).repeats == 1
    with pytest.raises(UserError, match=r"repeats is 10 but fold_scheme leave-one-speaker-out tests "
                                        r"every speaker once per repeat .*set repeats: 1"):
        load_spec(_loo_spec(tmp_path, {"a": a}, repeats=10))
    with pytest.raises(UserError, match=r"the paired test over sessions needs one score per session"):
        load_spec(_loo_spec(tmp_path, {"a": a}, scheme="leave-one-session-out", repeats=3))


def test_loso_budgets_count_training_speakers(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(6))
    assert load_spec(_loo_spec(tmp_path, {"a": a}, budgets=[1, 2, "all"])).experiments[0].budgets == (1, 2, 4)
    with pytest.raises(UserError, match=r"budgets: 5 is not a fold budget; allowed: 'all' or 1..4"):
        load_spec(_loo_spec(tmp_path, {"a": a}, budgets=[5]))


def test_loso_refuses_the_speaker_source_with_the_reason(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(6))
    with pytest.raises(UserError, match="speaker-ID model can never recognise its test speakers"):
        load_spec(_loo_spec(tmp_path, {"a": a}, sources=[["speaker"]]))
    with pytest.raises(UserError, match="cannot be used with fold_scheme leave-one-session-out"):
        load_spec(_loo_spec(tmp_path, {"a": a}, scheme="leave-one-session-out", sources=[["speaker"]]))


def test_loo_corpora_with_different_unit_counts_are_refused(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(6))
    b = write_corpus(tmp_path / "b.parquet", balanced(8, prefix="T"))
    with pytest.raises(UserError, match=r"differs between the corpora \(6 speakers in 'a', 8 speakers "
                                        r"in 'b'\): write one spec per corpus"):
        load_spec(_loo_spec(tmp_path, {"a": a, "b": b}))
    # equal counts work, cross-corpus sources included (source step f feeds target step f)
    c = write_corpus(tmp_path / "c.parquet", balanced(6, prefix="U"))
    spec = load_spec(_loo_spec(tmp_path, {"a": a, "c": c}, sources=[["emotion@other"]]))
    assert spec.k == 6
    validate_corpora(spec, load_corpora(spec, set()))


def test_leave_one_session_out_uses_the_session_column(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(10))  # two speakers per session, 5 sessions
    spec = load_spec(_loo_spec(tmp_path, {"a": a}, scheme="leave-one-session-out"))
    assert spec.k == 5
    corpus = load_corpora(spec, {"gender"})["a"]
    steps = steps_for(corpus, spec, 1, 3)
    assert steps.test_unit == ("ses1", "ses2", "ses3", "ses4", "ses5")
    for f in range(5):
        tested = set(corpus.labels["speaker"][steps.test[f]])
        assert len(tested) == 2 and not tested & set(corpus.labels["speaker"][steps.train[f] | steps.val[f]])
    validate_corpora(spec, {"a": corpus})


def test_leave_one_session_out_without_a_session_column_says_where_it_comes_from(tmp_path):
    a = write_corpus(tmp_path / "a.parquet", balanced(6))
    df = pd.read_parquet(a)
    import pyarrow.parquet as pq

    meta = yaml.safe_load(pq.read_schema(a).metadata[b"paragrid"])
    write_parquet_atomic(df.drop(columns=["session"]), a, meta)
    with pytest.raises(UserError) as err:
        load_spec(_loo_spec(tmp_path, {"a": a}, scheme="leave-one-session-out"))
    msg = _one_line(err, a)
    assert "needs a 'session' column" in msg and "iemocap and msp-improv loaders record it" in msg


def test_a_corpus_without_gender_serves_every_source_but_gender(tmp_path):
    no_gender = {f"S{s}": ("unknown", "x", FOUR * 2) for s in range(4)}
    a = write_corpus(tmp_path / "a.parquet", no_gender)
    check(spec_file(tmp_path, {"a": a}, sources=[["speaker"]]))  # passes: no gender needed
    with pytest.raises(UserError) as err:
        check(spec_file(tmp_path, {"a": a}))
    msg = _one_line(err, a)
    assert "corpus 'a'" in msg and "lacks gender for 32 of 32 utterances" in msg
    assert "drop the gender source" in msg
