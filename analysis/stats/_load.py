"""Read a run's results.parquet / curves.parquet (docs/FORMATS.md sections 4 and 5).

The grid may still be writing while a report is made, so everything here tolerates a partial
table; what it does not tolerate is a table whose rows contradict each other (the same fold of
the same cell twice with different numbers), because every statistic downstream assumes one row
per fold.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from paragrid.analysis.stats._cells import CELL, ORIGIN_UNKNOWN
from paragrid.errors import UserError
from paragrid.grid.store import CORE_CURVE_COLUMNS, CORE_RESULT_COLUMNS, ResultRow, dtypes

# The columns and types the writer declares (paragrid.grid.store: one schema for writer, merger, reader).
REQUIRED = CORE_RESULT_COLUMNS
INT_COLUMNS = [c for c in REQUIRED if dtypes(ResultRow).get(c) == "int64"]
CURVE_REQUIRED = CORE_CURVE_COLUMNS


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises many types for a truncated or foreign file
        raise UserError(f"{path}: cannot read it as parquet ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'no detail'}); "
                        "re-run `paragrid run SPEC` to rewrite it") from None


def _check_columns(df: pd.DataFrame, required: list[str], path: Path) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} "
                        "(see docs/FORMATS.md); was it written by `paragrid run`?")


def load_results(path: Path) -> pd.DataFrame:
    """The results table with one row per (cell, repeat, fold); UserError on anything unusable."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; run `paragrid run SPEC` first "
                        "(the report reads RUNDIR/results.parquet)")
    df = _read_parquet(path)
    _check_columns(df, REQUIRED, path)
    if df.empty:
        raise UserError(f"{path} holds no rows yet; wait for the first trial of "
                        "`paragrid run SPEC` to finish")
    if "task" not in df.columns:
        df = df.assign(task="emotion")
    df = with_origin(df)
    df = with_feature_set(df)
    for col in ["method", "sources", "target", "task"]:
        df[col] = df[col].astype(str)
    for col in INT_COLUMNS:
        if df[col].isna().any():
            raise UserError(f"{path}: column {col} has empty values; the file is damaged, "
                            "re-run `paragrid run SPEC`")
        df[col] = df[col].astype("int64")
    if df["test_uar"].isna().any():
        raise UserError(f"{path}: {int(df['test_uar'].isna().sum())} row(s) without test_uar; "
                        "the file is damaged, re-run `paragrid run SPEC`")
    return _deduplicate(df, path)


def with_origin(df: pd.DataFrame) -> pd.DataFrame:
    """`architecture_origin` as a string on every row; older results (no column, or nulls) say
    "not recorded" rather than guess: a tuned architecture used then left no trace."""
    if "architecture_origin" not in df.columns:
        return df.assign(architecture_origin=ORIGIN_UNKNOWN)
    if df["architecture_origin"].notna().all() and df["architecture_origin"].map(type).eq(str).all():
        return df
    origin = df["architecture_origin"].astype("object")
    return df.assign(architecture_origin=origin.where(origin.notna(), ORIGIN_UNKNOWN).astype(str))


def with_feature_set(df: pd.DataFrame) -> pd.DataFrame:
    """`feature_set` as a string on every row; results written before the column existed say ''."""
    if "feature_set" not in df.columns:
        return df.assign(feature_set="")
    return df.assign(feature_set=df["feature_set"].astype("object").where(df["feature_set"].notna(), "")
                     .astype(str))


def _deduplicate(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Drop exact repeats of a row (a resumed grid may write a finished trial twice), loudly;
    refuse two *different* rows for one fold of one cell (mixed seeds or mixed runs)."""
    key = CELL + ["repeat", "fold"]
    dup = df.duplicated(key, keep=False)
    if not dup.any():
        return df.reset_index(drop=True)
    value_cols = [c for c in ["seed", "test_uar", "val_fold", "n_test", "n_train"] if c in df.columns]
    exact = df.duplicated(key + value_cols, keep="first")
    conflicting = df[dup].drop_duplicates(key + value_cols).duplicated(key, keep=False)
    if conflicting.any():
        row = df[dup].drop_duplicates(key + value_cols)[conflicting].iloc[0]
        seeds = sorted(df[dup & (df[key] == row[key]).all(axis=1)]["seed"].unique().tolist())
        raise UserError(
            f"{path}: {row['method']}/{row['sources']} on {row['target']} budget {row['budget']} "
            f"has two different rows for repeat {row['repeat']} fold {row['fold']} "
            f"(seeds {seeds}); results of different runs are mixed in one file. "
            "Keep one run per results.parquet (one storage folder per spec)")
    print(f"note: {path.name}: dropped {int(exact.sum())} exact duplicate row(s) "
          "(a trial written twice)")
    return df[~exact].reset_index(drop=True)


def load_curves(path: Path, results: pd.DataFrame) -> pd.DataFrame | None:
    """The learning-curve table, or None when the run recorded none (curves are optional).

    Curves carry no `task` or `architecture_origin` column (FORMATS.md section 5); both are
    taken from the results row of the same trial so that curves and tables group identically.
    """
    path = Path(path)
    if not path.exists():
        return None
    df = _read_parquet(path)
    _check_columns(df, CURVE_REQUIRED, path)
    return complete_curves(df, results, path)


def complete_curves(df: pd.DataFrame, results: pd.DataFrame, path: Path = Path("curves")) -> pd.DataFrame:
    """Curves with the cell columns they do not carry (`task`, `architecture_origin`), taken
    from the results rows of the same trials."""
    results = with_feature_set(with_origin(results))
    for col in ("task", "architecture_origin", "feature_set"):
        if col not in df.columns:
            df = _from_results(df, results, col, Path(path))
    df = df.copy()
    for col in ["method", "sources", "target", "task", "architecture_origin", "feature_set"]:
        df[col] = df[col].astype(str)
    return df


def _from_results(df: pd.DataFrame, results: pd.DataFrame, col: str, path: Path) -> pd.DataFrame:
    """Column `col` of each curve row from the results row of its trial (by trial_id)."""
    if "trial_id" not in df.columns or "trial_id" not in results.columns:
        return df.assign(**{col: results[col].iloc[0]})
    of = results.drop_duplicates("trial_id").set_index("trial_id")[col]
    df = df.assign(**{col: df["trial_id"].map(of)})
    if results[col].nunique() == 1:
        df[col] = df[col].fillna(results[col].iloc[0])
    elif df[col].isna().any():
        print(f"note: {path.name}: {int(df[col].isna().sum())} curve row(s) of "
              "trials without results yet are not plotted")
        df = df[df[col].notna()]
    return df
