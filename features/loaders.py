"""Corpus loaders: a corpus release (or a manifest CSV) in, one manifest DataFrame out.

Each `_parse_<format>` reads only names and label files, producing `Candidate` rows with the
corpus' raw label. One shared pipeline then applies the label map (counting every dropped
label), checks ids, reads each kept file's header for duration and sample rate, and builds the
DataFrame of docs/FORMATS.md section 1. Keeping the parsers free of policy means that the
decisions that change a study's numbers (which labels, which files) live in one place and are
always printed, never silent: one stderr line per corpus such as
`iemocap: kept 5531 of 10039 utterances: angry=1103, ... (the default iemocap map: anger (ang)
-> angry, ...); dropped no agreement (xxx)=2507, frustration (fru)=1849, ...`.

The label set is checked before any audio is read: fewer than two classes left is a UserError
naming the labels found and the --label-map fix; a class of the label set with no utterance is
a `CorpusWarning`. Release layouts (what SOURCE is for each format) are in docs/FORMATS.md; the
defaults reproduce the paper's four classes (angry, happy, neutral, sad), see
`paragrid.features.labels`.
"""

from __future__ import annotations

import difflib
import re
import sys
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd
import soundfile as sf

from paragrid.errors import UserError
from paragrid.features.labels import DEFAULT_ALIASES, CorpusWarning, LabelMap, describe, \
    resolve_label_map
from paragrid.features.manifest import (
    MANIFEST_COLUMNS,
    Candidate,
    Parsed,
    normalise_gender,
    read_manifest_csv,
)

FORMATS = ("manifest", "iemocap", "msp-improv", "ravdess", "crema-d", "emodb")


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


_PARSERS = {
    "iemocap": _parse_iemocap,
    "msp-improv": _parse_msp_improv,
    "ravdess": _parse_ravdess,
    "crema-d": _parse_crema_d,
    "emodb": _parse_emodb,
}


# ---------------------------------------------------------------------------------------------
# The shared pipeline


class _BadAudio(Exception):
    """A referenced file that is missing or whose header soundfile cannot read."""

    def __init__(self, reason: str, fix: str | None = None):
        super().__init__(reason)
        self.reason, self.fix = reason, fix


def probe_audio(path: Path) -> tuple[float, int]:
    """(duration in s, sample rate) from the file header only: fast, no decoding."""
    if not path.is_file():
        raise _BadAudio("does not exist")
    try:
        info = sf.info(str(path))
    except Exception as err:  # libsndfile reports every format problem as its own error type
        try:
            head = path.read_bytes()[:64]
        except OSError:
            head = b""
        if head.startswith(b"version https://git-lfs"):
            raise _BadAudio("is a Git LFS pointer, not audio",
                            "run `git lfs pull` in the corpus repository")
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _BadAudio(f"is not readable audio ({detail})")
    if info.frames <= 0 or info.samplerate <= 0:
        raise _BadAudio("holds no audio samples")
    return info.frames / info.samplerate, int(info.samplerate)


def _counts(counter: Counter, aliases: dict[str, tuple[str, ...]] | None = None) -> str:
    """`boredom (L)=81, disgust (E)=46`: most frequent first, coded labels by their meaning."""
    aliases = aliases or {}
    named = [(describe(k, aliases.get(k, ())), n) for k, n in counter.items()]
    return ", ".join(f"{name}={n}" for name, n in sorted(named, key=lambda kv: (-kv[1], kv[0])))


def _applied(kept: list[tuple[Candidate, str]], parsed: Parsed) -> str:
    """Which raw label became which class: `anger (W) -> angry, neutral (N) -> neutral`."""
    pairs = sorted({(c.raw_label, cls) for c, cls in kept}, key=lambda p: (p[1], p[0].casefold()))
    return ", ".join(f"{describe(raw, parsed.aliases.get(raw, ()))} -> {cls}" for raw, cls in pairs)


