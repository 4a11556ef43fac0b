"""The manifest: one row per utterance, the contract between a corpus and the extractor.

FORMATS.md section 1 fixes the columns. This module holds what every loader shares about
them: the row record a parser produces before labels are mapped and audio is probed
(`Candidate`), gender normalisation, reading a user's manifest CSV, checking a manifest
DataFrame, and writing one back with paths relative to the CSV (so a corpus folder can move).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from paragrid.errors import UserError

MANIFEST_COLUMNS = [
    "utterance_id", "path", "speaker", "gender", "emotion", "corpus", "duration", "sample_rate",
]
CSV_REQUIRED = ["path", "speaker", "emotion"]
# A corpus whose release names no gender omits the column or writes `unknown` (or leaves it
# empty): only a `gender` source task needs it, and the spec check names a corpus that lacks it.
UNKNOWN_GENDER = "unknown"

_GENDERS = {"m": "M", "male": "M", "f": "F", "female": "F",
            "": UNKNOWN_GENDER, "unknown": UNKNOWN_GENDER, "u": UNKNOWN_GENDER, "na": UNKNOWN_GENDER}


@dataclass
class Candidate:
    """One labelled utterance as a parser found it: raw label, no audio facts yet."""

    utterance_id: str
    path: Path
    speaker: str
    gender: str
    raw_label: str
    extra: dict[str, str] = field(default_factory=dict)
    listed_in: Path | None = None  # the label file / manifest that names this audio file


@dataclass
class Parsed:
    """What a parser hands to the shared pipeline (label map, audio probe, DataFrame)."""

    corpus: str
    candidates: list[Candidate]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # extra facts for the summary line


def normalise_gender(value: object) -> str | None:
    """'M'/'F' for the spellings users write (m, Male, FEMALE, ...), 'unknown' for unknown/U/NA/
    empty; None for anything else (a typo)."""
    return _GENDERS.get(str(value).strip().casefold())


def _read_csv(csv: Path) -> pd.DataFrame:
    try:
        # dtype=str and no NA parsing: a label "NA" or a speaker "0012" must survive unchanged.
        # utf-8-sig: spreadsheets save a byte-order mark that would rename the first column.
        df = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True,
                         encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise UserError(
            f"manifest {csv} is empty: write a header line with path,speaker,emotion (and gender)"
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"manifest {csv} is not a readable CSV ({first}): fix the file")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_manifest_csv(csv: Path) -> Parsed:
    """Candidates of a manifest CSV: paths made absolute, genders normalised, extras kept."""
    csv = Path(csv).expanduser().absolute()
    if csv.is_dir():
        if not (csv / "manifest.csv").is_file():
            raise UserError(f"{csv} is a folder without manifest.csv: pass the manifest CSV itself")
        csv = csv / "manifest.csv"
    if not csv.is_file():
        raise UserError(f"manifest {csv} does not exist: check the path")
    df = _read_csv(csv)
    missing = [c for c in CSV_REQUIRED if c not in df.columns]
    if missing:
        raise UserError(
            f"manifest {csv} lacks the column(s) {', '.join(missing)}: a manifest needs "
            f"{', '.join(CSV_REQUIRED)} (see docs/FORMATS.md section 1)"
        )
    for col in CSV_REQUIRED + [c for c in ("utterance_id", "corpus") if c in df.columns]:
        empty = df.index[df[col].str.strip() == ""]
        if len(empty):
            lines = ", ".join(str(i + 2) for i in empty[:5])
            raise UserError(f"manifest {csv}: column {col} is empty on line(s) {lines}: fill it in")

    if "gender" not in df.columns:
        df["gender"] = UNKNOWN_GENDER
    bad = sorted({g for g in df["gender"] if normalise_gender(g) is None})
    if bad:
        raise UserError(
            f"manifest {csv}: unknown gender value(s) {', '.join(repr(b) for b in bad[:5])}: "
            f"use M or F (male/female and lower case are accepted), or unknown"
        )

    if "corpus" in df.columns:
        names = sorted(set(df["corpus"].str.strip()))
        if len(names) > 1:
            raise UserError(
                f"manifest {csv} mixes corpora ({', '.join(names[:5])}) in its corpus column: "
                f"write one manifest per corpus"
            )
        corpus = names[0]
    else:
        corpus = csv.parent.name

    derived = "utterance_id" not in df.columns
    ids = ([Path(p.strip()).stem for p in df["path"]] if derived
           else [u.strip() for u in df["utterance_id"]])
    seen: dict[str, int] = {}
    for line, uid in enumerate(ids, start=2):
        if uid in seen:
            how = ("derived from the file names: add a unique utterance_id column" if derived
                   else "make the utterance_id values unique")
            raise UserError(
                f"manifest {csv}: duplicate utterance_id {uid!r} on lines {seen[uid]} and {line} "
                f"({how})"
            )
        seen[uid] = line

    # Recomputed from the audio headers, so stale values in the CSV are not carried through.
    skip = set(CSV_REQUIRED) | {"gender", "utterance_id", "corpus", "duration", "sample_rate"}
    extras = [c for c in df.columns if c not in skip]
    candidates = []
    for uid, row in zip(ids, df.to_dict("records")):
        path = Path(row["path"].strip()).expanduser()
        path = Path(os.path.normpath(path if path.is_absolute() else csv.parent / path))
        candidates.append(Candidate(
            utterance_id=uid,
            path=path,
            speaker=row["speaker"].strip(),
            gender=normalise_gender(row["gender"]),
            raw_label=row["emotion"].strip(),
            extra={c: row[c] for c in extras},
            listed_in=csv,
        ))
    return Parsed(corpus=corpus, candidates=candidates)


def validate_manifest(df: pd.DataFrame, where: str) -> None:
    """Raise a UserError naming `where` when a manifest DataFrame breaks FORMATS.md section 1."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{where}: manifest lacks the column(s) {', '.join(missing)}")
    if len(df) == 0:
        raise UserError(f"{where}: manifest has no rows")
    dup = df["utterance_id"][df["utterance_id"].duplicated()]
    if len(dup):
        raise UserError(f"{where}: duplicate utterance_id {dup.iloc[0]!r}: ids must be unique")
    bad = sorted(set(df["gender"]) - {"M", "F", UNKNOWN_GENDER}, key=str)
    if bad:
        raise UserError(f"{where}: gender must be M, F or {UNKNOWN_GENDER}, found {', '.join(map(repr, bad[:5]))}")
    nulls = [c for c in MANIFEST_COLUMNS if df[c].isna().any()]
    if nulls:
        raise UserError(f"{where}: empty values in column(s) {', '.join(nulls)}")
    relative = [p for p in df["path"] if not Path(p).is_absolute()]
    if relative:
        raise UserError(
            f"{where}: path {relative[0]!r} is relative; a manifest DataFrame holds absolute paths"
        )


def write_manifest(df: pd.DataFrame, csv: Path) -> Path:
    """Write `df` as a manifest CSV whose paths are relative to the CSV's folder where possible."""
    csv = Path(csv).expanduser().absolute()
    validate_manifest(df, str(csv))
    out = df.copy()

    def rel(p: str) -> str:
        try:
            return Path(os.path.relpath(p, csv.parent)).as_posix()
        except ValueError:  # another drive on Windows
            return str(p)

    out["path"] = [rel(p) for p in out["path"]]
    csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv.with_name(csv.name + ".tmp")
    out.to_csv(tmp, index=False)
    os.replace(tmp, csv)
    return csv
