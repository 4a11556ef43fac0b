"""eGeMAPS functionals of every utterance of a manifest, into one parquet per corpus.

We read audio ourselves (soundfile) rather than letting openSMILE open files, so that every
way a corpus copy goes wrong (missing, empty, truncated, not audio, silent, too short) becomes
a one-line UserError naming the file and the fix, or a row in `<out stem>.skipped.csv` with
`skip_bad`. Extraction runs in a process pool (openSMILE is single-threaded C), and results
are cached next to the output keyed on (path, size, mtime_ns) plus the extraction settings,
so re-running after a fix, a crash or Ctrl-C only extracts what changed.

Decisions on bad input (documented because they change which rows exist):
- shorter than MIN_DURATION_S (0.1 s): bad. openSMILE needs one 60 ms window and returns NaN
  below it; a handful of frames gives degenerate functionals (zero spread, no slopes).
- digital silence (every sample rounds to 0 at 16 bit, which is what openSMILE sees): bad.
  openSMILE returns finite constants for it, but they describe the recording defect, not speech.
- NaN/inf samples, or any NaN among the 88 features: bad. No NaN ever reaches the parquet.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from paragrid.errors import UserError
from paragrid.features.store import (
    FORMAT_VERSION, MANIFEST_COLUMNS, atomic_write, write_parquet_atomic,
)

FEATURE_SET = "eGeMAPSv02"
FEATURE_LEVEL = "Functionals"
MIN_DURATION_S = 0.1
CACHE_META_KEY = b"paragrid_cache"
MAX_CHUNK = 16  # utterances per pool task: amortises IPC, keeps the progress bar moving
# A spawned worker costs ~2 s of imports before its first utterance (~0.07 s each for 2 s of
# audio), so each one must have at least this many to do; a few changed files run in-process.
MIN_PER_WORKER = 16

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


class BadAudio(Exception):
    """A file the extractor cannot turn into 88 finite features; `kind` indexes FIXES."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


# ----------------------------------------------------------------------------------------------
# one file


_SMILE = None  # one openSMILE configuration per process (worker or, with jobs=1, the caller)


def _smile():
    global _SMILE
    if _SMILE is None:
        import opensmile

        _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILE


@lru_cache(maxsize=1)
def egemaps_names() -> list[str]:
    """openSMILE's own names of the 88 eGeMAPSv02 functionals, in its order."""
    return list(_smile().feature_names)


def opensmile_version() -> str:
    import opensmile

    return opensmile.__version__


