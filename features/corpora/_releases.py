"""Parsers of the five corpus releases: a release folder in, `Candidate` rows out.

Each `_parse_<format>` reads only file names and label files, producing `Candidate` rows with
the corpus' raw label and the format's extra columns. Parsers hold no policy: which labels are
kept, and which files are usable, is decided once for every format by the shared pipeline in
`_load` (label map, checks, audio header probe). Release layouts (what SOURCE is for each
format) are in docs/FORMATS.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from paragrid.errors import UserError
from paragrid.features.corpora._labels import DEFAULT_ALIASES
from paragrid.features.corpora._manifest import Candidate, Parsed, normalise_gender


# ---------------------------------------------------------------------------------------------
# IEMOCAP


_IEMOCAP_SUMMARY = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(Ses\w+)\s+(\S+)\s+\[")


def _parse_iemocap(root: Path) -> Parsed:
    """Summary lines of Session*/dialog/EmoEvaluation/<dialog>.txt; audio in sentences/wav.

    The speaker is the session plus the gender letter of the id's LAST field: in
    `Ses01F_impro01_M012` the dialog was led by the female actor, but this turn is the male's.
    """
    files = [f for f in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt"))
             if not f.name.startswith(".")]  # macOS "._" resource forks ship in some copies
    if not files:
        raise UserError(
            f"no Session*/dialog/EmoEvaluation/*.txt under {root}: is this the IEMOCAP root?"
        )
    candidates = []
    for txt in files:
        session_dir, dialog = txt.parents[2], txt.stem
        with txt.open(encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                m = _IEMOCAP_SUMMARY.match(line)
                if not m:
                    continue  # header, per-annotator C-/A- lines, blank lines
                uid, label = m.group(1), m.group(2)
                last = uid.rsplit("_", 1)[-1]
                if last[:1] not in ("F", "M") or len(uid) < 6:
                    raise UserError(
                        f"{txt} line {lineno}: utterance id {uid!r} does not end in an "
                        f"F###/M### field: is this file an IEMOCAP EmoEvaluation summary?"
                    )
                candidates.append(Candidate(
                    utterance_id=uid,
                    path=session_dir / "sentences" / "wav" / dialog / f"{uid}.wav",
                    speaker=uid[:5] + last[0],
                    gender=last[0],
                    raw_label=label,
                    extra={"session": uid[:5], "dialog": dialog},
                    listed_in=txt,
                ))
    return Parsed("iemocap", candidates, DEFAULT_ALIASES["iemocap"])


# ---------------------------------------------------------------------------------------------
# MSP-IMPROV


_MSP_SUMMARY = re.compile(r"^\s*UTD-IMPROV-([A-Za-z0-9-]+)\.avi\s*;\s*([A-Za-z])\s*;")
_MSP_NAME = re.compile(r"^(S\d\d[A-Z])-([FM])(\d\d)-([A-Z])-([A-Z]{2}\d\d)$")


def _parse_msp_improv(root: Path) -> Parsed:
    """Summary lines of Evaluation.txt; audio session<N>/<S01A>/<type>/MSP-IMPROV-<name>.wav.

    The label is the raters' consensus letter of the summary line, NOT the acted emotion letter
    inside the name (S01A: sentence 01 acted as anger): perceived and acted emotion often differ.
    """
    txt = root / "Evaluation.txt"
    if not txt.is_file():
        raise UserError(f"no Evaluation.txt under {root}: is this the MSP-IMPROV root?")
    found: dict[str, Candidate] = {}
    repeated = 0
    with txt.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            m = _MSP_SUMMARY.match(line)
            if not m:
                continue  # per-rater lines and anything else
            name, label = m.group(1), m.group(2).upper()
            parts = _MSP_NAME.match(name)
            if not parts:
                raise UserError(
                    f"{txt} line {lineno}: UTD-IMPROV-{name}.avi does not follow "
                    f"S01A-F01-P-FM01 (sentence-speaker-type-dialog): fix or remove the line"
                )
            sentence, sex, number, rec_type, _dialog = parts.groups()
            uid = f"MSP-IMPROV-{name}"
            if uid in found:
                if found[uid].raw_label != label:
                    raise UserError(
                        f"{txt} line {lineno}: {uid} is labelled again with {label!r}, "
                        f"earlier {found[uid].raw_label!r}: keep one summary line"
                    )
                repeated += 1
                continue
            session = f"session{int(number)}"
            found[uid] = Candidate(
                utterance_id=uid,
                path=root / session / sentence / rec_type / f"{uid}.wav",
                speaker=f"{sex}{number}",
                gender=sex,
                raw_label=label,
                extra={"session": session, "recording_type": rec_type},
                listed_in=txt,
            )
    if not found:
        raise UserError(
            f"{txt} holds no summary line like 'UTD-IMPROV-S01A-F01-P-FM01.avi; A; ...': "
            f"is this MSP-IMPROV's Evaluation.txt?"
        )
    notes = [f"ignored {repeated} repeated identical summary lines"] if repeated else []
    return Parsed("msp-improv", list(found.values()), DEFAULT_ALIASES["msp-improv"], notes)


# ---------------------------------------------------------------------------------------------
# RAVDESS


_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(\w+)$")
_RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                     "06": "fearful", "07": "disgust", "08": "surprised"}


def _parse_ravdess(root: Path) -> Parsed:
    """Actor_XX/MM-VV-EE-II-SS-RR-AA.wav; speech only (modality 03 audio, vocal channel 01).

    Raw labels are the emotion names (neutral, calm, happy, ...). The default map keeps
    neutral/happy/sad/angry and drops calm: calm is NOT merged into neutral unless a user map
    says so (`calm: neutral`). Odd actor numbers are male, even female.
    """
    files = [f for f in sorted(root.glob("Actor_*/*")) if f.is_file()]
    named = [(f, _RAVDESS_NAME.match(f.name)) for f in files]
    named = [(f, m) for f, m in named if m]
    if not named:
        raise UserError(
            f"no Actor_*/NN-NN-NN-NN-NN-NN-NN.wav files under {root}: is this the RAVDESS root?"
        )
    candidates, song, video = [], 0, 0
    for f, m in named:
        modality, channel, emotion, intensity, statement, repetition, actor, ext = m.groups()
        if modality != "03" or ext.lower() != "wav":
            video += 1
            continue
        if channel != "01":
            song += 1
            continue
        candidates.append(Candidate(
            utterance_id=f.stem,
            path=f,
            speaker=f"Actor_{actor}",
            gender="M" if int(actor) % 2 == 1 else "F",
            raw_label=_RAVDESS_EMOTIONS.get(emotion, emotion),
            extra={"intensity": {"01": "normal", "02": "strong"}.get(intensity, intensity),
                   "statement": statement, "repetition": repetition},
        ))
    notes = []
    if song or video:
        notes.append(f"skipped {song} song and {video} video files (speech audio only)")
    if len(files) > len(named):
        notes.append(f"ignored {len(files) - len(named)} files not named like RAVDESS")
    if not candidates:
        raise UserError(
            f"{root} holds no RAVDESS speech audio (modality 03, vocal channel 01): "
            f"use the Audio_Speech_Actors_01-24 release"
        )
    return Parsed("ravdess", candidates, DEFAULT_ALIASES["ravdess"], notes)


# ---------------------------------------------------------------------------------------------
# CREMA-D


_CREMA_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _crema_genders(csv: Path) -> dict[str, str]:
    """ActorID -> M/F from VideoDemographics.csv (the only place CREMA-D records gender)."""
    if not csv.is_file():
        raise UserError(
            f"{csv} does not exist: CREMA-D genders come from it; copy VideoDemographics.csv "
            f"from the CREMA-D release next to AudioWAV/"
        )
    try:
        demo = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{csv} is not a readable CSV ({type(err).__name__}): restore the file")
    demo.columns = [str(c).strip() for c in demo.columns]
    missing = [c for c in ("ActorID", "Sex") if c not in demo.columns]
    if missing:
        raise UserError(
            f"{csv} lacks the column(s) {', '.join(missing)}: restore the release's file"
        )
    genders = {}
    for actor, sex in zip(demo["ActorID"].str.strip(), demo["Sex"]):
        gender = normalise_gender(sex)
        if gender is None:
            raise UserError(f"{csv}: actor {actor} has Sex {sex!r}: use Male or Female")
        genders[actor] = gender
    return genders


def _parse_crema_d(root: Path) -> Parsed:
    """AudioWAV/AAAA_SSS_EEE_LL.wav with genders joined from VideoDemographics.csv.

    SOURCE is the release root (holding AudioWAV/ and VideoDemographics.csv); AudioWAV/ itself
    is accepted too, with the CSV then looked up next to it.
    """
    if not (root / "AudioWAV").is_dir() and root.name == "AudioWAV":
        root = root.parent
    files = sorted((root / "AudioWAV").glob("*.wav"))
    if not files:
        raise UserError(f"no AudioWAV/*.wav under {root}: is this the CREMA-D root (the folder "
                        f"holding AudioWAV/ and VideoDemographics.csv)?")
    csv = root / "VideoDemographics.csv"
    genders = _crema_genders(csv)
    candidates, other = [], 0
    for f in files:
        m = _CREMA_NAME.match(f.stem)
        if not m:
            other += 1
            continue
        actor, sentence, emotion, level = m.groups()
        if actor not in genders:
            raise UserError(
                f"{csv} has no row for actor {actor} (needed by {f.name}): "
                f"add the actor's row or use the release's VideoDemographics.csv"
            )
        candidates.append(Candidate(
            utterance_id=f.stem, path=f, speaker=actor, gender=genders[actor],
            raw_label=emotion, extra={"sentence": sentence, "level": level},
        ))
    notes = [f"ignored {other} wav files not named AAAA_SSS_EEE_LL"] if other else []
    return Parsed("crema-d", candidates, DEFAULT_ALIASES["crema-d"], notes)


# ---------------------------------------------------------------------------------------------
# Berlin EmoDB


_EMODB_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z])$")
EMODB_GENDERS = {"03": "M", "10": "M", "11": "M", "12": "M", "15": "M",
                 "08": "F", "09": "F", "13": "F", "14": "F", "16": "F"}


def _parse_emodb(root: Path) -> Parsed:
    """wav/SSTTTEV.wav: speaker, text, German emotion initial, version; gender from a table.

    SOURCE is the unpacked release (the folder holding wav/, lablaut/, silb/, ...) or its wav/
    folder itself: whichever holds the EmoDB-named files.
    """
    folder = root / "wav" if (root / "wav").is_dir() else root
    files = sorted(folder.glob("*.wav"))
    if not files or not any(_EMODB_NAME.match(f.stem) for f in files):
        raise UserError(f"no wav/*.wav under {root} (nor EmoDB-named wavs like 03a01Fa.wav in it): "
                        f"is this the EmoDB root? pass the folder holding wav/, or wav/ itself")
    candidates, other = [], 0
    for f in files:
        m = _EMODB_NAME.match(f.stem)
        if not m:
            other += 1
            continue
        speaker, text, emotion, version = m.groups()
        if speaker not in EMODB_GENDERS:
            raise UserError(
                f"{f}: speaker {speaker} is not one of EmoDB's ten speakers "
                f"({', '.join(sorted(EMODB_GENDERS))}): remove or rename the file"
            )
        candidates.append(Candidate(
            utterance_id=f.stem, path=f, speaker=speaker, gender=EMODB_GENDERS[speaker],
            raw_label=emotion, extra={"text": text, "version": version},
        ))
    notes = [f"ignored {other} wav files not named like EmoDB (03a01Fa.wav)"] if other else []
    return Parsed("emodb", candidates, DEFAULT_ALIASES["emodb"], notes)


PARSERS = {
    "iemocap": _parse_iemocap,
    "msp-improv": _parse_msp_improv,
    "ravdess": _parse_ravdess,
    "crema-d": _parse_crema_d,
    "emodb": _parse_emodb,
}
