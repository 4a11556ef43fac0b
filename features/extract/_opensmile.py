"""openSMILE configurations by name, and running one on one file.

Every functionals set openSMILE ships can be extracted by its name (`eGeMAPSv02`, the paper's and
the default, 88 features; `GeMAPSv01b`, 62; `ComParE_2016`, 6,373; `emobase`, 988; the
`IS09`..`IS13` challenge sets where the installed openSMILE has them). openSMILE is imported on
first use only (it is heavy, and the parquet reader, which the grid driver imports, needs
nothing of it but the feature names when a frame lost its metadata). One `Smile` per feature set
is built per process: in each worker of the pool, or in the caller with jobs=1.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from paragrid.errors import UserError
from paragrid.features.extract._audio import BadAudio, load_audio, one_line

FEATURE_SET = "eGeMAPSv02"   # the default: the paper's set
FEATURE_LEVEL = "Functionals"

_SMILES: dict[str, object] = {}  # feature set -> this process's openSMILE configuration


def opensmile_sets() -> list[str]:
    """The feature set names the installed openSMILE knows (opensmile.FeatureSet)."""
    import opensmile  # heavy: opensmile

    return [m.name for m in opensmile.FeatureSet]


def check_opensmile_set(name: str) -> str:
    """`name` when openSMILE has it; otherwise a one-line UserError listing the choices."""
    names = opensmile_sets()
    if name not in names:
        raise UserError(f"--feature-set {name!r} is not an openSMILE set; choose one of "
                        f"{', '.join(names)}, or hf:<model folder> for a self-supervised model")
    return name


def smile(feature_set: str = FEATURE_SET):
    """This process's openSMILE `Smile` for `feature_set`, built on first use (also the pool's
    worker initializer)."""
    if feature_set not in _SMILES:
        import opensmile  # heavy: opensmile

        _SMILES[feature_set] = opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set],
                                               feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILES[feature_set]


@lru_cache(maxsize=None)
def opensmile_names(feature_set: str) -> tuple[str, ...]:
    """openSMILE's own names of the set's functionals, in its order."""
    return tuple(smile(feature_set).feature_names)


def egemaps_names() -> list[str]:
    """openSMILE's own names of the 88 eGeMAPSv02 functionals, in its order."""
    return list(opensmile_names(FEATURE_SET))


def opensmile_version() -> str:
    import opensmile  # heavy: opensmile

    return opensmile.__version__


def extract_one(path: str, sample_rate: int, feature_set: str = FEATURE_SET) -> tuple[np.ndarray, int]:
    """(the set's float64 features, the file's own sample rate); BadAudio for any unusable file."""
    signal, rate = load_audio(path, sample_rate)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = smile(feature_set).process_signal(signal, sample_rate).to_numpy(dtype=np.float64)[0]
    except Exception as err:  # openSMILE's own failure on one file must not end the corpus
        raise BadAudio("failed", f"failed in openSMILE ({type(err).__name__}: {one_line(err)})") from None
    n_nan = int((~np.isfinite(values)).sum())
    if n_nan:
        raise BadAudio("nan_features", f"gave NaN for {n_nan} of {len(values)} {feature_set} features")
    return values, rate
