"""Reading and writing the features parquet (docs/FORMATS.md section 2).

Every later stage trusts this file blindly, so the checks live here, once: a parquet that
`read_features` returns has every manifest column, every feature column named in its metadata,
float64 features and no NaN. Writes go through a temporary file in the same folder and an
atomic rename, so a parquet that exists is always complete, even after a crash or Ctrl-C.
The grid driver imports this module: it must stay free of openSMILE at import time
(`_opensmile` imports it only when the feature names are first needed).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from paragrid.errors import UserError
from paragrid.features.corpora import MANIFEST_COLUMNS
from paragrid.features.extract._opensmile import egemaps_names

FORMAT_VERSION = 1
META_KEY = b"paragrid"
META_KEYS = [
    "format_version", "feature_set", "feature_level", "opensmile_version", "sample_rate",
    "n_resampled", "corpus", "source", "feature_columns", "created_utc",
]
_FIX = "re-create it with `paragrid features SOURCE --format ... --out {path}`"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run `write(tmp)` on a temporary file next to `path`, then rename it over `path`.

    The temporary file lives in the same folder so that os.replace is a rename within one
    filesystem (atomic on POSIX and Windows); on any failure it is removed and `path` is
    left exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its 0600 mode would survive the rename; O_EXCL + 0666 lets the
    # umask decide, as for any other file the user writes.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # durable before it becomes visible under the real name
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(df: pd.DataFrame, path: Path, meta: dict) -> None:
    """Write `df` with `meta` as JSON under the schema metadata key `paragrid`, atomically."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[META_KEY] = json.dumps(meta).encode()
    table = table.replace_schema_metadata(metadata)
    try:
        atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp))
    except OSError as err:
        raise UserError(f"cannot write {path} ({err.strerror or err}); check the folder exists "
                        "and is writable") from None


def read_features(path: Path | str) -> tuple[pd.DataFrame, dict]:
    """Load and validate a features parquet; any problem is a one-line UserError naming it."""
    path = Path(path)
    fix = _FIX.format(path=path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; {fix}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise UserError(f"{path} is not a readable parquet file ({_one_line(err)}); {fix}") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise UserError(f"{path} is not a paragrid features parquet (no 'paragrid' metadata); {fix}")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise UserError(f"{path} has unreadable 'paragrid' metadata (not JSON); {fix}") from None
    if not isinstance(meta, dict) or (missing := [k for k in META_KEYS if k not in meta]):
        raise UserError(f"{path} metadata lacks {missing if isinstance(meta, dict) else META_KEYS}; {fix}")
    if not isinstance(meta["format_version"], int) or meta["format_version"] > FORMAT_VERSION:
        raise UserError(f"{path} has format_version {meta['format_version']}, newer than this "
                        f"paragrid reads ({FORMAT_VERSION}); upgrade paragrid or {fix}")

    df = table.to_pandas()
    features = list(meta["feature_columns"])
    for what, wanted in (("manifest", MANIFEST_COLUMNS), ("feature", features)):
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise UserError(f"{path} lacks {len(missing)} {what} column(s) ({_first(missing)}); {fix}")
    try:
        df[features] = df[features].astype("float64")
    except (TypeError, ValueError):
        raise UserError(f"{path} has non-numeric feature columns; {fix}") from None
    nan = df[features].isna().to_numpy()
    if nan.any():
        raise UserError(
            f"{path} has {int(nan.sum())} NaN feature value(s) in {int(nan.any(axis=1).sum())} "
            f"row(s) (e.g. {_first([str(u) for u in df.loc[nan.any(axis=1), 'utterance_id']])}); "
            f"{fix} (bad audio is then reported, or skipped with --skip-bad)")
    if not np.isfinite(df[features].to_numpy()).all():
        raise UserError(f"{path} has infinite feature values; {fix}")
    df.attrs["paragrid"] = meta
    return df, meta


def feature_columns(meta_or_df: dict | pd.DataFrame) -> list[str]:
    """The feature column names, in stored order, from metadata or a frame `read_features` returned.

    A frame that lost its attrs (some pandas operations drop them) falls back to the columns
    that carry openSMILE eGeMAPS names, so callers never guess by dtype.
    """
    if isinstance(meta_or_df, dict):
        return list(meta_or_df["feature_columns"])
    if isinstance(meta_or_df, pd.DataFrame):
        meta = meta_or_df.attrs.get("paragrid")
        if meta:
            return list(meta["feature_columns"])
        cols = [c for c in egemaps_names() if c in meta_or_df.columns]
        if not cols:
            raise ValueError("frame has no eGeMAPS feature columns and no 'paragrid' attrs")
        return cols
    raise TypeError("feature_columns expects the metadata dict or a DataFrame, "
                    f"not {type(meta_or_df).__name__}")


def _first(items: list[str], n: int = 3) -> str:
    """A short, one-line list for error messages."""
    more = f", ... {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
