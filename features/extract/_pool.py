"""Extracting many files with openSMILE: in this process for a few, in a pool of worker
processes for many.

openSMILE is single-threaded C, so a corpus is spread over processes. Every per-file problem
comes back from a worker as data (never as a dead worker), and results are handed to the
caller as they arrive, so whatever finished before a crash or Ctrl-C can still be cached.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from paragrid.errors import UserError
from paragrid.features.extract._audio import BadAudio, one_line
from paragrid.features.extract._opensmile import FEATURE_SET, extract_one, smile

MAX_CHUNK = 16  # utterances per pool task: amortises IPC, keeps the progress bar moving
# A spawned worker costs ~2 s of imports before its first utterance (~0.07 s each for 2 s of
# audio), so each one must have at least this many to do; a few changed files run in-process.
MIN_PER_WORKER = 16


def _extract_chunk(paths: list[str], sample_rate: int, feature_set: str = FEATURE_SET) -> list[tuple]:
    """Runs in a worker: every per-file problem comes back as data, never as a dead worker."""
    out = []
    for path in paths:
        try:
            values, rate = extract_one(path, sample_rate, feature_set)
            out.append(("ok", values, rate))
        except BadAudio as bad:
            out.append(("bad", bad.kind, bad.detail))
        except Exception as err:
            out.append(("bad", "failed", f"failed to extract ({type(err).__name__}: {one_line(err)})"))
    return out


def extract_many(paths: list[str], sample_rate: int, jobs: int, bar, into: dict[str, tuple],
                 feature_set: str = FEATURE_SET) -> None:
    """Extract `paths` into `into` (path -> outcome tuple) as results arrive.

    Filling a dict the caller owns means that whatever finished before a crash or Ctrl-C is
    still there for the caller to cache.
    """
    if not paths:
        return
    workers = min(jobs, math.ceil(len(paths) / MIN_PER_WORKER))
    if workers <= 1:
        for path in paths:
            into[path] = _extract_chunk([path], sample_rate, feature_set)[0]
            bar.update(1)
        return
    size = max(1, min(MAX_CHUNK, math.ceil(len(paths) / (workers * 4))))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    # spawn, not fork: the caller may hold threads (tqdm's monitor, torch, Ray) that a fork
    # would copy mid-lock; the price is about a second of imports per worker.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=smile, initargs=(feature_set,))
    try:
        futures = {pool.submit(_extract_chunk, chunk, sample_rate, feature_set): chunk for chunk in chunks}
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
