"""`--feature-set` resolved into an extractor: an openSMILE set by name, or `hf:<model>`.

Both kinds answer the same questions for the corpus driver (`_extract`): the feature columns,
the rate audio is read at, the cache setting (what decides the numbers), the parquet metadata,
and `run(paths, jobs, bar, into)`, which fills `into` with one outcome per file as it finishes.
"""

from __future__ import annotations

import numpy as np

from paragrid.errors import UserError
from paragrid.features.extract._hf import HF_PREFIX, HFExtractor
from paragrid.features.extract._opensmile import (
    FEATURE_LEVEL, FEATURE_SET, check_opensmile_set, opensmile_names, opensmile_version,
)
from paragrid.features.extract._pool import extract_many


class OpenSmileExtractor:
    """openSMILE functionals of one set, parallel over processes."""

    def __init__(self, feature_set: str, sample_rate: int):
        self.feature_set = check_opensmile_set(feature_set)
        self.sample_rate = sample_rate
        self.columns = list(opensmile_names(feature_set))

    def setting(self) -> dict:
        return {"feature_set": self.feature_set, "feature_level": FEATURE_LEVEL,
                "opensmile_version": opensmile_version(), "sample_rate": self.sample_rate}

    def meta(self) -> dict:
        return {"feature_set": self.feature_set, "feature_level": FEATURE_LEVEL}

    def run(self, paths: list[str], jobs: int, bar, into: dict[str, tuple]) -> None:
        extract_many(paths, self.sample_rate, jobs, bar, into, self.feature_set)


def make_extractor(feature_set: str = FEATURE_SET, sample_rate: int | None = None, layer=None,
                   pooling: str = "mean", **hf_options):
    """The extractor `--feature-set` names; `--layer` / `--pooling` belong to hf: sets only."""
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer))
                                    or isinstance(sample_rate, bool) or sample_rate <= 0):
        raise UserError(f"--sample-rate {sample_rate} must be a positive whole number of Hz")
    if feature_set.startswith(HF_PREFIX):
        source = feature_set[len(HF_PREFIX):]
        if not source:
            raise UserError("--feature-set hf: needs a model folder or hub id, e.g. hf:models/wavlm-base-plus")
        extractor = HFExtractor(source, layer=layer, pooling=pooling, **hf_options)
        if sample_rate is not None and sample_rate != extractor.sample_rate:
            print(f"note: hf:{source} takes {extractor.sample_rate} Hz audio; --sample-rate {sample_rate} "
                  "is not used")
        return extractor
    if layer is not None or pooling != "mean":
        raise UserError(f"--layer and --pooling choose a self-supervised model's hidden states; "
                        f"{feature_set} is an openSMILE set (give --feature-set hf:<model folder>)")
    return OpenSmileExtractor(feature_set, 16000 if sample_rate is None else int(sample_rate))
