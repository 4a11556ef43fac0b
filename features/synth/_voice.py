"""A small source-filter voice: the sound of the synthetic corpora.

Why a real voice model and not random feature vectors: the study's features are openSMILE
eGeMAPS functionals, so the demo must feed openSMILE waveforms in which pitch, loudness,
jitter, shimmer, formants and spectral balance exist and move the way they do in speech.

The model (Klatt-style, vectorised):
  glottal source   Rosenberg pulses at an instantaneous F0 (phase accumulation), per-period
                   jitter and shimmer, open quotient, one-pole spectral tilt, pulsed aspiration
  vocal tract      cascade of five resonators whose formants glide between vowel targets,
                   scaled by the speaker's vocal-tract length; coefficients change every 10 ms
  consonants       band-passed noise (fricatives), closure + burst (stops), voiced sonorants
  channel          reverberation (decaying-noise impulse response), noise floor, microphone EQ,
                   band-pass, gain: what makes two corpora sound like two recording set-ups

This module holds the model's parameters and its people: the phonetic tables, speakers drawn
from population statistics, an emotion's effect on a speaker's voice, and pseudo-sentences.
`_render` turns a sentence and a voice into a waveform; `_channel` records it. Everything is
driven by an explicit numpy Generator, so a seed fixes every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SR = 16000
HOP = 160  # samples between vocal-tract coefficient updates (10 ms)
EMOTIONS = ("angry", "happy", "neutral", "sad")

# Vowel formant targets F1..F3 (Hz) of an adult male (Peterson & Barney 1952, rounded);
# F4, F5 are fixed. A speaker's vocal-tract length scales all of them.
VOWELS: dict[str, tuple[float, float, float]] = {
    "i": (270, 2290, 3010), "I": (390, 1990, 2550), "e": (530, 1840, 2480),
    "ae": (660, 1720, 2410), "a": (730, 1090, 2440), "o": (570, 840, 2410),
    "U": (440, 1020, 2240), "u": (300, 870, 2240), "V": (640, 1190, 2390),
    "R": (490, 1350, 1690),
}
F45 = (3300.0, 3750.0)
BANDWIDTHS = np.array([80.0, 100.0, 140.0, 220.0, 280.0])

# Consonants. kind: fric (band noise), stop (closure, then a burst), son (voiced, formants).
# band: noise band (Hz) for fric/stop; formants: F1..F3 for sonorants. level_db re. vowels.
CONSONANTS: dict[str, dict] = {
    "s": dict(kind="fric", band=(4200, 7600), dur=0.095, level_db=-14),
    "S": dict(kind="fric", band=(2000, 4800), dur=0.095, level_db=-13),
    "f": dict(kind="fric", band=(1200, 7600), dur=0.080, level_db=-24),
    "h": dict(kind="fric", band=(500, 3500), dur=0.060, level_db=-22),
    "t": dict(kind="stop", band=(3000, 7000), dur=0.070, level_db=-10),
    "k": dict(kind="stop", band=(1500, 3500), dur=0.075, level_db=-11),
    "p": dict(kind="stop", band=(400, 2500), dur=0.070, level_db=-13),
    "m": dict(kind="son", formants=(280, 1000, 2200), dur=0.070, level_db=-9),
    "n": dict(kind="son", formants=(280, 1600, 2500), dur=0.065, level_db=-9),
    "l": dict(kind="son", formants=(360, 1100, 2600), dur=0.060, level_db=-5),
}

# Voice parameters an emotion moves, in the units their effects add in.
PARAMS = ("f0_st", "range", "rate", "level_db", "tilt", "oq", "breath_db", "jitter", "shimmer")
# Mean effect of each emotion relative to neutral (one row per PARAMS entry order):
#   f0_st semitones; range, rate, jitter, shimmer: log factors; level_db, breath_db: dB;
#   tilt: change of the one-pole source low-pass coefficient; oq: change of open quotient.
# Angry and happy are both high-arousal and share most cues; sad is the low-arousal end; the
# spread below (speaker and utterance variation) makes the classes overlap, as in real corpora.
EMOTION_EFFECTS: dict[str, np.ndarray] = {
    "angry": np.array([3.0, 0.20, 0.07, 5.0, -0.28, -0.09, -3.0, 0.15, 0.25]),
    "happy": np.array([3.5, 0.40, 0.09, 2.5, -0.10, -0.03, 0.0, 0.00, 0.05]),
    "neutral": np.zeros(len(PARAMS)),
    "sad": np.array([-1.3, -0.30, -0.13, -3.0, 0.18, 0.06, 3.0, 0.25, 0.20]),
}
# Utterance-to-utterance spread of each parameter (same units): how much one utterance of a
# speaker in one emotion differs from the next.
UTTERANCE_SD = np.array([1.4, 0.20, 0.07, 2.2, 0.08, 0.035, 2.5, 0.20, 0.20])

@dataclass(frozen=True)
class Speaker:
    """One synthetic talker: anatomy, habitual voice, and a personal way of showing emotion."""

    id: str
    gender: str  # "M" or "F"
    vtl: float  # formant scale factor (1.0 = the male reference tract; shorter tract -> > 1)
    f0_hz: float  # habitual F0 of neutral speech
    range_st: float  # pitch-accent height (semitones)
    rate: float  # syllables per second
    level_db: float  # habitual loudness re. the corpus reference
    tilt: float  # one-pole source low-pass coefficient (higher = darker voice)
    oq: float  # open quotient of the glottal pulse (higher = breathier, weaker harmonics)
    breath_db: float  # aspiration noise re. the voiced source
    jitter: float  # period-to-period F0 perturbation (fraction)
    shimmer: float  # period-to-period amplitude perturbation (fraction)
    bw_scale: float  # formant bandwidth factor
    effects: dict[str, np.ndarray] = field(default_factory=dict, compare=False)  # per emotion


@dataclass(frozen=True)
class Voice:
    """The resolved voice of one utterance (speaker + emotion + this utterance's variation)."""

    f0_hz: float
    range_st: float
    rate: float
    level_db: float
    tilt: float
    oq: float
    breath_db: float
    jitter: float
    shimmer: float
    vtl: float
    bw_scale: float


@dataclass(frozen=True)
class Segment:
    """One piece of a sentence: a vowel, a consonant or a pause."""

    kind: str  # "vowel" | "cons" | "pause"
    unit: str  # vowel or consonant symbol; "" for a pause
    dur: float  # vowel: length factor (1 = typical); pause: seconds at 4.6 syll/s; cons: unused
    accent: float = 0.0  # pitch-accent strength of a vowel (0 = unaccented)


Sentence = tuple[Segment, ...]


def make_speaker(speaker_id: str, gender: str, rng: np.random.Generator,
                 effects: dict[str, np.ndarray], individuality: float = 0.45) -> Speaker:
    """Draw a speaker from population statistics of adult voices.

    `effects` is the corpus' mean emotion table; each speaker scales every entry by a
    personal log-normal factor (sd `individuality`) and adds a small offset, so speakers show
    the same emotion in overlapping but different ways."""
    male = gender == "M"
    own = {}
    for emo, eff in effects.items():
        scale = np.exp(rng.normal(0.0, individuality, eff.shape))
        offset = rng.normal(0.0, 0.25, eff.shape) * UTTERANCE_SD * (emo != "neutral")
        own[emo] = eff * scale + offset
    return Speaker(
        id=speaker_id,
        gender=gender,
        vtl=float(rng.normal(1.0, 0.035) if male else rng.normal(1.16, 0.035)),
        f0_hz=float(np.clip(rng.normal(112, 13) if male else rng.normal(200, 18),
                            88 if male else 165, 140 if male else 240)),
        range_st=float(np.clip(rng.normal(2.6, 0.6), 1.4, 4.0)),
        rate=float(np.clip(rng.normal(4.6, 0.45), 3.6, 5.6)),
        level_db=float(rng.normal(0.0, 2.0)),
        tilt=float(np.clip(rng.normal(0.5 if male else 0.58, 0.08), 0.3, 0.75)),
        oq=float(np.clip(rng.normal(0.52 if male else 0.62, 0.05), 0.4, 0.75)),
        breath_db=float(rng.normal(-30 if male else -25, 3.0)),
        jitter=float(np.clip(rng.lognormal(np.log(0.007), 0.3), 0.002, 0.02)),
        shimmer=float(np.clip(rng.lognormal(np.log(0.05), 0.3), 0.015, 0.12)),
        bw_scale=float(np.clip(rng.normal(1.0, 0.12), 0.7, 1.4)),
        effects=own,
    )


def resolve_voice(speaker: Speaker, emotion: str, rng: np.random.Generator,
                  spread: float = 1.0) -> Voice:
    """This utterance's voice: the speaker's habit, moved by their version of the emotion,
    plus utterance-level randomness (`spread` scales it)."""
    if emotion not in speaker.effects:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    d = speaker.effects[emotion] + rng.normal(0.0, 1.0, len(PARAMS)) * UTTERANCE_SD * spread
    p = dict(zip(PARAMS, d))
    return Voice(
        f0_hz=float(np.clip(speaker.f0_hz * 2 ** (p["f0_st"] / 12), 75, 320)),
        range_st=float(np.clip(speaker.range_st * np.exp(p["range"]), 0.5, 7.0)),
        rate=float(np.clip(speaker.rate * np.exp(p["rate"]), 2.5, 7.5)),
        level_db=float(speaker.level_db + p["level_db"]),
        tilt=float(np.clip(speaker.tilt + p["tilt"], 0.0, 0.92)),
        oq=float(np.clip(speaker.oq + p["oq"], 0.3, 0.85)),
        breath_db=float(speaker.breath_db + p["breath_db"]),
        jitter=float(np.clip(speaker.jitter * np.exp(p["jitter"]), 0.001, 0.05)),
        shimmer=float(np.clip(speaker.shimmer * np.exp(p["shimmer"]), 0.005, 0.3)),
        vtl=speaker.vtl,
        bw_scale=speaker.bw_scale,
    )


def make_sentence(rng: np.random.Generator, vowel_p: np.ndarray, cons_p: np.ndarray,
                  n_syllables: int) -> Sentence:
    """A pseudo-sentence: words of 1-3 CV(C) syllables, pitch accents, occasional pauses."""
    vowels, conss = list(VOWELS), list(CONSONANTS)
    segs: list[Segment] = []
    left = n_syllables
    while left > 0:
        n = min(left, int(rng.integers(1, 4)))
        stressed = int(rng.integers(0, n))
        accent = float(rng.uniform(0.6, 1.4)) if rng.random() < 0.55 else 0.0
        for i in range(n):
            if rng.random() < 0.8:
                segs.append(Segment("cons", str(rng.choice(conss, p=cons_p)), 1.0))
            acc = accent if i == stressed else 0.0
            segs.append(Segment("vowel", str(rng.choice(vowels, p=vowel_p)),
                                float(rng.uniform(0.85, 1.2)) * (1.25 if acc else 1.0), acc))
        if rng.random() < 0.2:
            segs.append(Segment("cons", str(rng.choice(conss, p=cons_p)), 1.0))
        left -= n
        if left > 0 and rng.random() < 0.22:
            segs.append(Segment("pause", "", float(rng.uniform(0.12, 0.35))))
    return tuple(segs)
