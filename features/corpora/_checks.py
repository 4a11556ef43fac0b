"""The corpus checks that run before any audio is read: label map applied, label set checked.

The decisions that change a study's numbers (which labels become which class, which are
dropped, whether enough classes are left) live here, once for every format, and are always
reported: a typo in a label map shows up as a large drop count or a UserError naming the
labels found, never as a silently smaller corpus. Fewer than two classes left is a UserError
with the --label-map fix; a class of the label set with no utterance is a `CorpusWarning`.
"""

from __future__ import annotations

import difflib
import warnings
from collections import Counter
from pathlib import Path

from paragrid.errors import UserError
from paragrid.features.corpora._labels import CorpusWarning, LabelMap, describe
from paragrid.features.corpora._manifest import Candidate, Parsed


def count_labels(counter: Counter, aliases: dict[str, tuple[str, ...]] | None = None) -> str:
    """`boredom (L)=81, disgust (E)=46`: most frequent first, coded labels by their meaning."""
    aliases = aliases or {}
    named = [(describe(k, aliases.get(k, ())), n) for k, n in counter.items()]
    return ", ".join(f"{name}={n}" for name, n in sorted(named, key=lambda kv: (-kv[1], kv[0])))


def applied_labels(kept: list[tuple[Candidate, str]], parsed: Parsed) -> str:
    """Which raw label became which class: `anger (W) -> angry, neutral (N) -> neutral`."""
    pairs = sorted({(c.raw_label, cls) for c, cls in kept}, key=lambda p: (p[1], p[0].casefold()))
    return ", ".join(f"{describe(raw, parsed.aliases.get(raw, ()))} -> {cls}" for raw, cls in pairs)


def check_label_set(parsed: Parsed, labels: LabelMap, kept: list[tuple[Candidate, str]],
                     source: Path) -> None:
    """Fewer than two classes of the label set left: UserError; a class with none: CorpusWarning.

    Checked before any audio is read: a one-class parquet would otherwise be extracted, and a
    grid on it would train every source model before its first trial failed.
    """
    present = Counter(cls for _, cls in kept)
    label_set = labels.classes
    wanted = ", ".join(label_set)
    seen = count_labels(Counter(c.raw_label for c in parsed.candidates), parsed.aliases)
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


def check_ids(parsed: Parsed) -> None:
    seen: dict[str, Candidate] = {}
    for c in parsed.candidates:
        if c.utterance_id in seen:
            first = seen[c.utterance_id]
            raise UserError(
                f"{c.listed_in or c.path.parent}: utterance id {c.utterance_id} appears twice "
                f"(also {first.listed_in or first.path}): remove the duplicate"
            )
        seen[c.utterance_id] = c


def apply_map(
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
        seen = count_labels(Counter(c.raw_label for c in parsed.candidates), parsed.aliases)
        fix = (f"map some of them in {labels.from_file}" if labels.from_file
               else "pass a --label-map that maps some of them")
        raise UserError(f"{parsed.corpus}: no utterance of {source} is left after "
                        f"{labels.origin} (labels seen: {seen}): {fix}")
    return kept, dropped


def check_genders(kept: list[tuple[Candidate, str]], source: Path) -> None:
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