def _wav_shortfall(path: str) -> tuple[int, int] | None:
    """(declared, present) frames when a RIFF/WAVE data chunk is cut short, else None.

    libsndfile silently reads whatever frames a cut WAV still holds, so a half-copied file
    would pass as a shorter utterance; the header's own data length tells us it is not.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align, pos = 1, 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, n = f.read(4), int.from_bytes(f.read(4), "little")
            if chunk_id == b"fmt " and n >= 14:
                f.seek(pos + 8 + 12)
                block_align = max(1, int.from_bytes(f.read(2), "little"))
            if chunk_id == b"data":
                present = size - pos - 8
                if 0 < n < 0xFFFFFFFF and n > present:  # 0 / 0xFFFFFFFF: streamed, size unknown
                    return n // block_align, present // block_align
                return None
            pos += 8 + n + (n & 1)
    return None


def load_audio(path: str, sample_rate: int) -> tuple[np.ndarray, int]:
    """Mono float32 signal at `sample_rate` and the file's own rate; BadAudio when unusable."""
    import soundfile as sf

    try:
        shortfall = _wav_shortfall(path)
    except FileNotFoundError:
        raise BadAudio("missing", "does not exist") from None
    except OSError as err:
        raise BadAudio("unreadable", f"cannot be opened ({err.strerror or err})") from None
    if shortfall:
        raise BadAudio("truncated", f"is truncated (its header declares {shortfall[0]} frames, "
                                    f"the file holds {shortfall[1]})")
    if os.path.getsize(path) == 0:
        raise BadAudio("empty", "is empty (0 bytes)")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        raise BadAudio("unreadable", f"is not readable audio (soundfile: {err.error_string})") from None
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as err:
        raise BadAudio("unreadable", f"is not readable audio (soundfile: {_one_line(err)})") from None

    signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(signal).all():
        raise BadAudio("nonfinite", "contains NaN or infinite samples")
    seconds = len(signal) / rate
    if seconds < MIN_DURATION_S:
        raise BadAudio("too_short", f"is too short ({seconds:.3f} s; eGeMAPS needs at least "
                                    f"{MIN_DURATION_S} s)")
    if rate != sample_rate:
        from scipy.signal import resample_poly  # ~1 s of imports a worker skips when unused

        g = math.gcd(sample_rate, rate)
        signal = resample_poly(signal, sample_rate // g, rate // g).astype(np.float32)
    # openSMILE scales by 32768 and casts to int16: clip so loud float files do not wrap around.
    signal = np.clip(signal, -1.0, 32767 / 32768)
    if np.abs(signal).max() < 1 / 32768:
        raise BadAudio("silent", "is silent (every sample rounds to zero at 16 bit)")
    return signal, rate


def extract_one(path: str, sample_rate: int) -> tuple[np.ndarray, int]:
    """(88 float64 features, the file's own sample rate); BadAudio for any unusable file."""
    signal, rate = load_audio(path, sample_rate)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = _smile().process_signal(signal, sample_rate).to_numpy(dtype=np.float64)[0]
    except Exception as err:  # openSMILE's own failure on one file must not end the corpus
        raise BadAudio("failed", f"failed in openSMILE ({type(err).__name__}: {_one_line(err)})") from None
    n_nan = int((~np.isfinite(values)).sum())
    if n_nan:
        raise BadAudio("nan_features", f"gave NaN for {n_nan} of {len(values)} eGeMAPS features")
    return values, rate


def _extract_chunk(paths: list[str], sample_rate: int) -> list[tuple]:
    """Runs in a worker: every per-file problem comes back as data, never as a dead worker."""
    out = []
    for path in paths:
        try:
            values, rate = extract_one(path, sample_rate)
            out.append(("ok", values, rate))
        except BadAudio as bad:
            out.append(("bad", bad.kind, bad.detail))
        except Exception as err:
            out.append(("bad", "failed", f"failed to extract ({type(err).__name__}: {_one_line(err)})"))
    return out


# ----------------------------------------------------------------------------------------------
# many files


def _run(paths: list[str], sample_rate: int, jobs: int, bar, into: dict[str, tuple]) -> None:
    """Extract `paths` into `into` (path -> outcome tuple) as results arrive.

    Filling a dict the caller owns means that whatever finished before a crash or Ctrl-C is
    still there for the caller to cache.
    """
    if not paths:
        return
    workers = min(jobs, math.ceil(len(paths) / MIN_PER_WORKER))
    if workers <= 1:
        for path in paths:
            into[path] = _extract_chunk([path], sample_rate)[0]
            bar.update(1)
        return
    size = max(1, min(MAX_CHUNK, math.ceil(len(paths) / (workers * 4))))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    # spawn, not fork: the caller may hold threads (tqdm's monitor, torch, Ray) that a fork
    # would copy mid-lock; the price is about a second of imports per worker.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_smile)
    try:
        futures = {pool.submit(_extract_chunk, chunk, sample_rate): chunk for chunk in chunks}
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                results = future.result()
            except BrokenProcessPool:
                raise UserError(
                    f"a worker process died while extracting {chunk[0]} or one of the "
                    f"{len(chunk) - 1} files after it in the manifest (crash or out of memory); "
                    f"re-run with --jobs 1 to find the file, or check free memory") from None
            into.update(zip(chunk, results))
            bar.update(len(chunk))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _cache_path(out: Path) -> Path:
    return out.with_name(out.stem + ".cache.parquet")


def skipped_path(out: Path) -> Path:
    return out.with_name(out.stem + ".skipped.csv")


def _cache_meta(sample_rate: int) -> dict:
    return {"feature_set": FEATURE_SET, "feature_level": FEATURE_LEVEL,
            "opensmile_version": opensmile_version(), "sample_rate": sample_rate,
            "feature_columns": egemaps_names()}


def _load_cache(path: Path, sample_rate: int) -> dict[tuple, tuple[np.ndarray, int]]:
    """(path, size, mtime_ns) -> (features, file rate); empty when absent or made differently.

    A cache is only an accelerator: any problem reading it means re-extracting, never an error.
    """
    if not path.is_file():
        return {}
    import json

    import pyarrow.parquet as pq

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


def _save_cache(path: Path, entries: dict[tuple, tuple[np.ndarray, int]], sample_rate: int) -> None:
    keys = list(entries)
    df = pd.DataFrame({
        "path": [k[0] for k in keys],
        "size": np.array([k[1] for k in keys], dtype=np.int64),
        "mtime_ns": np.array([k[2] for k in keys], dtype=np.int64),
        "file_rate": np.array([entries[k][1] for k in keys], dtype=np.int64),
    })
    features = np.stack([entries[k][0] for k in keys]) if keys else np.empty((0, len(egemaps_names())))
    df = pd.concat([df, pd.DataFrame(features, columns=egemaps_names())], axis=1)
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({CACHE_META_KEY: json.dumps(_cache_meta(sample_rate)).encode()})
    try:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    except OSError as err:  # losing the cache costs time on the next run, nothing else
        print(f"note: could not write feature cache {path} ({err.strerror or err})")


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
    clash = [c for c in manifest.columns if c in set(egemaps_names())]
    if clash:
        raise UserError(f"manifest column {clash[0]!r} has an eGeMAPS feature name; rename it")
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
                     sample_rate: int = 16000, progress: bool = True) -> Path:
    """Write the features parquet of one corpus (docs/FORMATS.md section 2) and return its path."""
    from tqdm import tqdm

    corpus = _check_manifest(manifest)
    jobs = _resolve_jobs(jobs)
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise UserError(f"--sample-rate {sample_rate} must be a positive whole number of Hz")
    out = Path(out).expanduser().absolute()
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / (corpus + '.parquet')}")

    paths = [os.path.abspath(os.fspath(p)) for p in manifest["path"]]
    unique = list(dict.fromkeys(paths))
    keys, bad = _stat(unique)
    if bad and not skip_bad:  # fail in a second, not after extracting the whole corpus
        first = next(iter(bad))
        raise UserError(_bad_message(first, *bad[first], len(bad) - 1))

    cache_file = _cache_path(out)
    cached = _load_cache(cache_file, sample_rate)
    done: dict[str, tuple[np.ndarray, int]] = {p: cached[k] for p, k in keys.items() if k in cached}
    todo = [p for p in keys if p not in done]
    n_cached = len(done)

    outcomes: dict[str, tuple] = {}
    bar = tqdm(total=len(todo), desc=f"eGeMAPS {corpus}", unit="utt", file=sys.stderr,
               disable=not progress or not todo)
    try:
        _run(todo, sample_rate, jobs, bar, outcomes)
    finally:
        bar.close()
        for path, outcome in outcomes.items():
            if outcome[0] == "ok":
                done[path] = (outcome[1], outcome[2])
            else:
                bad[path] = (outcome[1], outcome[2])
        # Saved even when interrupted, so that re-running the same command resumes.
        if outcomes or set(cached) != {keys[p] for p in done}:
            _save_cache(cache_file, {keys[p]: v for p, v in done.items()}, sample_rate)
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

    names = egemaps_names()
    kept = [p for p in paths if p not in bad]
    rates = np.array([done[p][1] for p in kept])
    n_resampled = int((rates != sample_rate).sum())
    if n_resampled:
        others = ", ".join(f"{r} Hz" for r in sorted(set(rates[rates != sample_rate].tolist())))
        print(f"note: resampled {n_resampled} of {len(kept)} file(s) of {corpus} from {others} "
              f"to {sample_rate} Hz")

    table = manifest.loc[keep].reset_index(drop=True)
    table.attrs = {}
    features = pd.DataFrame(np.stack([done[p][0] for p in kept]), columns=names, dtype=np.float64)
    table = pd.concat([table, features], axis=1)
    source = manifest.attrs.get("source") or os.path.commonpath([os.path.dirname(p) for p in unique])
    meta = {
        "format_version": FORMAT_VERSION,
        "feature_set": FEATURE_SET,
        "feature_level": FEATURE_LEVEL,
        "opensmile_version": opensmile_version(),
        "sample_rate": int(sample_rate),
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


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
