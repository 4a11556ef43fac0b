"""The built-in synthetic paralinguistic corpora synth-a and synth-b.

Why: the study needs two emotion corpora with speaker and gender labels, and the real ones
are licensed. These two are generated from a source-filter voice (`_voice`, `_render`,
`_channel`) so that the whole pipeline (openSMILE -> grid -> report) runs anywhere, and so that
the study's questions stay real questions:
  - emotion is learnable but not trivially (speakers show emotions their own way, every
    utterance varies, angry and happy share most cues);
  - gender is easy (vocal-tract length and F0), speaker identity learnable;
  - synth-a and synth-b have different speakers, different sentences, a different recording
    chain and differently calibrated emotion displays, so cross-corpus transfer loses accuracy.

Determinism: every random draw comes from a Generator seeded with SeedSequence([seed,
corpus index, purpose, ...]); utterance i of a corpus uses its own stream, so the bytes do not
depend on the number of processes or on the order in which workers finish.

This module designs the corpora (configs, speakers, sentences, who says what) and synthesises
one utterance; `_write` writes them to disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from paragrid.errors import UserError
from paragrid.features.synth._channel import Channel, apply_channel
from paragrid.features.synth._render import render
from paragrid.features.synth._voice import (
    CONSONANTS, EMOTION_EFFECTS, EMOTIONS, VOWELS, Sentence, Speaker, make_sentence, make_speaker,
    resolve_voice,
)

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


def many_configs(n_corpora: int, n_speakers: int | None = None, n_utterances: int | None = None
                 ) -> tuple[CorpusConfig, ...]:
    """synth-a, synth-b, then synth-c.. for a many-corpus study: each further corpus its own
    voices (its corpus index seeds its speakers and emotion "culture"), its own recording chain
    and its own label balance, drawn from a fixed stream per corpus so that synth-c is the same
    corpus whatever N is."""
    if n_corpora < 2 or n_corpora > 26:
        raise UserError(f"--corpora must be 2..26, got {n_corpora}")
    out = list(default_configs(n_speakers, n_utterances))
    colours = ("white", "pink", "brown")
    for index in range(2, n_corpora):
        rng = _rng(index, _PLAN, 7919)  # a design stream per corpus, independent of --seed
        letter = chr(ord("a") + index)
        weights = rng.dirichlet(np.full(len(EMOTIONS), 6.0)) * 0.8 + 0.05
        lo = float(rng.uniform(50.0, 250.0))
        channel = Channel(band_hz=(lo, float(rng.uniform(4000.0, 7600.0))),
                          band_order=int(rng.integers(2, 4)), rt60=float(rng.uniform(0.1, 0.5)),
                          drr_db=float(rng.uniform(5.0, 13.0)), noise_dbfs=float(rng.uniform(-66.0, -46.0)),
                          noise_color=colours[int(rng.integers(3))], gain_db=float(rng.uniform(-5.0, 1.0)))
        cfg = CorpusConfig(name=f"synth-{letter}", prefix=letter, index=index,
                           emotion_weights={e: float(w) for e, w in zip(EMOTIONS, weights)},
                           n_sentences=int(rng.integers(40, 61)),
                           expressivity=float(rng.uniform(0.8, 1.1)),
                           effect_jitter=float(rng.uniform(0.2, 0.35)),
                           spread=float(rng.uniform(1.0, 1.5)), channel=channel)
        over = {k: v for k, v in (("n_speakers", n_speakers), ("n_utterances", n_utterances)) if v is not None}
        out.append(replace(cfg, **over))
    return tuple(out)


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(e) for e in entropy]))


def utterance_rng(config: CorpusConfig, seed: int, i: int) -> np.random.Generator:
    """Utterance i's own stream: its bytes do not depend on which process makes it, or when."""
    return _rng(seed, config.index, _UTTERANCE, i)


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