def _check_label_set(parsed: Parsed, labels: LabelMap, kept: list[tuple[Candidate, str]],
                     source: Path) -> None:
    """Fewer than two classes of the label set left: UserError; a class with none: CorpusWarning.

    Checked before any audio is read: a one-class parquet would otherwise be extracted, and a
    grid on it would train every source model before its first trial failed.
    """
    present = Counter(cls for _, cls in kept)
    label_set = labels.classes
    wanted = ", ".join(label_set)
    seen = _counts(Counter(c.raw_label for c in parsed.candidates), parsed.aliases)
    if len(present) < 2:
        left = ", ".join(f"{cls}={n}" for cls, n in sorted(present.items()))
        kept_raw = {c.raw_label for c, _ in kept}
        dropped = Counter(c.raw_label for c in parsed.candidates if c.raw_label not in kept_raw)
        raw = min(dropped, key=lambda r: (-dropped[r], r)) if dropped else parsed.candidates[0].raw_label
        names = parsed.aliases.get(raw, ())
        example = names[0] if names and any(ch.isalpha() for ch in names[0]) else raw  # `fear`, not `A`
        guess = difflib.get_close_matches(example.casefold(), label_set, n=1, cutoff=0.5)
        where = f"add to {labels.from_file}" if labels.from_file else "pass --label-map MAP.yaml with"
        raise UserError(
            f"{parsed.corpus}: only {len(present)} class of the label set ({wanted}) is left after "
            f"{labels.origin} ({left}); labels found in {source}: {seen}: a classifier needs at "
            f"least two, so {where} one `raw label: class` line per label to keep "
            f"(e.g. `{example}: {guess[0] if guess else '<class>'}`)")
    missing = [cls for cls in label_set if cls not in present]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        fix = (f"map a label to {them} in {labels.from_file}" if labels.from_file
               else f"map a label to {them} with --label-map")
        names = ", ".join(f"'{c}'" for c in missing)
        warnings.warn(
            f"{parsed.corpus}: {'class' if len(missing) == 1 else 'classes'} {names} of the label set "
            f"({wanted}) {'has' if len(missing) == 1 else 'have'} no utterance after {labels.origin} "
            f"(labels found: {seen}): {fix}, or expect models without {them}",
            CorpusWarning, stacklevel=4)


def _bad_message(path: Path, bad: _BadAudio, listed_in: Path | None, more: int) -> str:
    where = f" listed in {listed_in}" if listed_in else ""
    reason = bad.reason
    fix = bad.fix or (
        "replace the file" if reason != "does not exist"
        else "check the path column (relative paths start at the manifest's folder)"
        if listed_in is not None and listed_in.suffix.lower() == ".csv"
        else "check the corpus root")
    tail = f" (and {more} more missing or unreadable files)" if more else ""
    return f"{path}{where} {reason}{tail}: {fix}, or pass --skip-bad to skip such files"


def _check_ids(parsed: Parsed) -> None:
    seen: dict[str, Candidate] = {}
    for c in parsed.candidates:
        if c.utterance_id in seen:
            first = seen[c.utterance_id]
            raise UserError(
                f"{c.listed_in or c.path.parent}: utterance id {c.utterance_id} appears twice "
                f"(also {first.listed_in or first.path}): remove the duplicate"
            )
        seen[c.utterance_id] = c


def _apply_map(
    parsed: Parsed, labels: LabelMap, source: Path
) -> tuple[list[tuple[Candidate, str]], Counter]:
    """(candidate, class) pairs the map keeps, and the count of every raw label it drops."""
    kept, dropped = [], Counter()
    for c in parsed.candidates:
        cls = labels.lookup(c.raw_label, parsed.aliases.get(c.raw_label, ()))
        if cls is None:
            dropped[c.raw_label] += 1
        else:
            kept.append((c, cls))
    if not kept:
        seen = _counts(Counter(c.raw_label for c in parsed.candidates), parsed.aliases)
        fix = (f"map some of them in {labels.from_file}" if labels.from_file
               else "pass a --label-map that maps some of them")
        raise UserError(f"{parsed.corpus}: no utterance of {source} is left after "
                        f"{labels.origin} (labels seen: {seen}): {fix}")
    return kept, dropped


def _check_genders(kept: list[tuple[Candidate, str]], source: Path) -> None:
    """The gender source task needs one gender per speaker; two mean a typo in the labels."""
    genders: dict[str, Candidate] = {}
    for c, _ in kept:
        other = genders.setdefault(c.speaker, c)
        if other.gender != c.gender:
            raise UserError(
                f"{c.listed_in or source}: speaker {c.speaker} is {other.gender} for "
                f"{other.utterance_id} but {c.gender} for {c.utterance_id}: "
                f"give each speaker one gender"
            )


