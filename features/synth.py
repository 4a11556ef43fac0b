"""The built-in synthetic paralinguistic corpora synth-a and synth-b.

Why: the study needs two emotion corpora with speaker and gender labels, and the real ones
are licensed. These two are generated from a source-filter voice (features/synth_voice.py)
so that the whole pipeline (openSMILE -> grid -> report) runs anywhere, and so that the
study's questions stay real questions:
  - emotion is learnable but not trivially (speakers show emotions their own way, every
    utterance varies, angry and happy share most cues);
  - gender is easy (vocal-tract length and F0), speaker identity learnable;
  - synth-a and synth-b have different speakers, different sentences, a different recording
    chain and differently calibrated emotion displays, so cross-corpus transfer loses accuracy.

Determinism: every random draw comes from a Generator seeded with SeedSequence([seed,
corpus index, purpose, ...]); utterance i of a corpus uses its own stream, so the bytes do not
depend on the number of processes or on the order in which workers finish.
"""

from __future__ import annotations

import csv
import ctypes
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from paragrid.errors import UserError
from paragrid.features.synth_voice import (
    CONSONANTS, EMOTION_EFFECTS, EMOTIONS, SR, VOWELS, Channel, Sentence, Speaker,
    apply_channel, make_sentence, make_speaker, render, resolve_voice, to_pcm16,
)

MANIFEST_COLUMNS = ["utterance_id", "path", "speaker", "gender", "emotion", "corpus",
                    "duration", "sample_rate", "sentence"]

# Seed-stream purposes (the third SeedSequence entry). Fixed forever: changing one changes
# every corpus ever generated from a seed.
_SPEAKERS, _SENTENCES, _PLAN, _UTTERANCE, _EFFECTS = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that makes one synthetic corpus what it is."""

    name: str  # corpus column and folder name
    prefix: str  # speaker ids are f"{prefix}-F01" ...: unique across corpora
    index: int  # corpus index in the seed streams: corpora with different index never share draws
    n_speakers: int = 10
    n_utterances: int = 900
    emotion_weights: dict[str, float] = field(default_factory=lambda: {
        "angry": 0.2, "happy": 0.26, "neutral": 0.34, "sad": 0.2})
    n_sentences: int = 40  # distinct texts of this corpus
    syllables: tuple[int, int] = (4, 12)  # syllables per sentence (inclusive)
    expressivity: float = 1.0  # scales every emotion effect (acted vs. improvised speech)
    effect_jitter: float = 0.25  # corpus-level log-sd of the emotion table: its own "culture"
    individuality: float = 0.45  # per-speaker log-sd of each emotion effect
    spread: float = 1.0  # scales the utterance-to-utterance variation
    channel: Channel = field(default_factory=Channel)
    max_s: float = 3.0
    min_s: float = 1.0


def default_configs(n_speakers: int | None = None, n_utterances: int | None = None
                    ) -> tuple[CorpusConfig, CorpusConfig]:
    """synth-a: acted, studio (wide band, quiet, small room). synth-b: improvised (weaker and
    differently calibrated emotion), neutral-heavy, narrower band, pink noise, a presence bump
    and a livelier room: roughly the IEMOCAP / MSP-IMPROV contrast."""
    a = CorpusConfig(
        name="synth-a", prefix="a", index=0, spread=1.5,
        channel=Channel(band_hz=(60.0, 7200.0), band_order=2, rt60=0.2, drr_db=12.0,
                        noise_dbfs=-64.0, noise_color="white", gain_db=0.0),
    )
    b = CorpusConfig(
        name="synth-b", prefix="b", index=1,
        emotion_weights={"angry": 0.12, "happy": 0.3, "neutral": 0.45, "sad": 0.13},
        n_sentences=60, syllables=(5, 13), expressivity=0.85, effect_jitter=0.3, spread=1.25,
        channel=Channel(band_hz=(200.0, 5000.0), band_order=3, eq=((2500.0, 6.0, 1.2),),
                        rt60=0.45, drr_db=6.0, noise_dbfs=-46.0, noise_color="pink",
                        gain_db=-4.0),
    )
    over = {}
    if n_speakers is not None:
        over["n_speakers"] = n_speakers
    if n_utterances is not None:
        over["n_utterances"] = n_utterances
    return replace(a, **over), replace(b, **over)


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(e) for e in entropy]))


def make_speakers(config: CorpusConfig, seed: int) -> list[Speaker]:
    """Half female (the odd one out too), half male; ids a-F01.., a-M01.."""
    rng = _rng(seed, config.index, _SPEAKERS)
    erng = _rng(seed, config.index, _EFFECTS)
    effects = {e: EMOTION_EFFECTS[e] * config.expressivity
               * np.exp(erng.normal(0.0, config.effect_jitter, EMOTION_EFFECTS[e].shape))
               for e in EMOTIONS}
    n_f = (config.n_speakers + 1) // 2
    genders = ["F"] * n_f + ["M"] * (config.n_speakers - n_f)
    speakers, count = [], {"F": 0, "M": 0}
    for g in genders:
        count[g] += 1
        speakers.append(make_speaker(f"{config.prefix}-{g}{count[g]:02d}", g, rng, effects,
                                     config.individuality))
    return speakers


def make_sentences(config: CorpusConfig, seed: int) -> list[Sentence]:
    """The corpus' texts: its own vowel/consonant frequencies and its own sentences."""
    rng = _rng(seed, config.index, _SENTENCES)
    vowel_p = rng.dirichlet(np.full(len(VOWELS), 2.0))
    cons_p = rng.dirichlet(np.full(len(CONSONANTS), 2.0))
    lo, hi = config.syllables
    return [make_sentence(rng, vowel_p, cons_p, int(rng.integers(lo, hi + 1)))
            for _ in range(config.n_sentences)]


