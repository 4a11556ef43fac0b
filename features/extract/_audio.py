"""Reading one audio file for openSMILE, and every way a corpus copy can go wrong with it.

We read audio ourselves (soundfile) rather than letting openSMILE open files, so that every
kind of bad file (missing, empty, truncated, not audio, silent, too short) becomes a
`BadAudio` with a `kind` the extractor turns into a one-line UserError naming the file and the
fix, or a row of `<out stem>.skipped.csv` with `skip_bad`.

Decisions on bad input (documented because they change which rows exist):
- shorter than MIN_DURATION_S (0.1 s): bad. openSMILE needs one 60 ms window and returns NaN
  below it; a handful of frames gives degenerate functionals (zero spread, no slopes).
- digital silence (every sample rounds to 0 at 16 bit, which is what openSMILE sees): bad.
  openSMILE returns finite constants for it, but they describe the recording defect, not speech.
- NaN/inf samples, or any NaN among the 88 features: bad. No NaN ever reaches the parquet.
"""

from __future__ import annotations

import math
import os

import numpy as np

MIN_DURATION_S = 0.1


class BadAudio(Exception):
    """A file the extractor cannot turn into 88 finite features; `kind` indexes `_extract.FIXES`."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


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
    import soundfile as sf  # heavy: soundfile (reading features needs no audio library: GPU boxes lack it)

    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        raise BadAudio("unreadable", f"is not readable audio (soundfile: {err.error_string})") from None
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as err:
        raise BadAudio("unreadable", f"is not readable audio (soundfile: {one_line(err)})") from None

    signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(signal).all():
        raise BadAudio("nonfinite", "contains NaN or infinite samples")
    seconds = len(signal) / rate
    if seconds < MIN_DURATION_S:
        raise BadAudio("too_short", f"is too short ({seconds:.3f} s; eGeMAPS needs at least "
                                    f"{MIN_DURATION_S} s)")
    if rate != sample_rate:
        from scipy.signal import resample_poly  # heavy: scipy.signal (~1 s a worker skips)

        g = math.gcd(sample_rate, rate)
        signal = resample_poly(signal, sample_rate // g, rate // g).astype(np.float32)
    # openSMILE scales by 32768 and casts to int16: clip so loud float files do not wrap around.
    signal = np.clip(signal, -1.0, 32767 / 32768)
    if np.abs(signal).max() < 1 / 32768:
        raise BadAudio("silent", "is silent (every sample rounds to zero at 16 bit)")
    return signal, rate


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
