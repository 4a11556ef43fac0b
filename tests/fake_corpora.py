"""Tiny fake corpus releases, laid out like the real ones (docs/FORMATS.md, section 1).

None of the licensed corpora exist on our machines, so tests build a few dozen 0.3 s wavs
(a sine plus noise) in each release layout. Every builder returns the facts a correct loader
must recover, written down from the corpus documentation, not from the loader's code:

    facts = {
        "root": Path,            # what to pass to load_corpus (folder, or the manifest CSV)
        "format": str,           # load_corpus fmt
        "corpus": str,           # expected corpus column
        "n_labelled": int,       # utterances the release labels (speech only for RAVDESS)
        "emotion": {uid: class}, # kept utterances under the default 4-class map
        "dropped": {raw: n},     # labels the default map drops, with counts
        "dropped_as": {raw: str},  # how the summary line names them: meaning (code), from the docs
        "speaker": {uid: str}, "gender": {uid: "M"/"F"}, "path": {uid: Path},
        "extra": {uid: {column: value}},
        "raw": {uid: raw label}, # for every labelled utterance, kept or not
        "sample_rate": int,
        "label_file": Path | None,  # the file that lists the audio (for missing-file messages)
    }
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf


def write_wav(path: Path, seconds: float = 0.3, sample_rate: int = 16000, seed: int = 0) -> Path:
    """A short mono 16-bit wav: a 150-300 Hz sine plus a little noise (enough for any header)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    signal = 0.3 * np.sin(2 * np.pi * (150 + 150 * rng.random()) * t)
    signal += 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), signal.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


def _facts(fmt: str, corpus: str, root: Path, rows: list[dict], mapping: dict, sample_rate: int,
           label_file: Path | None, named: dict[str, str] | None = None) -> dict:
    """Facts from a list of {uid, raw, speaker, gender, path, extra} rows and the paper's map.

    `named`: raw label -> how a reader knows it (`boredom (L)`), for the drop counts."""
    kept = [r for r in rows if mapping.get(r["raw"]) is not None]
    dropped = dict(Counter(r["raw"] for r in rows if mapping.get(r["raw"]) is None))
    return {
        "dropped_as": {raw: (named or {}).get(raw, raw) for raw in dropped},
        "root": root,
        "format": fmt,
        "corpus": corpus,
        "n_labelled": len(rows),
        "emotion": {r["uid"]: mapping[r["raw"]] for r in kept},
        "dropped": dropped,
        "speaker": {r["uid"]: r["speaker"] for r in kept},
        "gender": {r["uid"]: r["gender"] for r in kept},
        "path": {r["uid"]: r["path"] for r in kept},
        "extra": {r["uid"]: r["extra"] for r in kept},
        "raw": {r["uid"]: r["raw"] for r in rows},
        "sample_rate": sample_rate,
        "label_file": label_file,
    }


# IEMOCAP ----------------------------------------------------------------------------------------

# (dialog, utterance id, consensus label). Ses01F_impro01 is led by the female actor, yet its
# M### turns are the male actor's: the speaker comes from the LAST id field.
IEMOCAP_UTTERANCES = [
    ("Ses01F_impro01", "Ses01F_impro01_F000", "neu"),
    ("Ses01F_impro01", "Ses01F_impro01_M000", "exc"),
    ("Ses01F_impro01", "Ses01F_impro01_F001", "xxx"),
    ("Ses01F_impro01", "Ses01F_impro01_M001", "ang"),
    ("Ses01F_impro01", "Ses01F_impro01_F002", "fru"),
    ("Ses01M_script01_1", "Ses01M_script01_1_F000", "hap"),
    ("Ses01M_script01_1", "Ses01M_script01_1_M000", "sad"),
    ("Ses01M_script01_1", "Ses01M_script01_1_F001", "sur"),
    ("Ses01M_script01_1", "Ses01M_script01_1_M001", "xxx"),
    ("Ses02F_impro02", "Ses02F_impro02_F000", "ang"),
    ("Ses02F_impro02", "Ses02F_impro02_M000", "neu"),
    ("Ses02F_impro02", "Ses02F_impro02_F001", "exc"),
    ("Ses02F_impro02", "Ses02F_impro02_M001", "fru"),
    ("Ses02F_impro02", "Ses02F_impro02_F002", "sad"),
    ("Ses02F_impro02", "Ses02F_impro02_M002", "xxx"),
    ("Ses02F_impro02", "Ses02F_impro02_M003", "neu"),
]
IEMOCAP_MAP = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}


