"""Extracting a corpus: a manifest in, one features parquet (docs/FORMATS.md section 2) out.

`extract_features` checks the manifest, resolves `--feature-set` into an extractor (`_sets`:
openSMILE in-process or in a worker pool, `_pool`; or a self-supervised model, `_hf`), fails in a
second on missing or empty files (unless `skip_bad`), takes what the cache (`_cache`, keyed by
each file's content) already holds, extracts the rest, and writes the parquet atomically
(`_store`). Every bad file becomes a one-line UserError naming the file and the fix, or, with
`skip_bad`, a row of `<out stem>.skipped.csv` (together with the loader's own skips).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from paragrid.errors import UserError
from paragrid.features.corpora import MANIFEST_COLUMNS
from paragrid.features.extract._cache import FeatureCache, content_hashes, default_cache_dir
from paragrid.features.extract._opensmile import FEATURE_LEVEL, FEATURE_SET, opensmile_version
from paragrid.features.extract._sets import make_extractor
from paragrid.features.extract._store import FORMAT_VERSION, atomic_write, write_parquet_atomic

# What the user can do about each kind of bad file; the message always ends "or pass --skip-bad".
FIXES = {
    "missing": "restore it or remove it from the manifest",
    "unreadable": "re-copy it from the release",
    "empty": "re-copy it from the release",
    "truncated": "re-copy it from the release",
    "nonfinite": "re-copy it from the release or re-export it",
    "too_short": "remove it from the manifest",
    "silent": "check the recording or remove it from the manifest",
    "nan_features": "check the recording or remove it from the manifest",
    "failed": "check the recording or remove it from the manifest",
}


def skipped_path(out: Path) -> Path:
    """`<out stem>.skipped.csv`: the files a --skip-bad run left out, and why."""
    return out.with_name(out.stem + ".skipped.csv")


def _check_manifest(manifest: pd.DataFrame) -> str:
    """The corpus name, after the checks that make the rest of extraction safe."""
    if not isinstance(manifest, pd.DataFrame):
        raise TypeError(f"manifest must be a DataFrame, not {type(manifest).__name__}")
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise UserError(f"manifest lacks the column(s) {', '.join(missing)} (docs/FORMATS.md section 1)")
    if len(manifest) == 0:
        raise UserError("manifest has no utterances; check the corpus folder and --format")
    dup = manifest["utterance_id"][manifest["utterance_id"].duplicated()]
    if len(dup):
        raise UserError(f"manifest has duplicate utterance_id {dup.iloc[0]!r}; ids must be unique")
    bad_path = [u for u, p in zip(manifest["utterance_id"], manifest["path"])
                if not isinstance(p, (str, os.PathLike)) or not str(p)]
    if bad_path:
        raise UserError(f"manifest row {bad_path[0]!r} has no audio path; fill in its path column")
    corpora = sorted({str(c) for c in manifest["corpus"]})
    if len(corpora) != 1:
        raise UserError(f"manifest mixes corpora ({', '.join(corpora[:5])}); "
                        "extract one corpus per parquet")
    return corpora[0]


def _resolve_jobs(jobs: int | None) -> int:
    if jobs is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if int(jobs) < 1:
        raise UserError(f"--jobs {jobs} must be at least 1")
    return int(jobs)


def _stat(paths: list[str]) -> tuple[dict[str, tuple], dict[str, tuple[str, str]]]:
    """Cache keys (path, size, mtime_ns) of present files, and the missing or empty ones."""
    keys: dict[str, tuple] = {}
    bad: dict[str, tuple[str, str]] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            bad[path] = ("missing", "does not exist")
            continue
        except OSError as err:
            bad[path] = ("unreadable", f"cannot be opened ({err.strerror or err})")
            continue
        if not os.path.isfile(path):
            bad[path] = ("unreadable", "is not a regular file")
        elif st.st_size == 0:
            bad[path] = ("empty", "is empty (0 bytes)")
        else:
            keys[path] = (path, st.st_size, st.st_mtime_ns)
    return keys, bad


def _write_skipped(out: Path, skipped: list[tuple[str, str]], corpus: str) -> Path:
    """`<out stem>.skipped.csv` (path, reason); removed when nothing was skipped."""
    path = skipped_path(out)
    if not skipped:
        path.unlink(missing_ok=True)  # a stale list would blame files that are fine now
        return path
    table = pd.DataFrame(skipped, columns=["path", "reason"])
    try:
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    except OSError as err:
        raise UserError(f"cannot write {path} ({err.strerror or err}); "
                        "check the folder is writable") from None
    print(f"skipped {len(skipped)} file(s) of {corpus}; listed in {path}")
    return path


def _bad_message(path: str, kind: str, detail: str, n_more: int) -> str:
    more = f" (and {n_more} more bad file(s))" if n_more else ""
    return f"{path} {detail}{more}; {FIXES[kind]} or pass --skip-bad"


def extract_features(manifest: pd.DataFrame, out: Path, skip_bad: bool = False, jobs: int | None = None,
                     sample_rate: int | None = None, progress: bool = True, feature_set: str = FEATURE_SET,
                     layer: str | int | None = None, pooling: str = "mean", cache_dir: Path | None = None,
                     **hf_options) -> Path:
    """Write the features parquet of one corpus (docs/FORMATS.md section 2) and return its path.

    `feature_set` is an openSMILE set by name (default eGeMAPSv02, at `sample_rate`, default
    16000 Hz) or `hf:<model folder or hub id>` with `layer` and `pooling` (`_hf`); `cache_dir`
    (default `paragrid-cache/` next to `out`) holds what was extracted, keyed by file content.
    """
    corpus = _check_manifest(manifest)
    jobs = _resolve_jobs(jobs)
    out = Path(out).expanduser().absolute()
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / (corpus + '.parquet')}")
    extractor = make_extractor(feature_set, sample_rate, layer, pooling, **hf_options)
    names = list(extractor.columns)
    clash = [c for c in manifest.columns if c in set(names)]
    if clash:
        raise UserError(f"manifest column {clash[0]!r} has a feature name of {feature_set}; rename it")

    paths = [os.path.abspath(os.fspath(p)) for p in manifest["path"]]
    unique = list(dict.fromkeys(paths))
    keys, bad = _stat(unique)
    if bad and not skip_bad:  # fail in a second, not after extracting the whole corpus
        first = next(iter(bad))
        raise UserError(_bad_message(first, *bad[first], len(bad) - 1))

    folder = Path(cache_dir).expanduser().absolute() if cache_dir else default_cache_dir(out)
    hashes = content_hashes(keys, folder)
    cache = FeatureCache(folder, extractor.setting(), tuple(names))
    cached = cache.load()
    done: dict[str, tuple[np.ndarray, int]] = {p: cached[h] for p, h in hashes.items() if h in cached}
    todo = [p for p in keys if p not in done]
    n_cached = len(done)

    outcomes: dict[str, tuple] = {}
    label = feature_set if len(feature_set) <= 24 else "…" + feature_set[-23:]
    bar = tqdm(total=len(todo), desc=f"{label} {corpus}", unit="utt", file=sys.stderr,
               disable=not progress or not todo)
    try:
        extractor.run(todo, jobs, bar, outcomes)
    finally:
        bar.close()
        for path, outcome in outcomes.items():
            if outcome[0] == "ok":
                done[path] = (outcome[1], outcome[2])
            else:
                bad[path] = (outcome[1], outcome[2])
        # Saved even when interrupted, so that re-running the same command resumes.
        fresh = {hashes[p]: done[p] for p in outcomes if p in done and p in hashes}
        if fresh:
            cache.save({**cached, **fresh})
    n_extracted = len(done) - n_cached

    if bad and not skip_bad:
        first = next(p for p in unique if p in bad)
        raise UserError(_bad_message(first, *bad[first], len(bad) - 1))

    # The loader's own skips (unknown labels, unreadable headers) belong in the same list.
    skipped = [(str(p), str(r)) for p, r in manifest.attrs.get("skipped", [])]
    skip_file = _write_skipped(out, skipped + [(p, bad[p][1]) for p in unique if p in bad], corpus)
    keep = [p not in bad for p in paths]
    if not any(keep):
        raise UserError(f"no usable audio in {corpus}: every file was bad (see {skip_file}); "
                        "check the corpus copy")

    rate = extractor.sample_rate
    kept = [p for p in paths if p not in bad]
    rates = np.array([done[p][1] for p in kept])
    n_resampled = int((rates != rate).sum())
    if n_resampled:
        others = ", ".join(f"{r} Hz" for r in sorted(set(rates[rates != rate].tolist())))
        print(f"note: resampled {n_resampled} of {len(kept)} file(s) of {corpus} from {others} to {rate} Hz")

    table = manifest.loc[keep].reset_index(drop=True)
    table.attrs = {}
    features = pd.DataFrame(np.stack([done[p][0] for p in kept]), columns=names, dtype=np.float64)
    table = pd.concat([table, features], axis=1)
    source = manifest.attrs.get("source") or os.path.commonpath([os.path.dirname(p) for p in unique])
    meta = {
        "format_version": FORMAT_VERSION,
        "feature_level": FEATURE_LEVEL,
        "opensmile_version": opensmile_version(),
        **extractor.meta(),
        "sample_rate": int(rate),
        "n_resampled": n_resampled,
        "corpus": corpus,
        "source": str(source),
        "feature_columns": names,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_parquet_atomic(table, out, meta)
    tail = f", skipped {len(bad)}" if bad else ""
    print(f"{corpus}: extracted {n_extracted}, cached {n_cached}{tail} -> {out}")
    return out
