"""`--classes`: keep a chosen set of emotion classes without writing a label map.

`paragrid features ... --classes angry,happy,neutral,sad,fearful` keeps the named classes and
drops everything else. A class is matched by its name and its common synonyms (fear / fearful,
anger / angry, ...) against each raw label, the raw label's documented meaning in its format
(DEFAULT_ALIASES: EmoDB `A` = fear, CREMA-D `FEA` = fear, IEMOCAP `fea` = fear) and the class
the format's default map gives it (so IEMOCAP `exc` still merges into happy when happy is kept).
The result is an ordinary LabelMap, so the loader reports it like any other: which raw label
became which class, and what it dropped. This path is separate from `--label-map` on purpose:
it builds a map, it does not read or extend one.
"""
from __future__ import annotations

from paragrid.errors import UserError
from paragrid.features.corpora._labels import DEFAULT_ALIASES, DEFAULT_MAPS, LabelMap

# Names of one emotion, casefolded; the first is the paper's spelling where it has one.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("angry", "anger", "ang"), ("happy", "happiness", "joy", "hap"), ("sad", "sadness"),
    ("neutral", "neu"), ("fearful", "fear", "afraid", "fea"), ("disgust", "disgusted", "dis"),
    ("surprised", "surprise", "sur"), ("calm",), ("boredom", "bored"), ("frustrated", "frustration", "fru"),
    ("excited", "excitement", "exc"),
)


def _names(cls: str) -> set[str]:
    key = cls.casefold()
    for group in SYNONYMS:
        if key in group:
            return set(group)
    return {key}


def parse_classes(text: str) -> tuple[str, ...]:
    """'angry,happy, sad' -> ('angry', 'happy', 'sad'); at least two distinct classes."""
    classes = tuple(dict.fromkeys(c.strip() for c in str(text).split(",") if c.strip()))
    if len(classes) < 2:
        raise UserError(f"--classes {text!r}: name at least two classes, comma-separated "
                        "(e.g. --classes angry,happy,neutral,sad,fearful)")
    return classes


def classes_label_map(classes: tuple[str, ...] | str, fmt: str) -> LabelMap:
    """The label map keeping `classes` (by name, synonym, documented meaning, or default class)."""
    if isinstance(classes, str):
        classes = parse_classes(classes)
    table: dict[str, str | None] = {}
    for cls in classes:
        names = _names(cls)
        for name in names:
            table.setdefault(name, cls)
        for raw, target in DEFAULT_MAPS[fmt].items():   # e.g. IEMOCAP exc -> happy
            if target.casefold() in names:
                table.setdefault(raw.casefold(), cls)
        for raw, aliases in DEFAULT_ALIASES[fmt].items():  # e.g. EmoDB A = fear
            if {a.casefold() for a in (raw, *aliases)} & names:
                table.setdefault(raw.casefold(), cls)
    return LabelMap(table, f"--classes {','.join(classes)}")
