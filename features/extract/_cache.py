"""The extraction cache: features already computed, so a re-run only extracts what changed.

The cache lives next to the output (`<out stem>.cache.parquet`), keyed on (path, size,
mtime_ns) of each audio file, and is valid only for the same extraction settings (feature set,
openSMILE version, sample rate). It is saved even when a run fails or is interrupted, so
re-running after a fix, a crash or Ctrl-C resumes. It is only an accelerator: any problem
reading or writing it costs time, never an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from paragrid.features.extract._opensmile import (
    FEATURE_LEVEL, FEATURE_SET, egemaps_names, opensmile_version,
)
from paragrid.features.extract._store import atomic_write

CACHE_META_KEY = b"paragrid_cache"


def cache_path(out: Path) -> Path:
    """`<out stem>.cache.parquet`, next to the features parquet it speeds up."""
    return out.with_name(out.stem + ".cache.parquet")


def _cache_meta(sample_rate: int) -> dict:
    return {"feature_set": FEATURE_SET, "feature_level": FEATURE_LEVEL,
            "opensmile_version": opensmile_version(), "sample_rate": sample_rate,
            "feature_columns": egemaps_names()}


def load_cache(path: Path, sample_rate: int) -> dict[tuple, tuple[np.ndarray, int]]:
    """(path, size, mtime_ns) -> (features, file rate); empty when absent or made differently.

    A cache is only an accelerator: any problem reading it means re-extracting, never an error.
    """
    if not path.is_file():
        return {}
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[CACHE_META_KEY])
        df = table.to_pandas()
    except Exception as err:
        print(f"note: ignoring unreadable feature cache {path} ({type(err).__name__})")
        return {}
    if meta != _cache_meta(sample_rate):
        print(f"note: feature cache {path} was made with other settings "
              f"({meta.get('opensmile_version')}, {meta.get('sample_rate')} Hz); re-extracting")
        return {}
    values = df[egemaps_names()].to_numpy(dtype=np.float64)
    keys = zip(df["path"], df["size"].astype(int), df["mtime_ns"].astype(int))
    return {key: (values[i], int(rate)) for i, (key, rate) in enumerate(zip(keys, df["file_rate"]))}


def save_cache(path: Path, entries: dict[tuple, tuple[np.ndarray, int]], sample_rate: int) -> None:
    keys = list(entries)
    df = pd.DataFrame({
        "path": [k[0] for k in keys],
        "size": np.array([k[1] for k in keys], dtype=np.int64),
        "mtime_ns": np.array([k[2] for k in keys], dtype=np.int64),
        "file_rate": np.array([entries[k][1] for k in keys], dtype=np.int64),
    })
    features = np.stack([entries[k][0] for k in keys]) if keys else np.empty((0, len(egemaps_names())))
    df = pd.concat([df, pd.DataFrame(features, columns=egemaps_names())], axis=1)
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({CACHE_META_KEY: json.dumps(_cache_meta(sample_rate)).encode()})
    try:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    except OSError as err:  # losing the cache costs time on the next run, nothing else
        print(f"note: could not write feature cache {path} ({err.strerror or err})")
