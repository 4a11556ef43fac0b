"""Writing the synthetic corpora: one wav per utterance and a manifest.csv per corpus.

Utterances are synthesised in worker processes (forkserver where available); each one draws
from its own seed stream (`_corpus.utterance_rng`), so the files are the same bytes whatever
the number of processes. A manifest is written last, atomically: a manifest that exists lists
only finished files.
"""

from __future__ import annotations

import csv
import ctypes
import multiprocessing as mp
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from paragrid.errors import UserError
from paragrid.features.synth._channel import to_pcm16
from paragrid.features.synth._corpus import (
    CorpusConfig, default_configs, make_sentences, many_configs, make_speakers, plan_corpus,
    synthesise_utterance, utterance_rng,
)
from paragrid.features.synth._voice import SR

MANIFEST_COLUMNS = ["utterance_id", "path", "speaker", "gender", "emotion", "corpus",
                    "duration", "sample_rate", "sentence"]


_STATE: dict = {}  # per process: corpus index -> (config, speakers, sentences, plan, seed, dir)


def _init(state: dict, worker: bool = False) -> None:
    _STATE.clear()
    _STATE.update(state)
    if worker:
        _keep_freed_memory()


def _keep_freed_memory() -> None:
    """By default glibc hands every freed large numpy temporary back to the kernel and faults
    it in again for the next utterance: a third of the CPU time went to page faults. Our own
    worker processes keep up to 64 MB instead. A no-op without glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: heap, not mmap, below 32 MB
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: keep 64 MB of freed heap
    except (OSError, AttributeError):
        pass


def _make(task: tuple[int, int]) -> tuple[int, int, int]:
    """Synthesise and write one utterance; returns (corpus index, utterance, n samples)."""
    ci, i = task
    config, speakers, sentences, plan, seed, wavdir = _STATE[ci]
    p = plan[i]
    rng = utterance_rng(config, seed, i)
    x = synthesise_utterance(speakers[p.speaker], p.emotion, sentences[p.sentence], rng,
                             config.channel, config.spread, config.max_s, config.min_s)
    pcm = to_pcm16(x.astype(np.float64))
    sf.write(wavdir / f"{p.utterance_id}.wav", pcm, SR, subtype="PCM_16", format="WAV")
    return ci, i, len(pcm)


def _context() -> mp.context.BaseContext:
    """Workers forked from a fresh server that imported this module once (scipy.signal alone
    takes a second to import). Not plain fork: the caller may hold torch/Ray threads, which a
    fork would copy in a broken state. Spawn where there is no forkserver (Windows)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def write_corpus_set(outdir: Path, configs: tuple[CorpusConfig, ...], seed: int = 0,
                     jobs: int | None = None) -> list[Path]:
    """Write each config's corpus under outdir/<name>/ (wav/ + manifest.csv)."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"{outdir} is a file; give a folder for the synthetic corpora")
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    state, tasks = {}, []
    for ci, config in enumerate(configs):
        plan = plan_corpus(config, seed)
        wavdir = outdir / config.name / "wav"
        wavdir.mkdir(parents=True, exist_ok=True)
        # An old manifest must not survive an interrupted re-run next to half-new audio.
        (outdir / config.name / "manifest.csv").unlink(missing_ok=True)
        state[ci] = (config, make_speakers(config, seed), make_sentences(config, seed), plan,
                     seed, wavdir)
        tasks += [(ci, i) for i in range(len(plan))]

    lengths: dict[tuple[int, int], int] = {}
    bar = tqdm(total=len(tasks), desc="synth", unit="utt", file=sys.stderr, disable=None)
    if jobs == 1 and len(tasks) <= 100:  # tiny (tests): not worth starting a process
        _init(state)
        for t in tasks:
            ci, i, n = _make(t)
            lengths[ci, i] = n
            bar.update()
    else:
        workers = min(jobs, len(tasks))
        with _context().Pool(workers, initializer=_init, initargs=(state, True)) as pool:
            for ci, i, n in pool.imap_unordered(_make, tasks, chunksize=8):
                lengths[ci, i] = n
                bar.update()
    bar.close()

    manifests = []
    for ci, (config, speakers, _, plan, _, wavdir) in state.items():
        path = outdir / config.name / "manifest.csv"
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(MANIFEST_COLUMNS)
            for p in plan:
                spk = speakers[p.speaker]
                w.writerow([p.utterance_id, f"wav/{p.utterance_id}.wav", spk.id, spk.gender,
                            p.emotion, config.name, repr(lengths[ci, p.index] / SR), SR,
                            f"{config.prefix}-s{p.sentence:03d}"])
        os.replace(tmp, path)  # a manifest that exists lists only finished files
        manifests.append(path)
    return manifests


def write_corpora(outdir: Path, seed: int = 0, n_speakers: int | None = None,
                  n_utterances: int | None = None, jobs: int | None = None,
                  n_corpora: int = 2) -> list[Path]:
    """Write outdir/synth-a, outdir/synth-b (and synth-c.. for n_corpora > 2, `many_configs`);
    return their manifest.csv paths.

    Parallel over `jobs` processes (default: all cores); the result does not depend on it."""
    configs = (default_configs(n_speakers, n_utterances) if n_corpora == 2
               else many_configs(n_corpora, n_speakers, n_utterances))
    return write_corpus_set(Path(outdir), configs, seed, jobs)