def make_iemocap_tree(root: Path) -> dict:
    """Session1-2 of an IEMOCAP release: EmoEvaluation summaries (with annotator lines, a
    header, a Categorical/ subfolder and a macOS '._' file to ignore) and sentence wavs."""
    root = Path(root)
    rows, by_dialog = [], {}
    for i, (dialog, uid, label) in enumerate(IEMOCAP_UTTERANCES):
        session = f"Session{int(uid[3:5])}"
        wav = write_wav(root / session / "sentences" / "wav" / dialog / f"{uid}.wav", seed=i)
        last = uid.rsplit("_", 1)[1]
        rows.append({"uid": uid, "raw": label, "speaker": uid[:5] + last[0], "gender": last[0],
                     "path": wav, "extra": {"session": uid[:5], "dialog": dialog}})
        by_dialog.setdefault((session, dialog), []).append((uid, label))
    for (session, dialog), utts in by_dialog.items():
        folder = root / session / "dialog" / "EmoEvaluation"
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for k, (uid, label) in enumerate(utts):
            start, end = 6.29 + 3 * k, 8.24 + 3 * k
            lines += [
                f"[{start:.4f} - {end:.4f}]\t{uid}\t{label}\t[2.5000, 2.5000, 2.5000]",
                "C-E1:\tNeutral state;\t()",
                "C-E2:\tAnger;\t(annoyed)",
                "A-E3:\tval 3; act 2; dom  2;\t()",
                "",
            ]
        (folder / "Categorical").mkdir(parents=True, exist_ok=True)
        (folder / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
        (folder / "Categorical" / f"{dialog}_e2_cat.txt").write_text(f"{utts[0][0]} :Anger; ()\n")
        (folder / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07 resource fork")
    first_txt = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    named = {"xxx": "no agreement (xxx)", "fru": "frustration (fru)", "sur": "surprise (sur)"}
    return _facts("iemocap", "iemocap", root, rows, IEMOCAP_MAP, 16000, first_txt, named)


# MSP-IMPROV -------------------------------------------------------------------------------------

# (name after MSP-IMPROV-, consensus letter). The acted letter (4th char) often differs from
# the consensus: S01H-M01 was acted happy but perceived neutral.
MSP_UTTERANCES = [
    ("S01A-F01-P-FM01", "A"),
    ("S01H-M01-T-FM01", "N"),
    ("S02S-F01-R-FM01", "S"),
    ("S02N-M01-S-FM01", "O"),
    ("S03H-F01-P-FM01", "H"),
    ("S03A-M01-P-FM01", "X"),
    ("S01N-F02-P-MF02", "N"),
    ("S01S-M02-T-MF02", "H"),
    ("S04A-F02-R-MF02", "A"),
    ("S04H-M02-P-MF02", "S"),
    ("S05N-F03-P-FM03", "N"),
    ("S05A-M03-P-FM03", "X"),
    ("S06S-M03-S-FM03", "A"),
]
MSP_MAP = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"}
MSP_RATER = {"A": "Angry", "H": "Happy", "S": "Sad", "N": "Neutral", "O": "Other", "X": "Other"}


def make_msp_improv_tree(root: Path) -> dict:
    """Evaluation.txt (summary + rater lines) and session<N>/<S01A>/<type>/MSP-IMPROV-*.wav,
    plus one wav that no summary line labels (must not appear)."""
    root = Path(root)
    rows, lines = [], []
    for i, (name, letter) in enumerate(MSP_UTTERANCES):
        sentence, speaker, rec_type, _ = name.split("-")
        session = f"session{int(speaker[1:])}"
        uid = f"MSP-IMPROV-{name}"
        wav = write_wav(root / session / sentence / rec_type / f"{uid}.wav", seed=100 + i)
        rows.append({"uid": uid, "raw": letter, "speaker": speaker, "gender": speaker[0],
                     "path": wav, "extra": {"session": session, "recording_type": rec_type}})
        acted = MSP_RATER.get(sentence[3], "Other")
        lines += [
            f"UTD-IMPROV-{name}.avi; {letter}; A:3.0000; V:2.2000; D:3.4000 ; N:3.6000;",
            f"rater{i:03d}; {MSP_RATER[letter]}; Tense; A:3.0000; V:2.0000; D:3.0000; N:4.0000;",
            f"rater{i + 1:03d}; {acted}; ; A:2.0000; V:3.0000; D:2.0000; N:3.0000;",
            "",
        ]
    write_wav(root / "session1" / "S09A" / "P" / "MSP-IMPROV-S09A-F01-P-FM01.wav", seed=99)
    txt = root / "Evaluation.txt"
    txt.write_text("\n".join(lines) + "\n")
    named = {"O": "other (O)", "X": "no agreement (X)"}
    return _facts("msp-improv", "msp-improv", root, rows, MSP_MAP, 16000, txt, named)


# RAVDESS ----------------------------------------------------------------------------------------

RAVDESS_NAMES = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                 "06": "fearful", "07": "disgust", "08": "surprised"}
RAVDESS_MAP = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"}


def make_ravdess_tree(root: Path, sample_rate: int = 48000) -> dict:
    """Actor_01..04 speech wavs (6 emotions each, 48 kHz as released) plus song wavs and a
    video file that the loader must skip with a count (facts['n_song'], facts['n_video'])."""
    root = Path(root)
    rows = []
    for a in range(1, 5):
        actor = f"{a:02d}"
        for e, emotion in enumerate(["01", "02", "03", "04", "05", "06"]):
            intensity = "01" if emotion == "01" or a % 2 == 0 else "02"
            statement = "01" if e % 2 == 0 else "02"
            uid = f"03-01-{emotion}-{intensity}-{statement}-01-{actor}"
            wav = write_wav(root / f"Actor_{actor}" / f"{uid}.wav", sample_rate=sample_rate,
                            seed=200 + 10 * a + e)
            rows.append({"uid": uid, "raw": RAVDESS_NAMES[emotion], "speaker": f"Actor_{actor}",
                         "gender": "M" if a % 2 else "F", "path": wav,
                         "extra": {"intensity": "normal" if intensity == "01" else "strong",
                                   "statement": statement, "repetition": "01"}})
    for actor in ("01", "02"):  # song: vocal channel 02
        write_wav(root / f"Actor_{actor}" / f"03-02-03-01-01-01-{actor}.wav",
                  sample_rate=sample_rate, seed=300 + int(actor))
    (root / "Actor_01" / "01-01-05-01-01-01-01.mp4").write_bytes(b"not audio: a video")
    named = {"calm": "calm (02)", "fearful": "fearful (06)"}
    facts = _facts("ravdess", "ravdess", root, rows, RAVDESS_MAP, sample_rate, None, named)
    facts.update(n_song=2, n_video=1)
    return facts


# CREMA-D ----------------------------------------------------------------------------------------

CREMA_ACTORS = {"1001": "Male", "1002": "Female", "1003": "Female", "1004": "Male"}
CREMA_MAP = {"ANG": "angry", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


def make_crema_d_tree(root: Path) -> dict:
    """AudioWAV/AAAA_SSS_EEE_LL.wav for four actors x six emotions, and VideoDemographics.csv.
    facts['demographics'] is the CSV (tests edit it to break the join)."""
    root = Path(root)
    rows = []
    sentences = ["DFA", "IEO", "ITS", "TIE", "MTI", "WSI"]
    levels = ["XX", "HI", "LO", "MD", "XX", "XX"]
    for a, (actor, sex) in enumerate(CREMA_ACTORS.items()):
        for e, emotion in enumerate(["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]):
            sentence, level = sentences[(a + e) % 6], levels[e]
            uid = f"{actor}_{sentence}_{emotion}_{level}"
            wav = write_wav(root / "AudioWAV" / f"{uid}.wav", seed=400 + 10 * a + e)
            rows.append({"uid": uid, "raw": emotion, "speaker": actor,
                         "gender": "M" if sex == "Male" else "F", "path": wav,
                         "extra": {"sentence": sentence, "level": level}})
    csv = root / "VideoDemographics.csv"
    csv.write_text("ActorID,Age,Sex,Race,Ethnicity\n" + "".join(
        f"{actor},{30 + i},{sex},Caucasian,Not Hispanic\n"
        for i, (actor, sex) in enumerate(CREMA_ACTORS.items())))
    named = {"DIS": "disgust (DIS)", "FEA": "fear (FEA)"}
    facts = _facts("crema-d", "crema-d", root, rows, CREMA_MAP, 16000, None, named)
    facts["demographics"] = csv
    return facts


# EmoDB ------------------------------------------------------------------------------------------

EMODB_SPEAKERS = {"03": "M", "08": "F", "10": "M", "16": "F"}
EMODB_MAP = {"W": "angry", "F": "happy", "T": "sad", "N": "neutral"}


def make_emodb_tree(root: Path) -> dict:
    """wav/SSTTTEV.wav: four speakers x all seven emotion letters."""
    root = Path(root)
    rows = []
    for s, (speaker, gender) in enumerate(EMODB_SPEAKERS.items()):
        for e, letter in enumerate("WLEAFTN"):
            text, version = ("a", "b")[e % 2] + f"{e + 1:02d}", "ab"[s % 2]
            uid = f"{speaker}{text}{letter}{version}"
            wav = write_wav(root / "wav" / f"{uid}.wav", seed=500 + 10 * s + e)
            rows.append({"uid": uid, "raw": letter, "speaker": speaker, "gender": gender,
                         "path": wav, "extra": {"text": text, "version": version}})
    named = {"L": "boredom (L)", "E": "disgust (E)", "A": "fear (A)"}
    return _facts("emodb", "emodb", root, rows, EMODB_MAP, 16000, None, named)


# Manifest ---------------------------------------------------------------------------------------


def make_manifest_tree(root: Path, corpus: str = "my-corpus") -> dict:
    """root/<corpus>/manifest.csv listing audio/<speaker>/*.wav by relative paths (one row by
    absolute path), genders spelled M, f, Male, FEMALE, extra columns session and style, stale
    duration/sample_rate columns (must be re-read from the files), and labels the default
    identity map keeps (also 'Angry') or drops (disgust, bored)."""
    folder = Path(root) / corpus
    spec = [  # speaker, gender as written, expected gender, label, session, style
        ("s1", "M", "M", "angry"), ("s1", "M", "M", "happy"), ("s1", "m", "M", "disgust"),
        ("s2", "f", "F", "sad"), ("s2", "Female", "F", "neutral"), ("s2", "F", "F", "bored"),
        ("s3", "Male", "M", "Angry"), ("s3", "MALE", "M", "neutral"),
        ("s4", "FEMALE", "F", "happy"), ("s4", "female", "F", "sad"), ("s4", "F", "F", "disgust"),
    ]
    rows, lines = [], ["path,speaker,gender,emotion,session,style,duration,sample_rate"]
    for i, (speaker, written, gender, label) in enumerate(spec):
        uid = f"{speaker}_utt{i:02d}"
        wav = write_wav(folder / "audio" / speaker / f"{uid}.wav", sample_rate=22050, seed=600 + i)
        path = str(wav) if i == 3 else f"audio/{speaker}/{uid}.wav"
        session, style = f"sess{i % 2 + 1}", "read" if i % 3 else "spontaneous"
        lines.append(f"{path},{speaker},{written},{label},{session},{style},9.99,8000")
        rows.append({"uid": uid, "raw": label, "speaker": speaker, "gender": gender, "path": wav,
                     "extra": {"session": session, "style": style}})
    csv = folder / "manifest.csv"
    csv.write_text("\n".join(lines) + "\n")
    mapping = {"angry": "angry", "Angry": "angry", "happy": "happy", "neutral": "neutral",
               "sad": "sad"}
    return _facts("manifest", corpus, csv, rows, mapping, 22050, csv)


BUILDERS = {
    "iemocap": make_iemocap_tree,
    "msp-improv": make_msp_improv_tree,
    "ravdess": make_ravdess_tree,
    "crema-d": make_crema_d_tree,
    "emodb": make_emodb_tree,
    "manifest": make_manifest_tree,
}