@dataclass(frozen=True)
class Planned:
    """One row-to-be of the manifest, before its audio exists."""

    index: int
    utterance_id: str
    speaker: int
    emotion: str
    sentence: int


def plan_corpus(config: CorpusConfig, seed: int) -> list[Planned]:
    """Who says what in which emotion. Emotion counts follow the weights exactly (largest
    remainder, at least one each); speakers take turns so each has the same number of
    utterances and a similar emotion mix."""
    _check(config)
    rng = _rng(seed, config.index, _PLAN)
    w = np.array([config.emotion_weights[e] for e in EMOTIONS], dtype=float)
    quota = w / w.sum() * (config.n_utterances - len(EMOTIONS))
    counts = np.floor(quota).astype(int) + 1
    rest = config.n_utterances - counts.sum()
    counts[np.argsort(-(quota - np.floor(quota)), kind="stable")[:rest]] += 1
    emotions = np.repeat(np.array(EMOTIONS), counts)
    rng.shuffle(emotions)
    speakers = np.arange(config.n_utterances) % config.n_speakers
    sentences = rng.integers(0, config.n_sentences, config.n_utterances)
    plan = []
    spk = make_speakers(config, seed)
    for i in range(config.n_utterances):
        s = int(speakers[i])
        plan.append(Planned(i, f"{spk[s].id}_{i:04d}", s, str(emotions[i]), int(sentences[i])))
    return plan


def _check(config: CorpusConfig) -> None:
    if config.n_speakers < 2:
        raise UserError(f"{config.name}: --speakers must be at least 2 (one per gender), "
                        f"got {config.n_speakers}")
    if config.n_utterances < max(len(EMOTIONS), config.n_speakers):
        raise UserError(f"{config.name}: --utterances must be at least max(4, speakers) so every "
                        f"emotion and speaker occurs, got {config.n_utterances}")
    unknown = set(config.emotion_weights) ^ set(EMOTIONS)
    if unknown:
        raise UserError(f"{config.name}: emotion_weights must name exactly {EMOTIONS}")


def synthesise_utterance(speaker: Speaker, emotion: str, sentence: Sentence,
                         rng: np.random.Generator, channel: Channel | None = None,
                         spread: float = 1.0, max_s: float = 3.0, min_s: float = 1.0
                         ) -> np.ndarray:
    """One utterance as float32 at 16 kHz in [-1, 1]: the voice, then the channel (if any)."""
    voice = resolve_voice(speaker, emotion, rng, spread)
    x = render(sentence, voice, rng, max_s=max_s, min_s=min_s)
    if channel is not None:
        x = apply_channel(x, channel, rng)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------- writing

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
    rng = _rng(seed, config.index, _UTTERANCE, i)
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
                  n_utterances: int | None = None, jobs: int | None = None) -> list[Path]:
    """Write outdir/synth-a and outdir/synth-b; return their two manifest.csv paths.

    Parallel over `jobs` processes (default: all cores); the result does not depend on it."""
    return write_corpus_set(Path(outdir), default_configs(n_speakers, n_utterances), seed, jobs)
