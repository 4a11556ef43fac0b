"""Speaker-level bootstrap confidence intervals for paired UAR differences.

The repeated-CV t-tests (calibrated, corrected) treat folds as the unit of replication; a
reviewer of many-corpus work asks instead how much a difference owes to *which speakers* a
corpus happens to hold. The speaker bootstrap answers that: draw the corpus's speakers with
replacement (not utterances: a speaker's utterances are not independent), recompute every paired
fold's UAR for both methods from the drawn speakers' confusion matrices (results column
`speaker_confusion`), and take the mean paired difference over the folds. The percentile interval
of a few thousand seeded draws is the CI. Both methods see the same draw (the pairing is kept).

It is vectorised: a draw is a vector of speaker multiplicities w (multinomial), a fold's
confusion under it is sum_s w_s C[fold, s], one einsum for all draws at once; no Python loop
per draw. When to trust which (docs/PROTOCOL.md): the t-tests answer "would another split of
these speakers give the same verdict", the bootstrap "would other speakers from the same
population"; with few speakers (< ~10) the bootstrap's interval is too narrow (it cannot
invent speakers it never saw) and the t-tests are the better guide.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

DRAWS = 2000
LEVEL = 0.95
SEED = 0


def uar_under_draws(conf: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(D, P) UAR of each of P folds under each of D draws; conf (P, S, C, C), weights (D, S).
    A class with no utterance under a draw is left out of that fold's mean recall."""
    cm = np.einsum("ds,pscz->dpcz", weights, conf, optimize=True)
    support = cm.sum(axis=-1)
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, diag / np.where(support > 0, support, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a fold whose speakers were all left out
        return np.nanmean(recall, axis=-1)


def speaker_bootstrap(conf_a: np.ndarray, conf_b: np.ndarray, draws: int = DRAWS, level: float = LEVEL,
                      seed: int = SEED) -> tuple[float, float]:
    """Percentile CI of mean_over_folds(UAR_A - UAR_B) resampling speakers; conf_* (P, S, C, C)
    counts of the same P paired folds and S speakers (zeros where a speaker is not in a fold)."""
    n_speakers = conf_a.shape[1]
    if n_speakers < 2 or conf_a.shape[0] == 0:
        return float("nan"), float("nan")
    weights = _weights(n_speakers, draws, seed)
    return _interval(uar_under_draws(conf_a.astype(float), weights),
                     uar_under_draws(conf_b.astype(float), weights), level)


def _weights(n_speakers: int, draws: int, seed: int) -> np.ndarray:
    """(D, S) speaker multiplicities of the seeded draws (the same draws for both cells)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_speakers, np.full(n_speakers, 1.0 / n_speakers), size=draws).astype(float)


def _interval(uar_a: np.ndarray, uar_b: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the per-draw mean paired difference; uar_* (D, P)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stat = np.nanmean(uar_a - uar_b, axis=1)
    stat = stat[np.isfinite(stat)]
    if stat.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(stat, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def confusion_tensor(rows: pd.DataFrame, speakers: list[str], n_classes: int) -> np.ndarray:
    """(P, S, C, C) from the rows' `speaker_confusion` JSON, rows in pairing order."""
    index = {s: i for i, s in enumerate(speakers)}
    out = np.zeros((len(rows), len(speakers), n_classes, n_classes))
    for p, text in enumerate(rows["speaker_confusion"]):
        for spk, cm in json.loads(text).items():
            out[p, index[spk]] = cm
    return out


def paired_bootstrap(ra: pd.DataFrame, rb: pd.DataFrame, draws: int = DRAWS, level: float = LEVEL,
                     seed: int = SEED, cache: dict | None = None, cells: tuple = ()) -> tuple[float, float]:
    """The CI for two cells' rows, paired on (repeat, fold); NaN when a row lacks speaker data
    (results written before the column existed, or nested tuning's).

    `cache` (with `cells`, the two cells' keys) keeps each cell's UARs under the draws, so a
    cell compared with several others (a target's DNN with every transfer method and source) is
    resampled once, not once per comparison; the numbers are the same either way."""
    if "speaker_confusion" not in ra.columns or "speaker_confusion" not in rb.columns:
        return float("nan"), float("nan")
    merged = ra[["repeat", "fold", "speaker_confusion", "classes"]].merge(
        rb[["repeat", "fold", "speaker_confusion"]], on=["repeat", "fold"], suffixes=("_a", "_b"))
    if merged.empty or merged["speaker_confusion_a"].isna().any() or merged["speaker_confusion_b"].isna().any():
        return float("nan"), float("nan")
    n_classes = len(json.loads(merged["classes"].iloc[0]))
    speakers = sorted({s for col in ("speaker_confusion_a", "speaker_confusion_b")
                       for text in merged[col] for s in json.loads(text)})
    if len(speakers) < 2:
        return float("nan"), float("nan")
    pairs = tuple(zip(merged["repeat"].tolist(), merged["fold"].tolist()))
    uars = []
    for side, cell in zip("ab", cells or (None, None)):
        key = None if cache is None or cell is None else (cell, pairs, tuple(speakers), draws, seed)
        if key is None or key not in cache:
            conf = confusion_tensor(merged.rename(columns={f"speaker_confusion_{side}": "speaker_confusion"}),
                                    speakers, n_classes)
            uar = uar_under_draws(conf, _weights(len(speakers), draws, seed))
            if key is None:
                uars.append(uar)
                continue
            cache[key] = uar
        uars.append(cache[key])
    return _interval(uars[0], uars[1], level)
