"""Corpus loaders against tiny fake releases (tests/fake_corpora.py).

The fakes follow the documented release layouts; the facts each builder returns are written
from the corpus documentation, so these tests check the loaders against the layouts, not
against themselves.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fake_corpora import BUILDERS, write_wav

from paragrid.errors import UserError
from paragrid.features.corpora import (MANIFEST_COLUMNS, CorpusWarning, load_corpus, validate_manifest,
                                       write_manifest)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict:
    """Every fake release, built once: tests that break a tree copy it first."""
    base = tmp_path_factory.mktemp("corpora")
    return {fmt: build(base / fmt) for fmt, build in BUILDERS.items()}


def _copy(facts: dict, tmp_path: Path) -> Path:
    """A private copy of a fake release (the root, or the manifest's folder) to damage."""
    src = facts["root"]
    if src.is_file():
        shutil.copytree(src.parent, tmp_path / src.parent.name)
        return tmp_path / src.parent.name / src.name
    shutil.copytree(src, tmp_path / "root")
    return tmp_path / "root"


def _q(path: Path) -> str:
    """A path as a literal inside a `match=` regex."""
    return re.escape(str(path))


def _row(df: pd.DataFrame, uid: str) -> pd.Series:
    hit = df[df["utterance_id"] == uid]
    assert len(hit) == 1, uid
    return hit.iloc[0]


# --- every format: the generic contract ----------------------------------------------------------


@pytest.mark.parametrize("fmt", list(BUILDERS))
def test_loader_recovers_documented_facts(fmt, trees, capsys):
    facts = trees[fmt]
    df = load_corpus(facts["root"], fmt)
    err = capsys.readouterr().err

    assert list(df.columns[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    validate_manifest(df, fmt)
    assert dict(zip(df["utterance_id"], df["emotion"])) == facts["emotion"]
    assert dict(zip(df["utterance_id"], df["speaker"])) == facts["speaker"]
    assert dict(zip(df["utterance_id"], df["gender"])) == facts["gender"]
    paths = {u: str(p) for u, p in facts["path"].items()}
    assert dict(zip(df["utterance_id"], df["path"])) == paths
    assert all(Path(p).is_absolute() for p in df["path"])
    assert (df["corpus"] == facts["corpus"]).all()
    for uid, extra in facts["extra"].items():
        row = _row(df, uid)
        assert {k: row[k] for k in extra} == extra
        assert row["raw_emotion"] == facts["raw"][uid]
    assert df["duration"].between(0.29, 0.31).all()
    assert (df["sample_rate"] == facts["sample_rate"]).all()
    assert df["sample_rate"].dtype == "int64" and df["duration"].dtype == "float64"
    assert list(df["utterance_id"]) == sorted(df["utterance_id"])

    # One compact line: kept of labelled, then every dropped label by its meaning with its count.
    line = next(l for l in err.splitlines() if l.startswith(f"{facts['corpus']}: kept"))
    assert f"kept {len(facts['emotion'])} of {facts['n_labelled']} utterances" in line
    for raw, n in facts["dropped"].items():
        assert f"{facts['dropped_as'][raw]}={n}" in line
    assert df.attrs["dropped"] == facts["dropped"]
    assert df.attrs["skipped"] == []


@pytest.mark.parametrize("fmt", list(BUILDERS))
def test_loading_is_deterministic(fmt, trees, capsys):
    a = load_corpus(trees[fmt]["root"], fmt)
    b = load_corpus(trees[fmt]["root"], fmt)
    pd.testing.assert_frame_equal(a, b)


# --- IEMOCAP -----------------------------------------------------------------------------------


def test_iemocap_speaker_is_the_last_field_not_the_dialog_lead(trees, capsys):
    df = load_corpus(trees["iemocap"]["root"], "iemocap")
    # Dialog led by the female actor (Ses01F_...), turn spoken by the male actor (..._M000).
    row = _row(df, "Ses01F_impro01_M000")
    assert (row["speaker"], row["gender"], row["session"], row["dialog"]) == (
        "Ses01M", "M", "Ses01", "Ses01F_impro01")
    row = _row(df, "Ses01M_script01_1_F000")
    assert (row["speaker"], row["gender"], row["dialog"]) == ("Ses01F", "F", "Ses01M_script01_1")
    assert set(df["speaker"]) == {"Ses01F", "Ses01M", "Ses02F", "Ses02M"}


def test_iemocap_merges_excited_into_happy_and_drops_xxx_with_counts(trees, capsys):
    df = load_corpus(trees["iemocap"]["root"], "iemocap")
    err = capsys.readouterr().err
    assert _row(df, "Ses01F_impro01_M000")["emotion"] == "happy"  # exc
    assert _row(df, "Ses01F_impro01_M000")["raw_emotion"] == "exc"
    assert _row(df, "Ses01M_script01_1_F000")["emotion"] == "happy"  # hap
    assert "Ses01F_impro01_F001" not in set(df["utterance_id"])  # xxx
    assert "no agreement (xxx)=3" in err and "frustration (fru)=2" in err
    assert "surprise (sur)=1" in err
    assert set(df["emotion"]) == {"angry", "happy", "neutral", "sad"}


def test_iemocap_ignores_annotator_lines_subfolders_and_resource_forks(trees, capsys):
    df = load_corpus(trees["iemocap"]["root"], "iemocap")
    # 16 summary lines in the fake; Categorical/*.txt and ._*.txt would add or break rows.
    assert trees["iemocap"]["n_labelled"] == 16
    assert "kept 10 of 16 utterances" in capsys.readouterr().err
    assert len(df) == 10


# --- MSP-IMPROV --------------------------------------------------------------------------------


def test_msp_improv_uses_consensus_not_acted_letter(trees, capsys):
    df = load_corpus(trees["msp-improv"]["root"], "msp-improv")
    acted = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"}
    differs = 0
    for uid, emotion in zip(df["utterance_id"], df["emotion"]):
        consensus = trees["msp-improv"]["emotion"][uid]
        assert emotion == consensus
        differs += acted[uid.split("-")[2][3]] != emotion
    assert differs >= 3  # the fake holds utterances whose acted and perceived emotion differ
    assert _row(df, "MSP-IMPROV-S01H-M01-T-FM01")["emotion"] == "neutral"


def test_msp_improv_speakers_sessions_and_drops(trees, capsys):
    df = load_corpus(trees["msp-improv"]["root"], "msp-improv")
    err = capsys.readouterr().err
    row = _row(df, "MSP-IMPROV-S04H-M02-P-MF02")
    assert (row["speaker"], row["gender"], row["session"], row["recording_type"]) == (
        "M02", "M", "session2", "P")
    assert "other (O)=1" in err and "no agreement (X)=2" in err
    # The unlabelled wav in the tree is not an utterance of the manifest.
    assert not df["utterance_id"].str.startswith("MSP-IMPROV-S09A").any()


def test_msp_improv_conflicting_repeated_summary_line_is_an_error(trees, tmp_path):
    root = _copy(trees["msp-improv"], tmp_path)
    txt = root / "Evaluation.txt"
    conflict = "UTD-IMPROV-S01A-F01-P-FM01.avi; H; A:3.0; V:2.0; D:3.0 ; N:3.0;\n"
    txt.write_text(txt.read_text() + conflict)
    with pytest.raises(UserError, match=r"Evaluation\.txt line \d+: MSP-IMPROV-S01A-F01-P-FM01"):
        load_corpus(root, "msp-improv")


# --- RAVDESS -----------------------------------------------------------------------------------


def test_ravdess_skips_song_and_video_and_keeps_calm_apart(trees, capsys):
    facts = trees["ravdess"]
    df = load_corpus(facts["root"], "ravdess")
    err = capsys.readouterr().err
    assert f"skipped {facts['n_song']} song and {facts['n_video']} video files" in err
    assert "calm (02)=4" in err and "fearful (06)=4" in err
    assert not df["utterance_id"].str.startswith("03-02").any()
    assert "calm" not in set(df["emotion"])
    assert set(df.loc[df["speaker"] == "Actor_03", "gender"]) == {"M"}
    assert set(df.loc[df["speaker"] == "Actor_04", "gender"]) == {"F"}


def test_ravdess_user_map_can_merge_calm_by_code_or_name(trees, capsys):
    df = load_corpus(trees["ravdess"]["root"], "ravdess",
                     label_map={"calm": "neutral", "01": "neutral", 3: "happy", "sad": "sad",
                                "angry": "angry"})
    assert (df["emotion"] == "neutral").sum() == 8  # 4 neutral + 4 calm
    assert (df["emotion"] == "happy").sum() == 4  # key 3 matches code 03
    assert "fearful (06)=4" in capsys.readouterr().err


# --- CREMA-D -----------------------------------------------------------------------------------


def test_crema_d_genders_come_from_demographics(trees, capsys):
    df = load_corpus(trees["crema-d"]["root"], "crema-d")
    genders = dict(zip(df["speaker"], df["gender"]))
    assert genders == {"1001": "M", "1002": "F", "1003": "F", "1004": "M"}
    err = capsys.readouterr().err
    assert "disgust (DIS)=4" in err and "fear (FEA)=4" in err


def test_crema_d_missing_demographics_row_names_csv_and_actor(trees, tmp_path):
    root = _copy(trees["crema-d"], tmp_path)
    csv = root / "VideoDemographics.csv"
    csv.write_text("\n".join(l for l in csv.read_text().splitlines() if not l.startswith("1003")))
    with pytest.raises(UserError, match=rf"{_q(csv)}.*actor 1003"):
        load_corpus(root, "crema-d")


def test_crema_d_missing_demographics_file(trees, tmp_path):
    root = _copy(trees["crema-d"], tmp_path)
    (root / "VideoDemographics.csv").unlink()
    with pytest.raises(UserError, match=r"VideoDemographics\.csv does not exist"):
        load_corpus(root, "crema-d")


# --- EmoDB -------------------------------------------------------------------------------------


def test_emodb_letters_and_speakers(trees, capsys):
    df = load_corpus(trees["emodb"]["root"], "emodb")
    assert _row(df, "03a01Wa")["emotion"] == "angry"
    assert _row(df, "08a05Fb")["emotion"] == "happy"
    assert _row(df, "10a07Na")["emotion"] == "neutral"
    assert _row(df, "16b06Tb")["emotion"] == "sad"
    assert dict(zip(df["speaker"], df["gender"])) == {"03": "M", "08": "F", "10": "M", "16": "F"}
    err = capsys.readouterr().err
    assert "boredom (L)=4" in err and "disgust (E)=4" in err and "fear (A)=4" in err


def test_emodb_unknown_speaker_is_named(trees, tmp_path):
    root = _copy(trees["emodb"], tmp_path)
    write_wav(root / "wav" / "17a01Wa.wav")
    with pytest.raises(UserError, match=r"17a01Wa\.wav: speaker 17"):
        load_corpus(root, "emodb")


# --- manifest ----------------------------------------------------------------------------------


def test_manifest_paths_genders_extras_and_corpus_name(trees, capsys):
    facts = trees["manifest"]
    df = load_corpus(facts["root"], "manifest")
    assert set(df["corpus"]) == {"my-corpus"}  # the CSV's folder name
    assert _row(df, "s3_utt06")["emotion"] == "angry"  # 'Angry' matches case-insensitively
    assert {"session", "style"} <= set(df.columns)
    # Stale duration/sample_rate columns of the CSV are replaced by the files' headers.
    assert (df["sample_rate"] == 22050).all() and (df["duration"] < 1).all()
    err = capsys.readouterr().err
    assert "disgust=2" in err and "bored=1" in err


def test_manifest_corpus_and_utterance_id_columns(tmp_path, capsys):
    wav = write_wav(tmp_path / "a.wav")
    write_wav(tmp_path / "sub" / "a.wav")
    csv = tmp_path / "m.csv"
    csv.write_text("utterance_id,path,speaker,gender,emotion,corpus\n"
                   f"u1,a.wav,x,F,sad,synth-z\nu2,sub/a.wav,y,m,happy,synth-z\n")
    with pytest.warns(CorpusWarning, match=r"classes 'angry', 'neutral' of the label set"):
        df = load_corpus(csv, "manifest")
    assert list(df["utterance_id"]) == ["u1", "u2"]
    assert set(df["corpus"]) == {"synth-z"}
    assert _row(df, "u1")["path"] == str(wav)
    # Without utterance_id, ids come from file stems: here both are 'a'.
    csv.write_text("path,speaker,gender,emotion\na.wav,x,F,sad\nsub/a.wav,y,M,sad\n")
    match = rf"{_q(csv)}: duplicate utterance_id 'a' on lines 2 and 3"
    with pytest.raises(UserError, match=match):
        load_corpus(csv, "manifest")


def test_manifest_with_byte_order_mark_and_inconsistent_gender(tmp_path, capsys):
    write_wav(tmp_path / "a.wav")
    write_wav(tmp_path / "b.wav")
    csv = tmp_path / "m.csv"
    csv.write_text("path,speaker,gender,emotion\na.wav,x,F,sad\nb.wav,x,F,happy\n",
                   encoding="utf-8-sig")
    with pytest.warns(CorpusWarning, match="no utterance"):
        assert len(load_corpus(csv, "manifest")) == 2
    csv.write_text("path,speaker,gender,emotion\na.wav,x,F,sad\nb.wav,x,M,happy\n")
    with pytest.raises(UserError, match=rf"{_q(csv)}: speaker x is F for a but M for b"), \
            pytest.warns(CorpusWarning, match="no utterance"):
        load_corpus(csv, "manifest")


def test_manifest_roundtrip_through_write_manifest(trees, tmp_path, capsys):
    df = load_corpus(trees["emodb"]["root"], "emodb")
    csv = write_manifest(df, tmp_path / "emodb" / "manifest.csv")
    assert not any(Path(p).is_absolute() for p in pd.read_csv(csv)["path"])
    again = load_corpus(csv, "manifest")
    pd.testing.assert_frame_equal(df, again, check_like=False)


# --- label maps --------------------------------------------------------------------------------


def test_yaml_label_map_to_another_label_set(trees, tmp_path, capsys):
    path = tmp_path / "arousal.yaml"
    path.write_text("ang: high\nexc: high\nhap: high\nfru: high\nneu: low\nsad: low\nxxx: ~\n")
    df = load_corpus(trees["iemocap"]["root"], "iemocap", label_map=path)
    raw = trees["iemocap"]["raw"]
    expected = {u: {"ang": "high", "exc": "high", "hap": "high", "fru": "high", "neu": "low",
                    "sad": "low"}[r] for u, r in raw.items() if r not in ("xxx", "sur")}
    assert dict(zip(df["utterance_id"], df["emotion"])) == expected
    err = capsys.readouterr().err
    assert "no agreement (xxx)=3" in err and "surprise (sur)=1" in err
    assert df.attrs["label_map"] == f"the default iemocap map extended by label map {path}"


def test_dict_and_json_label_maps_accept_documented_names(trees, tmp_path, capsys):
    # EmoDB letters by their English names: anger (W), sadness (T), happiness (F), boredom (L).
    # The map extends the default one, so N (neutral) is dropped to leave boredom as "neutral".
    valence = {"anger": "negative", "sadness": "negative", "happiness": "positive", "L": "neutral",
               "N": "drop"}
    df = load_corpus(trees["emodb"]["root"], "emodb", label_map=valence)
    assert df["emotion"].value_counts().to_dict() == {"negative": 8, "positive": 4, "neutral": 4}
    path = tmp_path / "valence.json"
    path.write_text(json.dumps(valence))
    again = load_corpus(trees["emodb"]["root"], "emodb", label_map=str(path))
    assert list(again["emotion"]) == list(df["emotion"])


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("- just\n- a list\n", "must be a mapping"),
    ("ang: [high, low]\n", "must be one class name"),
    ("ang: high\nANG: low\n", "mapped twice"),
    ("ang: high\n  bad: indent\n", "not valid YAML"),
])
def test_bad_label_map_files_name_the_file(trees, tmp_path, content, message):
    path = tmp_path / "map.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as info:
        load_corpus(trees["iemocap"]["root"], "iemocap", label_map=path)
    assert str(path) in str(info.value)


def test_empty_result_after_label_map_lists_labels_seen(trees, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("joy: happy\nW: drop\nF: drop\nT: drop\nN: drop\n")
    with pytest.raises(UserError, match=r"labels seen: .*anger \(W\)=4") as info:
        load_corpus(trees["emodb"]["root"], "emodb", label_map=path)
    assert str(path) in str(info.value)


# --- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, hint", [
    ("iemocap", r"no Session\*/dialog/EmoEvaluation/\*\.txt under .*IEMOCAP root"),
    ("msp-improv", r"no Evaluation\.txt under .*MSP-IMPROV root"),
    ("ravdess", r"no Actor_\*/.* under .*RAVDESS root"),
    ("crema-d", r"no AudioWAV/\*\.wav under .*CREMA-D root"),
    ("emodb", r"no wav/\*\.wav under .*EmoDB root"),
])
def test_wrong_root_names_the_expected_layout(tmp_path, fmt, hint):
    (tmp_path / "something").mkdir()
    with pytest.raises(UserError, match=hint) as info:
        load_corpus(tmp_path, fmt)
    assert str(tmp_path) in str(info.value)


