"""Loading a corpus: a release folder (or a manifest CSV) in, one manifest DataFrame out.

`load_corpus` is the one entry point. A format's parser (`_releases`, or the manifest CSV
reader) produces `Candidate` rows; one shared pipeline then checks ids, applies the label map
(counting every dropped label), checks the label set before any audio is read (`_checks`),
reads each kept file's header for duration and sample rate, and builds the DataFrame of
docs/FORMATS.md section 1. Its decisions are always printed, never silent: one stderr line per
corpus such as `iemocap: kept 5531 of 10039 utterances: angry=1103, ... (the default iemocap
map: anger (ang) -> angry, ...); dropped no agreement (xxx)=2507, frustration (fru)=1849, ...`.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from paragrid.errors import UserError
from paragrid.features.corpora._checks import (
    applied_labels, apply_map, check_genders, check_ids, check_label_set, count_labels,
)
from paragrid.features.corpora._classes import classes_label_map
from paragrid.features.corpora._labels import LabelMap, resolve_label_map
from paragrid.features.corpora._manifest import MANIFEST_COLUMNS, Parsed, read_manifest_csv
from paragrid.features.corpora._releases import PARSERS

FORMATS = ("manifest", "iemocap", "msp-improv", "ravdess", "crema-d", "emodb")


class _BadAudio(Exception):
    """A referenced file that is missing or whose header soundfile cannot read."""

    def __init__(self, reason: str, fix: str | None = None):
        super().__init__(reason)
        self.reason, self.fix = reason, fix


def probe_audio(path: Path) -> tuple[float, int]:
    """(duration in s, sample rate) from the file header only: fast, no decoding."""
    if not path.is_file():
        raise _BadAudio("does not exist")
    import soundfile as sf  # heavy: soundfile (reading features needs no audio library: GPU boxes lack it)

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


def _build(
    parsed: Parsed, labels: LabelMap, skip_bad: bool, source: Path, fmt: str
) -> pd.DataFrame:
    """Id check -> label map -> header probe -> sorted manifest DataFrame, one summary line."""
    name = parsed.corpus
    check_ids(parsed)
    kept, dropped = apply_map(parsed, labels, source)
    check_label_set(parsed, labels, kept, source)
    check_genders(kept, source)

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
               f"({labels.origin}: {applied_labels(kept, parsed)}); "
               f"dropped {count_labels(dropped, parsed.aliases) or 'none'}")
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
    classes: tuple[str, ...] | str | None = None,
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

    classes: keep these classes without a map (features/corpora/_classes.py), e.g.
    "angry,happy,neutral,sad,fearful"; not together with label_map.
    """
    key = str(fmt).strip().lower().replace("_", "-")
    if key not in FORMATS:
        raise UserError(f"unknown corpus format {fmt!r}: use one of {', '.join(FORMATS)}")
    source = Path(source).expanduser().absolute()
    if classes is not None and label_map is not None:
        raise UserError("--classes and --label-map both choose the label set: pass one of them")
    labels = classes_label_map(classes, key) if classes is not None else resolve_label_map(label_map, key)
    if key == "manifest":
        parsed = read_manifest_csv(source)
    else:
        if not source.exists():
            raise UserError(f"corpus folder {source} does not exist: check the path")
        if not source.is_dir():
            raise UserError(f"{source} is a file; --format {key} expects the corpus root folder")
        parsed = PARSERS[key](source)
    return _build(parsed, labels, skip_bad, source, key)
