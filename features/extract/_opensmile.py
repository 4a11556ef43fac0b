"""The one openSMILE configuration paragrid extracts with, and running it on one file.

eGeMAPSv02 functionals: 88 features per utterance. openSMILE is imported on first use only
(it is heavy, and the parquet reader, which the grid driver imports, needs nothing of it but
the feature names when a frame lost its metadata). One `Smile` is built per process: in each
worker of the pool, or in the caller with jobs=1.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from paragrid.features.extract._audio import BadAudio, load_audio, one_line

FEATURE_SET = "eGeMAPSv02"
FEATURE_LEVEL = "Functionals"

_SMILE = None  # one openSMILE configuration per process (worker or, with jobs=1, the caller)


def smile():
    """This process's openSMILE `Smile`, built on first use (also the pool's worker initializer)."""
    global _SMILE
    if _SMILE is None:
        import opensmile  # heavy: opensmile

        _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILE


@lru_cache(maxsize=1)
def egemaps_names() -> list[str]:
    """openSMILE's own names of the 88 eGeMAPSv02 functionals, in its order."""
    return list(smile().feature_names)


def opensmile_version() -> str:
    import opensmile  # heavy: opensmile

    return opensmile.__version__


def extract_one(path: str, sample_rate: int) -> tuple[np.ndarray, int]:
    """(88 float64 features, the file's own sample rate); BadAudio for any unusable file."""
    signal, rate = load_audio(path, sample_rate)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = smile().process_signal(signal, sample_rate).to_numpy(dtype=np.float64)[0]
    except Exception as err:  # openSMILE's own failure on one file must not end the corpus
        raise BadAudio("failed", f"failed in openSMILE ({type(err).__name__}: {one_line(err)})") from None
    n_nan = int((~np.isfinite(values)).sum())
    if n_nan:
        raise BadAudio("nan_features", f"gave NaN for {n_nan} of {len(values)} eGeMAPS features")
    return values, rate
