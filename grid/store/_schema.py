"""The rows of the results and curves tables, defined once (docs/FORMATS.md sections 4 and 5).

Why typed rows: a results row has 57 columns, written by two producers (a grid's packs and
nested tuning's outer steps), merged by the driver and read by the analysis. As a dict, a
misspelt or forgotten key only showed up when a reader missed it; as a dataclass, it fails where
the row is built. The column names, their order and their pandas dtypes all come from the field
list below, so the writer, the merger (`typed`) and the reader (`CORE_RESULT_COLUMNS`) cannot
drift apart, and tests/test_results_schema.py checks the list against docs/FORMATS.md.

Typing rule of the tables: an `int` field is int64, a `float` field float64, a nullable one
(`X | None`) a pandas nullable dtype (Int64, float64 with NaN, string); a plain `str` is left to
pandas' own inference.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd


@dataclass(frozen=True)
class ResultRow:
    """One fold of one trial: its scores, its coordinates, and every setting behind them."""

    spec_name: str
    spec_hash: str
    trial_id: str
    method: str
    sources: str                  # source set joined with '+', 'none' for the DNN
    target: str
    task: str
    budget: int
    repeat: int
    fold: int
    val_fold: int
    seed: int
    test_uar: float
    val_uar: float
    best_epoch: int
    epochs_run: int
    source_uar_before: float | None
    source_uar_after: float | None
    n_train: int
    n_val: int
    n_test: int
    classes: str                  # JSON list, the order of the confusion matrix
    confusion: str                # JSON list of lists, rows = truth
    normalisation: str
    layers: int
    width: int
    activation: str
    dropout: float
    lr: float
    optimizer: str
    batch_size: int
    max_epochs: int
    patience: int | None
    wall_s: float
    node: str
    device: str
    weight_decay: float
    curve_stride: int
    k: int
    fold_scheme: str
    train_folds: str              # JSON list of the training folds
    source_models: str            # JSON list of source-model keys
    source_uars: str | None       # JSON: per source, before / after / probe_after
    experiments: str              # JSON list of the spec's experiments holding the trial
    hostname: str
    architecture_origin: str
    architecture_file: str | None
    init: str
    updates: str
    epoch_cap: int
    optimizer_steps: int
    source_probe_uar_after: float | None
    pack_id: str
    pack_size: int
    test_unit: str | None         # leave-one-out schemes only
    val_unit: str | None
    rng: str
    precision: str                # training.precision: fp32 | tf32 (float32 matmuls on CUDA)
    gpu_id: str | None            # the GPU id(s) Ray assigned the unit (None on the CPU)
    feature_set: str              # the spec's feature-set label ('' when the spec has no feature-set axis)
    speaker_confusion: str | None  # JSON {speaker: confusion}: the speaker-level bootstrap's input
    class_weights: str             # training.class_weights: none (the paper's) or balanced


@dataclass(frozen=True)
class NestedResultRow(ResultRow):
    """An outer step of nested tuning: a grid row plus the tuning trial it chose."""

    tune_trial: int
    inner_val_uar: float


@dataclass(frozen=True)
class CurveRow:
    """One recorded epoch of one fold of one trial (every `curve_stride` epochs and the last)."""

    trial_id: str
    method: str
    sources: str
    target: str
    budget: int
    repeat: int
    fold: int
    epoch: int
    train_loss: float
    val_uar: float
    test_uar: float


def columns(row_type: type) -> list[str]:
    """The table's columns, in order: the row type's fields."""
    return [f.name for f in dataclasses.fields(row_type)]


def dtypes(row_type: type) -> dict[str, str]:
    """The pandas dtype of every column the typing rule casts (see the module doc)."""
    out = {}
    for name, hint in typing.get_type_hints(row_type).items():
        args = set(typing.get_args(hint))
        if hint is int:
            out[name] = "int64"
        elif hint is float or args == {float, type(None)}:
            out[name] = "float64"
        elif args == {int, type(None)}:
            out[name] = "Int64"
        elif args == {str, type(None)}:
            out[name] = "string"
    return out


def frame(rows: Iterable[Any], row_type: type) -> pd.DataFrame:
    """The table of `rows` (instances of `row_type`, or dicts with its fields), typed."""
    records = [r if isinstance(r, dict) else vars(r) for r in rows]
    return pd.DataFrame(records, columns=columns(row_type)).astype(dtypes(row_type))


def typed(table: pd.DataFrame, row_type: type) -> pd.DataFrame:
    """`table` with the row type's dtypes on the columns it has (parts merged from files written
    at different times may disagree on an all-null column's dtype)."""
    return table.astype({c: t for c, t in dtypes(row_type).items() if c in table.columns})


RESULT_COLUMNS = columns(ResultRow)
CURVE_COLUMNS = columns(CurveRow)
# What every results table paragrid ever wrote holds, and all the statistics need; the other
# columns were added over time, and an older run's table without them still reads.
CORE_RESULT_COLUMNS = ["method", "sources", "target", "budget", "repeat", "fold", "seed", "test_uar"]
CORE_CURVE_COLUMNS = ["method", "sources", "target", "budget", "repeat", "fold", "epoch", "test_uar"]
