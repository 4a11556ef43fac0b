"""Rendering: a sentence spoken in a voice becomes dry speech (no room, no microphone).

The Klatt-style source-filter model of `_voice`, vectorised: segments placed on the sample
axis at the voice's tempo, an F0 contour (declination, pitch accents, final fall or rise),
Rosenberg glottal pulses with jitter and shimmer, a cascade of five resonators whose formants
glide between vowel targets (coefficients every 10 ms), and consonant noise after the tract.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import signal

from paragrid.features.synth._voice import (
    BANDWIDTHS, CONSONANTS, F45, HOP, SR, VOWELS, Segment, Sentence, Voice,
)


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
def band_sos(lo: float, hi: float, order: int = 2) -> np.ndarray:
    """Butterworth band-pass (second-order sections), cached: consonant noise and channels."""
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
        noise = signal.sosfilt(band_sos(lo, hi), rng.standard_normal(m))
        noise /= np.sqrt(np.mean(noise ** 2)) + 1e-12
        lvl = 10 ** ((c["level_db"] + rng.normal(0, 2.0)) / 20)
        speech[start:start + m] += noise * env * lvl * ref

    return speech / ref * 10 ** ((voice.level_db - 30.0) / 20)
