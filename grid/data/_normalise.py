"""Feature z-normalisation per corpus, in the paper's transductive mode or leakage-free.

Two modes, recorded with every result (`normalisation` column, docs/FORMATS.md):
  'corpus'  the paper's: mean/std over every utterance of the corpus, test fold included.
            Transductive but label-free; offered for fidelity to the published numbers.
  'train'   mean/std from each step's TRAINING rows only, so nothing about the validation or
            test utterances reaches the model. The default for user specs.
Call it once per corpus: the PROTOCOL stresses per-corpus statistics, since corpora differ in
level and one shared scaler can collapse a cross-corpus model onto one class.

Statistics are computed in float64 with the population std (ddof=0, as sklearn's StandardScaler
and the usual per-corpus z-score); the result is float32. A feature that is constant on the rows
the statistics come from carries nothing the model could learn, so it maps to 0 for every row
(never NaN/inf, even where a test row differs from the training constant).
"""
from __future__ import annotations

import numpy as np

from paragrid.errors import UserError
from paragrid.grid.data._folds import FoldSteps

MODES = {
    "corpus": "per-corpus stats over all utterances (paper; transductive, label-free)",
    "train": "per-step stats over the training folds only (leakage-free)",
}
DEFAULT_MODE = "train"

# A std this small relative to the feature's magnitude is rounding noise of a constant column
# (the float64 mean of n equal values can be off by an ulp), far below float32 resolution.
_CONSTANT_RTOL = 1e-10


def _stats(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) over rows, std replaced by inf where the column is constant (-> z = 0)."""
    mean = rows.mean(axis=0)
    std = rows.std(axis=0)  # ddof=0
    constant = std <= _CONSTANT_RTOL * np.abs(mean)
    return mean, np.where(constant, np.inf, std)


def zscore(x: np.ndarray, steps: FoldSteps, mode: str = DEFAULT_MODE, *, view: bool = False) -> np.ndarray:
    """x (N, D) float -> (k, N, D) float32 normalised per step (see the module docstring).

    Always a fresh, writable, contiguous array, except with mode 'corpus' and view=True: then a
    read-only broadcast view (stride 0 on the step axis; every step is the same matrix), which
    saves k-1 copies but makes torch.as_tensor warn about a non-writable array.
    """
    if mode not in MODES:
        raise UserError(f"normalisation mode must be one of {sorted(MODES)}, got {mode!r}")
    x = np.asarray(x)
    k, n = steps.train.shape
    if x.ndim != 2 or x.shape[0] != n:
        raise UserError(f"features must be (N, D) with N={n} utterances to match the folds, got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise UserError(f"features must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise UserError(f"features contain NaN/inf in {bad.size} utterances (rows {bad[:5].tolist()}...); "
                        "fix or drop them in the feature table")

    if mode == "corpus":
        mean, std = _stats(x)
        z = ((x - mean) / std).astype(np.float32)
        return np.broadcast_to(z, (k,) + z.shape) if view else np.repeat(z[None], k, axis=0)

    out = np.empty((k,) + x.shape, dtype=np.float32)
    for i in range(k):  # k is ~10; each step is vectorised over N and D
        rows = x[steps.train[i]]
        if rows.shape[0] == 0:
            raise UserError(f"step {i} has no training utterances; check the folds and budget")
        mean, std = _stats(rows)
        out[i] = (x - mean) / std
    return out