def test_missing_source_and_unknown_format(tmp_path):
    with pytest.raises(UserError, match=rf"corpus folder {_q(tmp_path / 'nope')} does not exist"):
        load_corpus(tmp_path / "nope", "iemocap")
    with pytest.raises(UserError, match=rf"manifest {_q(tmp_path / 'nope.csv')} does not exist"):
        load_corpus(tmp_path / "nope.csv", "manifest")
    with pytest.raises(UserError, match="unknown corpus format 'timit'"):
        load_corpus(tmp_path, "timit")


def test_manifest_missing_columns_are_named(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("path,emotion\na.wav,sad\n")
    match = rf"manifest {_q(csv)} lacks the column\(s\) speaker: a manifest needs path, speaker, emotion"
    with pytest.raises(UserError, match=match):
        load_corpus(csv, "manifest")


def test_manifest_unknown_gender_is_named(tmp_path):
    write_wav(tmp_path / "a.wav")
    csv = tmp_path / "m.csv"
    csv.write_text("path,speaker,gender,emotion\na.wav,x,W,sad\n")
    with pytest.raises(UserError, match=rf"manifest {_q(csv)}: unknown gender value\(s\) 'W'"):
        load_corpus(csv, "manifest")


def test_missing_audio_names_file_and_label_file(trees, tmp_path, capsys):
    root = _copy(trees["msp-improv"], tmp_path)
    gone = root / "session1" / "S01A" / "P" / "MSP-IMPROV-S01A-F01-P-FM01.wav"
    gone.unlink()
    with pytest.raises(UserError) as info:
        load_corpus(root, "msp-improv")
    msg = str(info.value)
    assert f"{gone} listed in {root / 'Evaluation.txt'} does not exist" in msg
    assert "--skip-bad" in msg and "\n" not in msg

    df = load_corpus(root, "msp-improv", skip_bad=True)
    assert df.attrs["skipped"] == [(str(gone), "does not exist")]
    assert "MSP-IMPROV-S01A-F01-P-FM01" not in set(df["utterance_id"])
    assert "skipped 1 missing or unreadable audio files" in capsys.readouterr().err


def test_missing_audio_in_manifest_points_at_the_path_column(trees, tmp_path):
    csv = _copy(trees["manifest"], tmp_path)
    (csv.parent / "audio" / "s1" / "s1_utt00.wav").unlink()
    match = rf"s1_utt00\.wav listed in {_q(csv)} does not exist.*path column"
    with pytest.raises(UserError, match=match):
        load_corpus(csv, "manifest")


@pytest.mark.parametrize("content, reason", [
    (b"RIFF\x00\x00 definitely not a wav header", "is not readable audio"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n", "is a Git LFS pointer"),
])
def test_unreadable_audio_raises_or_is_skipped(trees, tmp_path, capsys, content, reason):
    facts = trees["crema-d"]
    root = _copy(facts, tmp_path)
    uid = next(u for u, r in facts["raw"].items() if r == "HAP" and u.startswith("1002"))
    bad = root / "AudioWAV" / f"{uid}.wav"
    bad.write_bytes(content)
    with pytest.raises(UserError, match=rf"{_q(bad)} {reason}") as info:
        load_corpus(root, "crema-d")
    assert "\n" not in str(info.value)
    df = load_corpus(root, "crema-d", skip_bad=True)
    assert [p for p, _ in df.attrs["skipped"]] == [str(bad)]
    assert reason in df.attrs["skipped"][0][1]
    assert len(df) == len(trees["crema-d"]["emotion"]) - 1


def test_empty_audio_file_is_bad(trees, tmp_path):
    root = _copy(trees["emodb"], tmp_path)
    write_wav(root / "wav" / "03a01Wa.wav", seconds=0.0)
    with pytest.raises(UserError, match=r"03a01Wa\.wav holds no audio samples"):
        load_corpus(root, "emodb")


def test_duplicate_iemocap_ids_across_files(trees, tmp_path):
    root = _copy(trees["iemocap"], tmp_path)
    txt = root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro02.txt"
    txt.write_text(txt.read_text() + "[1.0 - 2.0]\tSes02F_impro02_F000\tang\t[1, 2, 3]\n")
    match = r"Ses02F_impro02\.txt: utterance id Ses02F_impro02_F000 appears twice"
    with pytest.raises(UserError, match=match):
        load_corpus(root, "iemocap")


def test_cli_reaches_the_loader(trees, tmp_path, capsys):
    """The CLI's `features` command turns a loader error into one `error:` line."""
    from paragrid.cli import main

    code = main(["features", str(tmp_path / "absent"), "--format", "emodb",
                 "--out", str(tmp_path / "x.parquet")])
    assert code == 2
    assert "error: corpus folder" in capsys.readouterr().err


def test_a_user_label_map_extends_the_default_and_drop_removes_a_label(trees, tmp_path):
    # One line adds calm to the four default classes; `drop` removes a default one by its name.
    path = tmp_path / "calm.yaml"
    path.write_text("calm: neutral\n")
    df = load_corpus(trees["ravdess"]["root"], "ravdess", label_map=path)
    assert set(df["emotion"]) == {"angry", "happy", "neutral", "sad"}
    assert (df["emotion"] == "neutral").sum() == 8  # 4 neutral + 4 calm
    path.write_text("calm: neutral\nsad: drop\n")
    dropped = load_corpus(trees["ravdess"]["root"], "ravdess", label_map=path)
    assert set(dropped["emotion"]) == {"angry", "happy", "neutral"}
    # a documented name overrides the default entry of its code (EmoDB W is anger)
    emodb = load_corpus(trees["emodb"]["root"], "emodb", label_map={"anger": "drop"})
    assert set(emodb["emotion"]) == {"happy", "neutral", "sad"}


def test_a_manifest_without_gender_loads_with_gender_unknown(tmp_path):
    # A release that names no gender (6 speakers, angry/calm/happy/sad): no gender column at all,
    # or the value `unknown`; calm is added to the default map with one line.
    lines = ["path,speaker,emotion"]
    for s in range(6):
        for i, label in enumerate(["angry", "calm", "happy", "sad"]):
            write_wav(tmp_path / f"s{s}_{i}.wav", seed=s * 10 + i)
            lines.append(f"s{s}_{i}.wav,spk{s},{label}")
    csv = tmp_path / "manifest.csv"
    csv.write_text("\n".join(lines) + "\n")
    df = load_corpus(csv, "manifest", label_map={"calm": "neutral"})
    assert set(df["gender"]) == {"unknown"} and len(df) == 24
    assert set(df["emotion"]) == {"angry", "happy", "neutral", "sad"}
    validate_manifest(df, "test")
    path, speaker, emotion = zip(*(line.split(",") for line in lines[1:]))
    csv.write_text("path,speaker,gender,emotion\n" + "\n".join(
        f"{p},{s},unknown,{e}" for p, s, e in zip(path, speaker, emotion)) + "\n")
    assert set(load_corpus(csv, "manifest", label_map={"calm": "neutral"})["gender"]) == {"unknown"}
