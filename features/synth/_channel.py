"""The recording chain: what makes two corpora sound like two recording set-ups.

A `Channel` is a room (reverberation from a decaying-noise impulse response), a noise floor,
microphone EQ, a band-pass and a gain, with per-utterance drift so no two takes are equal.
`to_pcm16` is the ADC at the end of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from paragrid.features.synth._render import band_sos
from paragrid.features.synth._voice import SR


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
    y = signal.sosfilt(band_sos(ch.band_hz[0], ch.band_hz[1], ch.band_order), y)
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