def _build(
    parsed: Parsed, labels: LabelMap, skip_bad: bool, source: Path, fmt: str
) -> pd.DataFrame:
    """Id check -> label map -> header probe -> sorted manifest DataFrame, one summary line."""
    name = parsed.corpus
    _check_ids(parsed)
    kept, dropped = _apply_map(parsed, labels, source)
    _check_label_set(parsed, labels, kept, source)
    _check_genders(kept, source)

    rows, skipped = [], []
    for c, cls in kept:
        try:
            duration, rate = probe_audio(c.path)
        except _BadAudio as err:
            skipped.append((c, err))
            continue
        row = {"utterance_id": c.utterance_id, "path": str(c.path), "speaker": c.speaker,
               "gender": c.gender, "emotion": cls, "corpus": name, "duration": duration,
               "sample_rate": rate}
        row.update(c.extra)
        row.setdefault("raw_emotion", c.raw_label)
        rows.append(row)
    if skipped and not skip_bad:
        first, bad = skipped[0]
        raise UserError(_bad_message(first.path, bad, first.listed_in, len(skipped) - 1))
    if not rows:
        first, bad = skipped[0]
        raise UserError(f"{name}: every audio file of {source} is missing or unreadable "
                        f"(first: {first.path} {bad.reason}): check the corpus root")
    if skipped and len({r["emotion"] for r in rows}) < 2:
        raise UserError(f"{name}: after skipping {len(skipped)} missing or unreadable audio files "
                        f"only the class '{rows[0]['emotion']}' is left (first skipped: "
                        f"{skipped[0][0].path}): a classifier needs two; restore the files")

    extras = list(dict.fromkeys(k for r in rows for k in r if k not in MANIFEST_COLUMNS))
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS + extras)
    for col in extras:
        df[col] = df[col].fillna("").astype(str)
    df["duration"] = df["duration"].astype("float64")
    df["sample_rate"] = df["sample_rate"].astype("int64")
    df = df.sort_values("utterance_id", kind="stable").reset_index(drop=True)

    classes = ", ".join(f"{c}={n}" for c, n in sorted(Counter(df["emotion"]).items()))
    summary = (f"{name}: kept {len(df)} of {len(parsed.candidates)} utterances: {classes} "
               f"({labels.origin}: {_applied(kept, parsed)}); "
               f"dropped {_counts(dropped, parsed.aliases) or 'none'}")
    for note in parsed.notes:
        summary += f"; {note}"
    if skipped:
        summary += f"; skipped {len(skipped)} missing or unreadable audio files (--skip-bad)"
    print(summary, file=sys.stderr)

    df.attrs["skipped"] = [(str(c.path), bad.reason) for c, bad in skipped]
    df.attrs["dropped"] = dict(dropped)
    df.attrs["source"] = str(source)
    df.attrs["format"] = fmt
    df.attrs["label_map"] = labels.origin
    return df


def load_corpus(
    source: Path,
    fmt: str,
    label_map: str | Path | dict | None = None,
    *,
    skip_bad: bool = False,
) -> pd.DataFrame:
    """The manifest DataFrame of FORMATS.md section 1 for a corpus root or a manifest CSV.

    fmt is one of manifest, iemocap, msp-improv, ravdess, crema-d, emodb. Columns:
    utterance_id, path (absolute), speaker, gender (M/F), emotion (after the label map),
    corpus, duration (s), sample_rate (Hz, as stored), then the format's extra columns
    (iemocap: session, dialog; msp-improv: session, recording_type; ravdess: intensity,
    statement, repetition; crema-d: sentence, level; emodb: text, version; manifest: its own)
    and raw_emotion (the label before the map). Rows are sorted by utterance_id.

    label_map: None for the format's default 4-class map (RAVDESS: calm is dropped, not merged
    into neutral), else a YAML/JSON file or dict raw label -> class that replaces the default.
    Every dropped label is counted on one stderr line.

    skip_bad: a labelled file that is missing or has an unreadable header raises a UserError
    by default; with skip_bad=True it is dropped and listed in df.attrs['skipped'] as
    (path, reason) pairs. df.attrs also holds 'dropped' (label -> count), 'source', 'format'
    and 'label_map' (where the map came from).
    """
    key = str(fmt).strip().lower().replace("_", "-")
    if key not in FORMATS:
        raise UserError(f"unknown corpus format {fmt!r}: use one of {', '.join(FORMATS)}")
    source = Path(source).expanduser().absolute()
    labels = resolve_label_map(label_map, key)
    if key == "manifest":
        parsed = read_manifest_csv(source)
    else:
        if not source.exists():
            raise UserError(f"corpus folder {source} does not exist: check the path")
        if not source.is_dir():
            raise UserError(f"{source} is a file; --format {key} expects the corpus root folder")
        parsed = _PARSERS[key](source)
    return _build(parsed, labels, skip_bad, source, key)
