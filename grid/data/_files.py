"""Published splits: `fold_scheme: file` reads each corpus's folds from a file.

To compare with a benchmark's published numbers (EmoBox: fixed speaker-independent folds, one
train and one test JSONL list per fold and corpus), the test sets must be exactly the published
ones. Two forms are read (docs/FORMATS.md section 3):
  * a CSV with columns `utterance_id,fold` (fold ids any integers or names; sorted, they become
    folds 0..k-1): step i tests fold i and trains on the other folds;
  * a folder of JSONL files whose names hold `train` or `test` and a fold number
    (`iemocap_train_fold_1.jsonl`), one JSON object per line with the utterance id in `key`
    (EmoBox) or `utterance_id`: step i tests the utterances of test list i and trains on those
    of train list i (or, without train lists, on the other folds' test utterances).
Validation speakers are drawn per step from the step's own training speakers:
np.random.default_rng([seed, step, 1]) picks round(S / (k - 1)) of its S training speakers (at
least one, and at least one stays in training), so the published test set is untouched and
nothing of it reaches training, normalisation or early stopping. A repeat re-draws them.
Utterances the file does not place anywhere are in no step (the coverage is reported), and a
speaker in both the training and the test rows of a step is reported (`FoldWarning`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paragrid.errors import UserError
from paragrid.grid.data._folds import FoldSteps
from paragrid.grid.spec import fold_lists

_VAL_STREAM = 1


@dataclass(frozen=True)
class FoldFile:
    """A corpus's published split, on its utterances in corpus order."""

    test_of: np.ndarray          # (N,) int: the fold whose test set holds the utterance, -1 none
    train: np.ndarray | None     # (k, N) bool: each fold's training list, None = the other folds
    names: tuple[str, ...]       # fold names in step order
    unknown: int                 # ids in the file that the corpus does not have

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def covered(self) -> int:
        placed = self.test_of >= 0
        if self.train is not None:
            placed = placed | self.train.any(axis=0)
        return int(placed.sum())


def _ids_of_jsonl(path: Path) -> list[str]:
    ids = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"fold file {path}: line {n} is not JSON; one JSON object per line") from None
        key = item.get("key", item.get("utterance_id")) if isinstance(item, dict) else None
        if key is None:
            raise UserError(f"fold file {path}: line {n} has no 'key' (or 'utterance_id'): name the utterance")
        ids.append(Path(str(key)).stem if "/" in str(key) else str(key))
    return ids


def read_fold_file(path: str | Path, utterance_ids: np.ndarray) -> FoldFile:
    """The split in `path` (a CSV or a folder of JSONL lists) placed on `utterance_ids`."""
    path = Path(path)
    index = {str(u): i for i, u in enumerate(utterance_ids)}
    n = len(index)
    if path.is_dir():
        lists = {fold: {kind: _ids_of_jsonl(f) for kind, f in kinds.items()}
                 for fold, kinds in fold_lists(path).items()}
        if not lists or any("test" not in v for v in lists.values()):
            raise UserError(f"fold folder {path}: needs one *test*fold_N*.jsonl per fold (and optionally "
                            f"*train*fold_N*.jsonl); found {sorted(p.name for p in path.glob('*.jsonl'))[:6]}")
        names = tuple(sorted(lists, key=int))
        test_of, unknown = np.full(n, -1), 0
        has_train = all("train" in lists[k] for k in names)
        train = np.zeros((len(names), n), dtype=bool) if has_train else None
        for step, name in enumerate(names):
            for u in lists[name]["test"]:
                if u not in index:
                    unknown += 1
                elif test_of[index[u]] >= 0:
                    raise UserError(f"fold folder {path}: utterance {u!r} is in the test lists of folds "
                                    f"{names[test_of[index[u]]]} and {name}; a published split tests it once")
                else:
                    test_of[index[u]] = step
            if train is not None:
                rows = [index[u] for u in lists[name]["train"] if u in index]
                unknown += len(lists[name]["train"]) - len(rows)
                train[step, rows] = True
        return FoldFile(test_of, train, names, unknown)
    if not path.is_file():
        raise UserError(f"fold file {path} does not exist: give a CSV (utterance_id,fold) or a folder of "
                        f"EmoBox-style JSONL lists under fold_files")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise UserError(f"fold file {path} is not a readable CSV ({type(err).__name__}): fix it") from None
    if not {"utterance_id", "fold"} <= set(df.columns):
        raise UserError(f"fold file {path} needs the columns utterance_id,fold; it has {', '.join(df.columns)}")
    names = tuple(sorted(df["fold"].unique(), key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v)))
    step_of = {name: i for i, name in enumerate(names)}
    test_of = np.full(n, -1)
    rows = np.array([index.get(u, -1) for u in df["utterance_id"]])
    known = rows >= 0
    test_of[rows[known]] = [step_of[v] for v in df["fold"][known]]
    return FoldFile(test_of, None, names, int((~known).sum()))


def file_steps(split: FoldFile, speakers: np.ndarray, seed: int) -> FoldSteps:
    """Step i tests fold i, trains on its training list (or the other folds) less the validation
    speakers, drawn as the module says."""
    k, n = split.k, len(split.test_of)
    test = split.test_of[None, :] == np.arange(k)[:, None]
    pool = split.train.copy() if split.train is not None else (split.test_of >= 0)[None, :] & ~test
    pool &= ~test
    speakers = np.asarray(speakers).astype(str)
    val = np.zeros((k, n), dtype=bool)
    for i in range(k):
        names = np.unique(speakers[pool[i]])
        if names.size < 2:
            raise UserError(f"fold {split.names[i]} trains on {names.size} speaker(s): a validation speaker "
                            f"must be drawn from at least two training speakers")
        take = min(names.size - 1, max(1, round(names.size / max(k - 1, 1))))
        chosen = np.random.default_rng([seed, i, _VAL_STREAM]).choice(names, size=take, replace=False)
        val[i] = pool[i] & np.isin(speakers, chosen)
    train = pool & ~val
    return FoldSteps(train=train, val=val, test=test, val_fold=np.full(k, -1, dtype=np.int64),
                     train_folds=[tuple(j for j in range(k) if j != i) for i in range(k)])


def overlapping_speakers(steps: FoldSteps, speakers: np.ndarray) -> list[tuple[int, list[str]]]:
    """(step, speakers in both its training and its test rows) for every step that has any."""
    speakers = np.asarray(speakers).astype(str)
    out = []
    for i in range(steps.test.shape[0]):
        both = np.intersect1d(speakers[steps.train[i]], speakers[steps.test[i]])
        if both.size:
            out.append((i, both.tolist()))
    return out
