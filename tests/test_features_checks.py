"""Corpus checks of `paragrid features` (issue: a one-class parquet must never be written).

Before any audio is decoded the loader checks the label set: fewer than two classes left is a
one-line UserError naming the labels found and the --label-map fix; a class of the label set
with no utterance is a CorpusWarning (the CLI prints it as one `warning:` line). Manifest labels
in plain English match the four classes; drop counts name coded labels by their meaning.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fake_corpora import make_crema_d_tree, make_emodb_tree, write_wav

from paragrid.errors import UserError
from paragrid.features.corpora import CorpusWarning, load_corpus


def _manifest(folder: Path, labels: list[str]) -> Path:
    """A manifest CSV with one utterance per label, two speakers."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["path,speaker,gender,emotion"]
    for i, label in enumerate(labels):
        write_wav(folder / f"u{i:02d}.wav", seed=i)
        lines.append(f"u{i:02d}.wav,s{i % 2},{'MF'[i % 2]},{label}")
    csv = folder / "manifest.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def _stub_extract(monkeypatch) -> list:
    """Replace the extractor (another module's job) by a recorder: these tests stop before it."""
    calls = []
    monkeypatch.setattr("paragrid.features.extract.extract_features",
                        lambda manifest, out, **kw: calls.append((manifest, out)))
    return calls


# --- English names in a manifest ----------------------------------------------------------------


def test_manifest_matches_common_english_names_and_says_which_map_it_applied(tmp_path, capsys):
    labels = ["anger", "Angry", "happiness", "JOY", "happy", "sadness", "sad", "neutral", "boredom"]
    df = load_corpus(_manifest(tmp_path / "emo", labels), "manifest")
    assert df["emotion"].value_counts().to_dict() == {"angry": 2, "happy": 3, "sad": 2, "neutral": 1}
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("emo: kept 8 of 9 utterances: angry=2, happy=3, neutral=1, sad=2")
    assert "the default manifest map: " in line
    for applied in ("anger -> angry", "Angry -> angry", "happiness -> happy", "JOY -> happy",
                    "sadness -> sad", "neutral -> neutral"):
        assert applied in line
    assert line.endswith("dropped boredom=1")


def test_the_issue_case_english_emodb_manifest_now_keeps_four_classes(tmp_path, capsys):
    """EMODB/manifest.csv with the corpus' own English labels once kept only `neutral`."""
    labels = ["anger"] * 3 + ["happiness"] * 2 + ["sadness"] * 2 + ["neutral"] * 2 + ["boredom"] * 2
    df = load_corpus(_manifest(tmp_path / "EMODB", labels), "manifest")
    assert set(df["emotion"]) == {"angry", "happy", "neutral", "sad"}


# --- fewer than two classes: an error before any audio is read ------------------------------------


def test_one_class_left_is_an_error_naming_labels_found_and_the_label_map_fix(tmp_path):
    labels = ["Wut"] * 3 + ["Freude"] * 2 + ["neutral"] * 2
    csv = _manifest(tmp_path / "de", labels)
    for wav in csv.parent.glob("*.wav"):
        wav.unlink()  # the check runs before audio: missing files must not be what fails
    with pytest.raises(UserError) as info:
        load_corpus(csv, "manifest")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("de: only 1 class of the label set (angry, happy, neutral, sad) is left "
                          "after the default manifest map (neutral=2)")
    assert "labels found in" in msg and "Wut=3, Freude=2, neutral=2" in msg
    assert "--label-map MAP.yaml with one `raw label: class` line per label" in msg
    assert "(e.g. `Wut: <class>`)" in msg  # the most frequent dropped label


