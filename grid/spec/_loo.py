"""k and repeats of a leave-one-out spec, read from the corpora's speaker (session) column,
and k of a published split (`fold_scheme: file`), read from its fold files.

Under leave-one-speaker-out and leave-one-session-out, k is not the user's choice but the number
of units in the corpus, and repeats is 1; spec validation reads both here from the parquets'
schema and one column, before any corpus is loaded. Under `fold_scheme: file`, k is the number
of folds the files hold; `fold_lists` is the one reading of which files of a JSONL folder are
fold lists, shared with the split's reader (grid/data/_files.py).
"""
from __future__ import annotations

import re
from pathlib import Path

from paragrid.errors import UserError
from paragrid.grid.spec._model import LEAVE_ONE_OUT


def leave_one_out_k(scheme: str, k_given: object, corpora: dict[str, str], where: str) -> int:
    """k of a leave-one-out spec: the number of speakers (sessions), the same in every corpus.

    `k_given` is the spec's own `k` (None when absent): it must then equal that number. One k
    for all corpora keeps every step count, budget (1..k-2 training units) and cross-corpus
    pairing (source step f feeds target step f) what it is for the k-fold schemes.
    """
    column = LEAVE_ONE_OUT[scheme]
    counts = {name: _count_units(name, path, column, scheme, where) for name, path in corpora.items()}
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1:
        listed = ", ".join(f"{n} {column}s in '{name}'" for name, n in counts.items())
        raise UserError(f"{where}: fold_scheme {scheme} makes k the number of {column}s, which differs "
                        f"between the corpora ({listed}): write one spec per corpus, or use a k-fold "
                        f"fold_scheme (speaker-independent) with one k")
    k = distinct[0]
    if k < 3:
        name = next(iter(counts))
        raise UserError(f"{where}: fold_scheme {scheme}: corpus '{name}' has {k} {column}(s); a step "
                        f"needs one to test, one to validate and one to train: use a k-fold fold_scheme")
    if k_given is not None and k_given != k:
        raise UserError(f"{where}: k is {k_given!r} but fold_scheme {scheme} makes k the number of "
                        f"{column}s, {k} here: remove k from the spec (or set k: {k})")
    return k



def leave_one_out_repeats(scheme: str, repeats_given: object, where: str) -> int:
    """repeats of a leave-one-out spec: 1 (the default there), and only 1.

    Every repeat would test the same speakers (sessions) again; only the validation unit, the
    budget subset and the initialisation change. The paired test over speakers that such a
    comparison uses (docs/PROTOCOL.md) needs one score per speaker, and pooling repeats would
    count each speaker r times. Another draw is another `seed`.
    """
    if repeats_given is None or repeats_given == 1:
        return 1
    unit = LEAVE_ONE_OUT[scheme]
    raise UserError(f"{where}: repeats is {repeats_given!r} but fold_scheme {scheme} tests every "
                    f"{unit} once per repeat (repeats would only re-draw the validation {unit} and "
                    f"the initialisation, and the paired test over {unit}s needs one score per "
                    f"{unit}): remove repeats (it is 1 here) or set repeats: 1; for another draw "
                    f"change seed")



def _count_units(name: str, path: str, column: str, scheme: str, where: str) -> int:
    import pyarrow as pa  # heavy: pyarrow (only leave-one-out specs read a parquet here)
    import pyarrow.parquet as pq  # heavy: pyarrow

    try:
        names = pq.read_schema(path).names
        if column not in names:
            raise UserError(
                f"{where}: fold_scheme {scheme} needs a '{column}' column, and corpus '{name}' ({path}) "
                f"has none: the iemocap and msp-improv loaders record it; for a manifest corpus add a "
                f"'{column}' column to manifest.csv and re-run paragrid features (docs/FORMATS.md)")
        values = pq.read_table(path, columns=[column]).column(column).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise UserError(f"{where}: corpus '{name}': {path} is not a readable parquet ({err}); "
                        f"re-create it with paragrid features") from None
    if any(v is None or str(v).strip() == "" for v in values):
        raise UserError(f"{where}: corpus '{name}' ({path}) has utterances without a '{column}'; "
                        f"fill the column for every utterance (fold_scheme {scheme} groups by it)")
    return len({str(v) for v in values})



_FOLD_NUMBER = re.compile(r"fold[_-]?(\d+)", re.I)


def fold_lists(folder: Path) -> dict[str, dict[str, Path]]:
    """The fold lists of an EmoBox-style folder: fold number -> {'test' | 'train': its JSONL file}.
    A file is a list when its name holds a fold number and `test` or `train`; others are ignored."""
    lists: dict[str, dict[str, Path]] = {}
    for f in sorted(Path(folder).glob("*.jsonl")):
        m = _FOLD_NUMBER.search(f.stem)
        kind = "test" if "test" in f.stem.lower() else "train" if "train" in f.stem.lower() else None
        if m and kind:
            lists.setdefault(m.group(1), {})[kind] = f
    return lists


def fold_files_k(fold_files: dict[str, str], k_given: object, where: str) -> int:
    """k under fold_scheme file: the number of folds of the published splits, one for all corpora."""
    import pandas as pd  # heavy: pandas (only file-split specs read their splits here)

    counts = {}
    for name, path in fold_files.items():
        p = Path(path)
        if p.is_dir():
            counts[name] = sum("test" in kinds for kinds in fold_lists(p).values())
        else:
            try:
                counts[name] = int(pd.read_csv(p, dtype=str, usecols=["fold"])["fold"].nunique())
            except (ValueError, KeyError):
                raise UserError(f"{where}: fold_files.{name}: {p} needs the columns utterance_id,fold") from None
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1 or distinct[0] < 3:
        raise UserError(f"{where}: the published splits must have one number of folds, at least 3: "
                        f"{', '.join(f'{n} in {c}' for c, n in counts.items())}")
    if k_given is not None and k_given != distinct[0]:
        raise UserError(f"{where}: k is {k_given!r} but the fold files hold {distinct[0]} folds: remove k")
    return distinct[0]
