"""Label maps: which raw corpus label becomes which class, and which labels are dropped.

Every corpus spells its emotions differently (IEMOCAP `exc`, MSP-IMPROV `H`, EmoDB `F`,
RAVDESS code `03`); the study needs one label set per experiment. A label map is a plain
mapping raw label -> class. Anything the map does not name is dropped, and the loader prints a
count per dropped label, so a typo in a map shows up as a large drop count instead of a silent
shrink of the corpus.

A user map (a YAML/JSON file or a dict) *extends* the default map of the format: its lines
override the default's for the labels they name (by code or documented name) and add the
others, so adding `calm: neutral` to the four default classes is one line. A value `drop`, null
(YAML `~`, JSON `null`) or "" drops that label explicitly; mapping to another label set (arousal,
valence) means naming, or dropping, every default label too.
Keys match case-insensitively, against the raw code or one of its documented names
(`DEFAULT_ALIASES`), so `{anger: angry}` works for EmoDB's `W` and `{5: angry}` for RAVDESS `05`.

A manifest's labels are free text; its default map knows the common English names of the four
classes (anger/angry, happiness/happy/joy, sadness/sad, neutral), so a corpus labelled in plain
English needs no map. Whatever map applies, the loader prints which raw label became which
class, and `describe` names coded labels by their meaning (`boredom (L)`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from paragrid.errors import UserError

# The paper's 4-class setup per format (docs/PROTOCOL.md, section 2): IEMOCAP merges excited into happy.
DEFAULT_MAPS: dict[str, dict[str, str]] = {
    "iemocap": {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"},
    "msp-improv": {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"},
    # RAVDESS raw labels are the emotion names; calm is NOT merged into neutral by default.
    "ravdess": {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"},
    "crema-d": {"ANG": "angry", "HAP": "happy", "NEU": "neutral", "SAD": "sad"},
    "emodb": {"W": "angry", "F": "happy", "T": "sad", "N": "neutral"},
    "manifest": {"angry": "angry", "anger": "angry", "happy": "happy", "happiness": "happy",
                 "joy": "happy", "neutral": "neutral", "sad": "sad", "sadness": "sad"},
}

# Other names a user map may use for a raw label (the corpus' documented meaning of each code).
DEFAULT_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "iemocap": {
        "neu": ("neutral",), "hap": ("happiness",), "exc": ("excited",), "sad": ("sadness",),
        "ang": ("anger",), "fru": ("frustration",), "sur": ("surprise",), "fea": ("fear",),
        "dis": ("disgust",), "oth": ("other",), "xxx": ("no agreement",),
    },
    "msp-improv": {
        "A": ("anger",), "H": ("happiness",), "S": ("sadness",), "N": ("neutral",),
        "O": ("other",), "X": ("no agreement",),
    },
    "ravdess": {
        name: (code, str(int(code)))
        for code, name in {
            "01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised",
        }.items()
    },
    "crema-d": {
        "ANG": ("anger",), "DIS": ("disgust",), "FEA": ("fear",), "HAP": ("happy",),
        "NEU": ("neutral",), "SAD": ("sad",),
    },
    "emodb": {
        "W": ("anger",), "L": ("boredom",), "E": ("disgust",), "A": ("fear",),
        "F": ("happiness",), "T": ("sadness",), "N": ("neutral",),
    },
    "manifest": {},
}


class CorpusWarning(UserWarning):
    """A corpus that loads but may not be what the study expects (e.g. a class with no utterance)."""


def describe(raw: str, aliases: tuple[str, ...] = ()) -> str:
    """A raw label as a reader understands it: `boredom (L)`, `calm (02)`, or the label itself.

    The first documented name that is a word gives the meaning; for RAVDESS the raw label is
    already the name and the alias is the file-name code.
    """
    if not aliases:
        return raw
    first = aliases[0]
    if first.casefold() == raw.casefold():
        return raw
    if any(ch.isalpha() for ch in first):
        return f"{first} ({raw})"
    return f"{raw} ({first})"


@dataclass(frozen=True)
class LabelMap:
    """A resolved label map: casefolded raw label -> class (None = drop), and where it came from."""

    table: dict[str, str | None]
    origin: str  # "the default iemocap map", "label map /x/map.yaml", "the given label map"
    from_file: Path | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        """The target label set: every class some raw label maps to, sorted."""
        return tuple(sorted({c for c in self.table.values() if c is not None}))

    def lookup(self, raw: str, aliases: tuple[str, ...] = ()) -> str | None:
        """The class of `raw`, or None when the map drops it (unnamed or mapped to null)."""
        for name in (raw, *aliases):
            key = name.strip().casefold()
            if key in self.table:
                return self.table[key]
        return None


def _normalise(mapping: dict, origin: str) -> dict[str, str | None]:
    """Casefold keys and check values, so that a malformed map fails here, naming its origin."""
    table: dict[str, str | None] = {}
    for key, value in mapping.items():
        if key is None or isinstance(key, (dict, list)):
            raise UserError(f"{origin}: key {key!r} is not a label: write `raw label: class`")
        if isinstance(value, (dict, list)):
            raise UserError(
                f"{origin}: the value of {key!r} must be one class name (or null to drop), "
                f"not {type(value).__name__}"
            )
        cls = (None if value is None or str(value).strip() == "" or str(value).strip().casefold() == "drop"
               else str(value).strip())
        folded = str(key).strip().casefold()
        if folded in table and table[folded] != cls:
            raise UserError(
                f"{origin}: label {key!r} is mapped twice (keys match case-insensitively) "
                f"to {table[folded]!r} and {cls!r}: keep one"
            )
        table[folded] = cls
    if not table:
        raise UserError(f"{origin} is empty: map at least one raw label to a class")
    return table


def _read_map_file(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"label map {path} does not exist: check the --label-map path")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"label map {path} is not valid YAML/JSON ({first}): fix its syntax")
    if not isinstance(data, dict):
        raise UserError(
            f"label map {path} must be a mapping `raw label: class` (one per line), "
            f"not {type(data).__name__}"
        )
    return data


def _extend(fmt: str, user: dict[str, str | None]) -> dict[str, str | None]:
    """The format's default table with the user's lines on top.

    A user key may name a default label by its code or by a documented name (`anger` for EmoDB
    `W`); the default entry it overrides is removed, so the user's line is the only one that
    decides that label whichever name `LabelMap.lookup` meets first.
    """
    names = {code.casefold(): {code.casefold(), *(a.casefold() for a in aliases)}
             for code, aliases in DEFAULT_ALIASES.get(fmt, {}).items()}
    table = _normalise(DEFAULT_MAPS[fmt], f"default {fmt} map")
    for key in user:
        for code in [c for c in table if c == key or key in names.get(c, ())]:
            del table[code]
    table.update(user)
    return table


def resolve_label_map(label_map: str | Path | dict | None, fmt: str) -> LabelMap:
    """The label map to apply: the format's default, extended by the user's (a file or a dict)."""
    if label_map is None:
        return LabelMap(_normalise(DEFAULT_MAPS[fmt], f"default {fmt} map"),
                        f"the default {fmt} map")
    if isinstance(label_map, dict):
        return LabelMap(_extend(fmt, _normalise(label_map, "the given label map")),
                        f"the default {fmt} map extended by the given label map")
    path = Path(label_map).expanduser().absolute()
    table = _extend(fmt, _normalise(_read_map_file(path), f"label map {path}"))
    return LabelMap(table, f"the default {fmt} map extended by label map {path}", from_file=path)