def test_one_class_left_with_a_user_map_names_the_map_file(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("W: angry\nN: ~\nF: drop\nT: ~\nJoy: happy\n")
    root = tmp_path / "emodb"
    make_emodb_tree(root)
    with pytest.raises(UserError) as info:
        load_corpus(root, "emodb", label_map=path)
    msg = str(info.value)
    assert f"only 1 class of the label set (angry, happy) is left after the default emodb map extended by label map {path} (angry=4)" in msg
    assert f"add to {path} one `raw label: class` line per label to keep" in msg
    assert "(e.g. `fear: <class>`)" in msg  # a code's meaning works as a key (A is fear)
    assert "boredom (L)=4" in msg  # coded labels by their meaning here too


def test_cli_exits_non_zero_with_one_error_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from paragrid.cli import main

    calls = _stub_extract(monkeypatch)
    csv = _manifest(tmp_path / "de", ["Wut", "Wut", "neutral", "neutral"])
    out = tmp_path / "data" / "de.parquet"
    code = main(["features", str(csv), "--format", "manifest", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and calls == [] and not out.exists()
    assert len(err) == 1 and err[0].startswith("error: de: only 1 class")
    assert "--label-map" in err[0]


def test_skipping_bad_audio_down_to_one_class_is_an_error(tmp_path, capsys):
    csv = _manifest(tmp_path / "m", ["angry", "angry", "sad"])
    (csv.parent / "u02.wav").unlink()
    with pytest.raises(UserError, match=r"only the class 'angry' is left .*restore the files"), \
            pytest.warns(CorpusWarning):
        load_corpus(csv, "manifest", skip_bad=True)


# --- a missing class: a warning, and the corpus still loads --------------------------------------


def test_missing_class_is_one_warning_naming_the_classes(tmp_path, capsys):
    csv = _manifest(tmp_path / "m", ["angry", "sad", "neutral", "angry"])
    with pytest.warns(CorpusWarning) as record:
        df = load_corpus(csv, "manifest")
    assert len(record) == 1
    msg = str(record[0].message)
    assert "class 'happy' of the label set (angry, happy, neutral, sad) has no utterance" in msg
    assert "--label-map" in msg
    assert set(df["emotion"]) == {"angry", "sad", "neutral"}


def test_cli_prints_the_missing_class_warning_as_one_line_and_goes_on(tmp_path, capsys, monkeypatch):
    from paragrid.cli import main

    calls = _stub_extract(monkeypatch)
    csv = _manifest(tmp_path / "m", ["angry", "sad", "neutral"])
    code = main(["features", str(csv), "--format", "manifest", "--out", str(tmp_path / "m.parquet")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and len(calls) == 1
    warns = [l for l in err if l.startswith("warning: ")]
    assert len(warns) == 1 and "class 'happy'" in warns[0]


def test_a_complete_label_set_warns_nothing(tmp_path, recwarn, capsys):
    load_corpus(_manifest(tmp_path / "m", ["angry", "happy", "sad", "neutral"]), "manifest")
    assert not [w for w in recwarn if issubclass(w.category, CorpusWarning)]


# --- drop counts by meaning, and SOURCE folders -------------------------------------------------


def test_emodb_drop_counts_name_the_meaning_and_the_letter(tmp_path, capsys):
    make_emodb_tree(tmp_path / "emodb")
    load_corpus(tmp_path / "emodb", "emodb")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "dropped boredom (L)=4, disgust (E)=4, fear (A)=4" in line
    assert "anger (W) -> angry" in line and "happiness (F) -> happy" in line


def test_emodb_source_may_be_the_release_folder_or_its_wav_folder(tmp_path, capsys):
    make_emodb_tree(tmp_path / "emodb")
    a = load_corpus(tmp_path / "emodb", "emodb")
    b = load_corpus(tmp_path / "emodb" / "wav", "emodb")
    assert list(a["utterance_id"]) == list(b["utterance_id"]) and len(a) == 16
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"pass the folder holding wav/, or wav/ itself"):
        load_corpus(empty, "emodb")


def test_crema_d_source_may_be_the_release_folder_or_audiowav(tmp_path, capsys):
    make_crema_d_tree(tmp_path / "crema")
    a = load_corpus(tmp_path / "crema", "crema-d")
    b = load_corpus(tmp_path / "crema" / "AudioWAV", "crema-d")
    assert list(a["utterance_id"]) == list(b["utterance_id"])
    assert set(b["gender"]) == {"M", "F"}
    shutil.rmtree(tmp_path / "crema" / "AudioWAV")
    with pytest.raises(UserError, match=r"no AudioWAV/\*\.wav under .*CREMA-D root"):
        load_corpus(tmp_path / "crema", "crema-d")


# --- --classes: more than the four classes without a map -----------------------------------------


def test_classes_keep_a_fifth_emotion_without_a_map(tmp_path, capsys):
    make_emodb_tree(tmp_path / "emodb")
    df = load_corpus(tmp_path / "emodb", "emodb", classes="angry,happy,neutral,sad,fearful")
    assert df["emotion"].value_counts().to_dict() == {c: 4 for c in ("angry", "happy", "neutral", "sad", "fearful")}
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "fear (A) -> fearful" in line and "--classes angry,happy,neutral,sad,fearful" in line
    assert "dropped boredom (L)=4, disgust (E)=4" in line
    # a manifest in plain English: fear and fearful are one class; IEMOCAP's exc still merges into happy
    csv = _manifest(tmp_path / "m", ["anger", "joy", "sadness", "neutral", "fear", "Fearful", "boredom"])
    df = load_corpus(csv, "manifest", classes=["angry", "happy", "sad", "neutral", "fearful"])
    assert (df["emotion"] == "fearful").sum() == 2 and len(df) == 6
    from paragrid.features.corpora import classes_label_map
    assert classes_label_map("happy,sad", "iemocap").lookup("exc") == "happy"


def test_classes_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from paragrid.cli import main

    calls = _stub_extract(monkeypatch)
    csv = _manifest(tmp_path / "m", ["anger", "joy", "sadness", "neutral"])
    assert main(["features", str(csv), "--format", "manifest", "--out", str(tmp_path / "x.parquet"),
                 "--classes", "angry"]) == 2
    assert "--classes 'angry': name at least two classes" in capsys.readouterr().err
    (tmp_path / "map.yaml").write_text("anger: angry\n")
    assert main(["features", str(csv), "--format", "manifest", "--out", str(tmp_path / "x.parquet"),
                 "--classes", "angry,sad", "--label-map", str(tmp_path / "map.yaml")]) == 2
    assert "pass one of them" in capsys.readouterr().err and not calls
    assert main(["features", str(csv), "--format", "manifest", "--out", str(tmp_path / "x.parquet"),
                 "--classes", "angry,sad,fearful"]) == 0
    assert len(calls) == 1 and set(calls[0][0]["emotion"]) == {"angry", "sad"}
