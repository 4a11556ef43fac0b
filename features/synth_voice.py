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

Everything is driven by an explicit numpy Generator, so a seed fixes every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

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
class Channel:
    """A recording chain. Corpora differ here, so a model must transfer across channels."""

    band_hz: tuple[float, float] = (70.0, 7200.0)  # band-pass of the microphone/codec chain
    band_order: int = 2
    eq: tuple[tuple[float, float, float], ...] = ()  # peaking filters (Hz, gain dB, Q)
    rt60: float = 0.25  # reverberation time (s); 0 = dry
    drr_db: float = 10.0  # direct-to-reverberant energy ratio
    noise_dbfs: float = -62.0  # RMS of the noise floor
    noise_color: str = "white"  # white | pink | brown
    gain_db: float = 0.0
    vary_db: float = 1.5  # per-utterance spread of gain and noise level (session drift)


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


# ----------------------------------------------------------------------------- rendering


def _timeline(sentence: Sentence, voice: Voice, rng: np.random.Generator,
              max_s: float, min_s: float) -> list[tuple[Segment, int, int]]:
    """Place segments on the sample axis at the voice's tempo; cut at `max_s`, pad to `min_s`.

    A vowel's nominal share of a syllable is 0.62 / rate seconds; consonants keep their own
    length (compressed a little by fast speech); pauses stretch with slow speech."""
    if not any(seg.kind == "vowel" for seg in sentence):
        raise ValueError("a sentence needs at least one vowel (it carries voicing and formants)")
    tempo = 4.6 / voice.rate
    lead = float(rng.uniform(0.08, 0.2))
    t = lead
    placed = []
    for seg in sentence:
        if seg.kind == "vowel":
            d = 0.62 / voice.rate * seg.dur
        elif seg.kind == "cons":
            d = CONSONANTS[seg.unit]["dur"] * tempo ** 0.5 * float(rng.uniform(0.85, 1.15))
        else:
            d = seg.dur * tempo
        placed.append((seg, t, d))
        t += d
    # Final lengthening of the last vowel, then cut to fit, always ending on a vowel.
    tail = float(rng.uniform(0.1, 0.25))
    while True:
        seg, t0, d = placed[-1]
        n_vowels = sum(p[0].kind == "vowel" for p in placed)
        if seg.kind != "vowel" or (t0 + 1.35 * d + tail > max_s and n_vowels > 1):
            placed.pop()
            continue
        break
    seg, t0, d = placed[-1]
    placed[-1] = (seg, t0, d * 1.35)
    end = t0 + d * 1.35 + tail
    if end < min_s:  # pad with trailing silence
        end = min_s + float(rng.uniform(0.0, 0.1))
    total = int(round(min(end, max_s) * SR))
    out = []
    for seg, t0, d in placed:
        a, b = int(round(t0 * SR)), int(round((t0 + d) * SR))
        out.append((seg, a, min(b, total)))
    return out + [(Segment("pause", "", 0.0), total, total)]


def _f0_track(tl, voice: Voice, n: int, rng: np.random.Generator) -> np.ndarray:
    """F0 per sample (Hz): declination + pitch accents + slow wander + final fall or rise.

    Built on a 2.5 ms grid and interpolated: the contour is smooth, the samples are many."""
    step = HOP // 4
    t = np.arange(0, n + step, step) / SR
    dur = n / SR
    st = 1.0 * voice.range_st * (0.5 - t / dur)  # declination
    for seg, a, b in tl:
        if seg.kind == "vowel" and seg.accent > 0:
            c = (a + 0.6 * (b - a)) / SR
            st += voice.range_st * seg.accent * np.exp(-0.5 * ((t - c) / 0.07) ** 2)
    # slow wander: smoothed noise, about 0.4 st
    knots = rng.normal(0.0, 0.4, int(dur / 0.15) + 2)
    st += np.interp(t, np.linspace(0, dur, len(knots)), knots)
    vowels = [(a, b) for seg, a, b in tl if seg.kind == "vowel"]
    a, b = vowels[-1]
    final = (-1.0 if rng.random() < 0.85 else 1.2) * voice.range_st
    st += final * np.clip((t * SR - a) / max(b - a, 1), 0, 1)
    return np.interp(np.arange(n) / SR, t, voice.f0_hz * 2 ** (st / 12))


