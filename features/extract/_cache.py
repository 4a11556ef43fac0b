"""The extraction cache: features already computed, so a re-run only extracts what changed.

Entries are keyed by the *content* of each audio file (its SHA-256) within one extraction
setting (feature set, its version, sample rate; for a self-supervised model also the model's
weights, the layer and the pooling). The cache is a folder shared by every output that uses it
(default `paragrid-cache/` next to `--out`, or `--cache DIR`): a second extraction of the same
corpus to another `--out`, e.g. after a label-map change, or of a copy of its audio elsewhere,
extracts nothing again. One parquet per setting (`<set>-<digest>.parquet`) holds its entries;
`content-hashes.parquet` remembers the hash of each (path, size, mtime_ns) so that unchanged
files are not read twice. The cache is saved even when a run fails or is interrupted, so
re-running after a fix, a crash or Ctrl-C resumes. It is only an accelerator: any problem
reading or writing it costs time, never an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from paragrid.features.extract._store import atomic_write

CACHE_META_KEY = b"paragrid_cache"
HASHES_FILE = "content-hashes.parquet"


def default_cache_dir(out: Path) -> Path:
    """`paragrid-cache/` next to the features parquet: shared by every output in that folder."""
    return out.parent / "paragrid-cache"


def _note(text: str) -> None:
    print(f"note: {text}")


def content_hashes(keys: dict[str, tuple], folder: Path) -> dict[str, str]:
    """path -> SHA-256 of its bytes, for `keys` (path -> (path, size, mtime_ns)); files whose
    (path, size, mtime_ns) the memo already holds are not read again."""
    memo_file = folder / HASHES_FILE
    memo: dict[tuple, str] = {}
    if memo_file.is_file():
        try:
            df = pd.read_parquet(memo_file)
            memo = dict(zip(zip(df["path"], df["size"].astype(int), df["mtime_ns"].astype(int)), df["sha256"]))
        except Exception as err:
            _note(f"ignoring unreadable content-hash memo {memo_file} ({type(err).__name__})")
    out, fresh = {}, 0
    for path, key in keys.items():
        if key not in memo:
            try:
                with open(path, "rb") as f:
                    memo[key] = hashlib.file_digest(f, "sha256").hexdigest()
            except OSError:  # vanished since it was stat'ed: the extractor reports it
                continue
            fresh += 1
        out[path] = memo[key]
    if fresh:
        df = pd.DataFrame({"path": [k[0] for k in memo], "size": np.array([k[1] for k in memo], dtype=np.int64),
                           "mtime_ns": np.array([k[2] for k in memo], dtype=np.int64), "sha256": list(memo.values())})
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(memo_file, lambda tmp: df.to_parquet(tmp, index=False))
        except OSError as err:
            _note(f"could not write content-hash memo {memo_file} ({err.strerror or err})")
    return out


@dataclass(frozen=True)
class FeatureCache:
    """The cached features of one extraction setting: content hash -> (features, file rate)."""

    folder: Path
    setting: dict       # everything that decides the numbers (JSON-able)
    columns: tuple[str, ...]

    @property
    def path(self) -> Path:
        blob = json.dumps({**self.setting, "columns": list(self.columns)}, sort_keys=True).encode()
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(self.setting.get("feature_set", "features")))[-40:]
        return self.folder / f"{slug.strip('_') or 'features'}-{hashlib.sha256(blob).hexdigest()[:12]}.parquet"

    def load(self) -> dict[str, tuple[np.ndarray, int]]:
        """Every entry; empty when absent or unreadable (never an error)."""
        path = self.path
        if not path.is_file():
            return {}
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[CACHE_META_KEY])
            df = table.to_pandas()
            if meta != {**self.setting, "columns": list(self.columns)}:
                raise ValueError("other settings")
            values = df[list(self.columns)].to_numpy(dtype=np.float64)
        except Exception as err:
            _note(f"ignoring unreadable feature cache {path} ({type(err).__name__})")
            return {}
        return {h: (values[i], int(r)) for i, (h, r) in enumerate(zip(df["sha256"], df["file_rate"]))}

    def save(self, entries: dict[str, tuple[np.ndarray, int]]) -> None:
        """Write every entry (the caller passes what it loaded plus what it added)."""
        hashes = list(entries)
        n = len(self.columns)
        values = np.stack([entries[h][0] for h in hashes]) if hashes else np.empty((0, n))
        arrays = [pa.array(hashes, pa.string()),
                  pa.array(np.array([entries[h][1] for h in hashes], dtype=np.int64))]
        arrays += [pa.array(values[:, j]) for j in range(n)]
        table = pa.Table.from_arrays(arrays, names=["sha256", "file_rate", *self.columns])
        meta = json.dumps({**self.setting, "columns": list(self.columns)}).encode()
        table = table.replace_schema_metadata({CACHE_META_KEY: meta})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, lambda tmp: pq.write_table(table, tmp))
        except OSError as err:  # losing the cache costs time on the next run, nothing else
            _note(f"could not write feature cache {self.path} ({err.strerror or err})")