def _rosenberg(phase: np.ndarray, oq: float) -> np.ndarray:
    """Rosenberg glottal flow pulse at phase in [0, 1): cosine opening, quarter-cosine closing
    (abrupt closure = rich harmonics), closed for the rest of the period."""
    tp, tn = 0.6 * oq, 0.4 * oq
    g = np.zeros_like(phase)
    rise = phase < tp
    g[rise] = 0.5 * (1 - np.cos(np.pi * phase[rise] / tp))
    fall = (phase >= tp) & (phase < tp + tn)
    g[fall] = np.cos(0.5 * np.pi * (phase[fall] - tp) / tn)
    return g


def _glottal_source(f0: np.ndarray, voice: Voice, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Flow-derivative excitation with jitter and shimmer, and the flow itself.

    Jitter: each period's F0 is scaled by (1 + jitter * N(0,1)); the period index comes from
    a first, unjittered phase pass so the whole thing stays vectorised."""
    n_per = int(np.sum(f0) / SR) + 3
    k0 = np.floor(np.cumsum(f0) / SR).astype(np.int64)
    jit = 1.0 + voice.jitter * np.clip(rng.standard_normal(n_per), -3, 3)
    phase = np.cumsum(f0 * jit[k0]) / SR
    k = np.floor(phase).astype(np.int64)
    shim = 1.0 + voice.shimmer * np.clip(rng.standard_normal(k[-1] + 2), -3, 3)
    flow = _rosenberg(phase - k, voice.oq) * shim[k]
    deriv = np.diff(flow, prepend=0.0)
    return deriv, flow


@lru_cache(maxsize=256)
def _band_sos(lo: float, hi: float, order: int = 2) -> np.ndarray:
    hi = min(hi, 0.47 * SR)
    return signal.butter(order, [lo, hi], btype="bandpass", fs=SR, output="sos")


@lru_cache(maxsize=4)
def _highpass_sos(fc: float) -> np.ndarray:
    return signal.butter(2, fc, btype="highpass", fs=SR, output="sos")


def _smooth(x: np.ndarray, ms: float) -> np.ndarray:
    """Two passes of a moving average (a triangular kernel): edges become `ms`-long ramps."""
    w = max(int(ms * SR / 2000), 1)
    for _ in range(2):
        c = np.cumsum(np.concatenate([np.full(w, x[0]), x, np.full(w, x[-1])]))
        x = (c[2 * w:] - c[:-2 * w])[: len(x)] / (2 * w)
    return x


def _vocal_tract(x: np.ndarray, formants: np.ndarray, bws: np.ndarray) -> np.ndarray:
    """Cascade of 2-pole resonators (unity gain at DC) whose formants change every HOP samples.

    formants, bws: (n_frames, 5), frame f centred on sample f * HOP. Implemented as an
    input-switched time-varying filter: the excitation is cut into 50 %-overlapping Hann
    frames (which sum to one), each frame is filtered by its own tract in the frequency
    domain with enough zero padding for the resonances to ring out (-60 dB), and the outputs
    are overlap-added. Fully vectorised: no Python loop over samples or frames."""
    n = len(x)
    n_frames = formants.shape[0]
    win = np.hanning(2 * HOP + 1)[:-1]  # periodic Hann: frames at hop HOP sum to 1
    pad = np.concatenate([np.zeros(HOP), x, np.zeros(2 * HOP)])
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(2 * HOP)[None, :]
    frames = pad[np.minimum(idx, len(pad) - 1)] * win
    spec = sfft.rfft(frames.astype(np.float32), _NFFT, axis=1)
    h = _tract_response(formants, bws)
    out = sfft.irfft(spec * h, _NFFT, axis=1)
    blocks = out.reshape(n_frames, _NFFT // HOP, HOP)
    y = np.zeros((n_frames + _NFFT // HOP, HOP))
    for k in range(_NFFT // HOP):  # frame f's k-th block lands in output block f + k
        y[k:k + n_frames] += blocks[:, k]
    return y.ravel()[HOP:HOP + n]


_NFFT = 6 * HOP  # 2*HOP of frame + 40 ms of ringing: the narrowest formant decays below -60 dB


def _tract_response(formants: np.ndarray, bws: np.ndarray) -> np.ndarray:
    """Complex response (n_frames, bins) of the resonator cascade: multiply the five 2-pole
    denominators into one 10th-order polynomial per frame, then one batched FFT gives A(z)
    on the unit circle (5x cheaper than evaluating each section at every bin)."""
    r = np.exp(-np.pi * bws / SR)
    a1 = -2 * r * np.cos(2 * np.pi * formants / SR)
    a2 = r * r
    n_frames, n_sec = formants.shape
    poly = np.zeros((n_frames, 2 * n_sec + 1))
    poly[:, 0] = 1.0
    for k in range(n_sec):  # poly <- poly * (1 + a1 z^-1 + a2 z^-2)
        m = 2 * k + 1
        new = poly.copy()
        new[:, 1:m + 1] += a1[:, k, None] * poly[:, :m]
        new[:, 2:m + 2] += a2[:, k, None] * poly[:, :m]
        poly = new
    gain = np.prod(1 + a1 + a2, axis=1)[:, None]
    return (gain / sfft.rfft(poly, _NFFT, axis=1)).astype(np.complex64)


def render(sentence: Sentence, voice: Voice, rng: np.random.Generator,
           max_s: float = 3.0, min_s: float = 1.0) -> np.ndarray:
    """Dry speech (float64, no channel) at the voice's loudness re. a -30 dBFS reference."""
    tl = _timeline(sentence, voice, rng, max_s, min_s)
    n = tl[-1][2]
    n_frames = n // HOP + 2  # frame f is centred on sample f * HOP

    # Per-sample voicing and loudness envelopes, and formant knots, from the timeline.
    voicing = np.zeros(n)
    amp = np.zeros(n)
    knot_t, knot_f = [], []
    vtl = voice.vtl
    for seg, a, b in tl:
        if b <= a:
            continue
        if seg.kind == "vowel":
            voicing[a:b] = 1.0
            amp[a:b] = 10 ** ((3.0 * seg.accent + float(rng.normal(0, 1.0))) / 20)
            f = np.array(VOWELS[seg.unit] + F45) * vtl * rng.normal(1.0, 0.03, 5)
            for frac in (0.3, 0.7):
                knot_t.append((a + frac * (b - a)) / SR)
                knot_f.append(f)
        elif seg.kind == "cons" and CONSONANTS[seg.unit]["kind"] == "son":
            c = CONSONANTS[seg.unit]
            voicing[a:b] = 1.0
            amp[a:b] = 10 ** (c["level_db"] / 20)
            knot_t.append((a + 0.5 * (b - a)) / SR)
            knot_f.append(np.array(c["formants"] + F45) * vtl)
    voicing = np.clip(_smooth(voicing, 20), 0, 1)
    amp = _smooth(amp, 25) * voicing

    f0 = _f0_track(tl, voice, n, rng)
    deriv, flow = _glottal_source(f0, voice, rng)
    src = signal.lfilter([1 - voice.tilt], [1, -voice.tilt], deriv)
    src /= np.sqrt(np.mean(src[voicing > 0.5] ** 2)) + 1e-12
    asp = signal.sosfilt(_highpass_sos(800.0), rng.standard_normal(n))
    asp *= (0.25 + flow / (flow.max() + 1e-12)) * 10 ** (voice.breath_db / 20) * 1.2
    excitation = (src + asp) * amp

    frame_t = np.arange(n_frames) * HOP / SR
    kt, kf = np.array(knot_t), np.array(knot_f)
    formants = np.stack([np.interp(frame_t, kt, kf[:, j]) for j in range(5)], axis=1)
    formants = np.minimum(formants, 0.46 * SR)
    bws = np.broadcast_to(BANDWIDTHS * voice.bw_scale, formants.shape)
    speech = _vocal_tract(excitation, formants, bws)
    ref = np.sqrt(np.mean(speech[voicing > 0.5] ** 2)) + 1e-12

    # Consonant noise after the tract: fricatives, stop bursts (a closure is just silence).
    for seg, a, b in tl:
        if seg.kind != "cons" or b <= a:
            continue
        c = CONSONANTS[seg.unit]
        if c["kind"] == "son":
            continue
        lo, hi = (round(f * vtl ** 0.5, -1) for f in c["band"])
        if c["kind"] == "fric":
            m = b - a
            env = np.hanning(m + 2)[1:-1] ** 0.5
            start = a
        else:  # stop: closure for 60 %, then a 15 ms burst decaying into aspiration
            start = a + int(0.6 * (b - a))
            m = b - start
            env = np.exp(-np.arange(m) / (0.012 * SR))
        noise = signal.sosfilt(_band_sos(lo, hi), rng.standard_normal(m))
        noise /= np.sqrt(np.mean(noise ** 2)) + 1e-12
        lvl = 10 ** ((c["level_db"] + rng.normal(0, 2.0)) / 20)
        speech[start:start + m] += noise * env * lvl * ref

    return speech / ref * 10 ** ((voice.level_db - 30.0) / 20)


def apply_channel(x: np.ndarray, ch: Channel, rng: np.random.Generator) -> np.ndarray:
    """Room, noise floor and microphone chain; the per-utterance drift makes no two takes equal."""
    n = len(x)
    y = x
    if ch.rt60 > 0:
        rt = ch.rt60 * float(rng.uniform(0.9, 1.1))
        m = int(rt * SR)
        t = np.arange(m) / SR
        h = rng.standard_normal(m) * np.exp(-6.9 * t / rt)
        h[: int(0.004 * SR)] = 0.0  # pre-delay before the first reflections
        h *= np.sqrt(10 ** (-ch.drr_db / 10) / np.sum(h ** 2))
        y = x + signal.fftconvolve(x, h)[:n]
    noise = rng.standard_normal(n)
    if ch.noise_color == "pink":
        noise = signal.lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                               [1, -2.494956002, 2.017265875, -0.522189400], noise)
    elif ch.noise_color == "brown":
        noise = signal.lfilter([0.05], [1, -0.98], noise)
    elif ch.noise_color != "white":
        raise ValueError(f"noise_color must be white, pink or brown, not {ch.noise_color!r}")
    noise /= np.sqrt(np.mean(noise ** 2)) + 1e-12
    drift = rng.normal(0.0, ch.vary_db, 2)
    y = y + noise * 10 ** ((ch.noise_dbfs + drift[0]) / 20)
    for f0, gain_db, q in ch.eq:
        y = signal.lfilter(*_peaking(f0, gain_db, q), y)
    y = signal.sosfilt(_band_sos(ch.band_hz[0], ch.band_hz[1], ch.band_order), y)
    return y * 10 ** ((ch.gain_db + drift[1]) / 20)


def _peaking(f0: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ audio-EQ-cookbook peaking filter: a microphone's presence bump or dip."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / SR
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return b / den[0], den / den[0]


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float in [-1, 1) to int16 with clipping (as a real ADC would clip)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
