"""Difficulty check of the synthetic corpora (scratch tool for the lead, not part of paragrid).

Usage:
    /work/main/.venv/bin/paragrid synth /tmp/synthcorp --jobs 2
    /work/main/.venv/bin/python /work/notes/synthcheck.py /tmp/synthcorp [--jobs 2] [--folds 5]

Extracts eGeMAPSv02 functionals with openSMILE directly (cached next to the corpora as
egemaps-<corpus>.pkl; delete to re-extract), z-normalises each corpus with its own statistics
(the paper's per-corpus normalisation), and reports UAR (macro recall) of a multinomial
logistic regression (L2, full-batch L-BFGS in torch) and of a small MLP:
  - within each corpus, 5-fold CV stratified by speaker (each speaker's utterances spread
    over the folds): emotion, gender, speaker;
  - cross-corpus emotion: train on all of one corpus, test on all of the other.
Also prints openSMILE's F0 (Hz) per gender and the voiced fraction, to show F0 is tracked.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def _extract(path: str) -> np.ndarray:
    import opensmile

    global _SMILE
    if "_SMILE" not in globals():
        _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILE.process_file(path).to_numpy()[0]


def features(root: Path, name: str, jobs: int) -> pd.DataFrame:
    cache = root / f"egemaps-{name}.pkl"
    man = pd.read_csv(root / name / "manifest.csv")
    if cache.exists():
        df = pd.read_pickle(cache)
        if len(df) == len(man) and (df.utterance_id.values == man.utterance_id.values).all():
            return df
    import opensmile

    cols = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals).feature_names
    paths = [str(root / name / p) for p in man.path]
    t = time.time()
    with mp.get_context("spawn").Pool(jobs) as pool:
        x = np.stack(pool.map(_extract, paths, chunksize=16))
    print(f"extracted {name}: {len(paths)} files in {time.time() - t:.0f} s")
    df = pd.concat([man, pd.DataFrame(x, columns=cols)], axis=1)
    df.to_pickle(cache)
    return df


def zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1), 0.0)


def uar(y: np.ndarray, p: np.ndarray, n: int) -> float:
    return float(np.mean([np.mean(p[y == c] == c) for c in range(n) if np.any(y == c)]))


def fit_predict(xtr, ytr, xte, n, kind="logreg", seed=0, l2=1e-3) -> np.ndarray:
    torch.manual_seed(seed)
    xtr_t = torch.tensor(xtr, dtype=torch.float32)
    ytr_t = torch.tensor(ytr)
    # class-balanced loss: UAR is the target metric and the classes are unbalanced
    w = torch.tensor(len(ytr) / (n * np.maximum(np.bincount(ytr, minlength=n), 1)),
                     dtype=torch.float32)
    if kind == "logreg":
        net = torch.nn.Linear(xtr.shape[1], n)
        opt = torch.optim.LBFGS(net.parameters(), max_iter=300, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xtr_t), ytr_t, weight=w)
            loss = loss + l2 * sum((p ** 2).sum() for n_, p in net.named_parameters()
                                   if n_.endswith("weight"))
            loss.backward()
            return loss

        opt.step(closure)
    else:
        net = torch.nn.Sequential(torch.nn.Linear(xtr.shape[1], 128), torch.nn.ReLU(),
                                  torch.nn.Dropout(0.3), torch.nn.Linear(128, n))
        opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
        for _ in range(300):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr_t), ytr_t, weight=w).backward()
            opt.step()
        net.eval()
    with torch.no_grad():
        return net(torch.tensor(xte, dtype=torch.float32)).argmax(1).numpy()


def speaker_folds(speakers: np.ndarray, labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(speakers), int)
    for s in np.unique(speakers):
        idx = np.flatnonzero(speakers == s)
        idx = idx[rng.permutation(len(idx))]
        idx = idx[np.argsort(labels[idx], kind="stable")]  # spread each label over folds
        fold[idx] = (np.arange(len(idx)) + rng.integers(k)) % k
    return fold


def cv_uar(x, labels, speakers, k, kind) -> float:
    classes, y = np.unique(labels, return_inverse=True)
    fold = speaker_folds(speakers, y, k, seed=0)
    pred = np.zeros_like(y)
    for f in range(k):
        te = fold == f
        pred[te] = fit_predict(x[~te], y[~te], x[te], len(classes), kind)
    return uar(y, pred, len(classes))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--kinds", default="logreg,mlp")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dfs = {c: features(args.root, c, args.jobs) for c in ("synth-a", "synth-b")}
    feat = [c for c in dfs["synth-a"].columns if c not in pd.read_csv(
        args.root / "synth-a" / "manifest.csv", nrows=1).columns]
    xs = {c: zscore(df[feat].to_numpy(np.float64)) for c, df in dfs.items()}
    print(f"{len(feat)} features")
    for c, df in dfs.items():
        f0 = 27.5 * 2 ** (df["F0semitoneFrom27.5Hz_sma3nz_amean"] / 12)
        table = f0.groupby([df.gender, df.emotion]).median().unstack().round(0)
        print(f"{c}: openSMILE F0 (Hz), median per gender x emotion:\n{table}")
        print(f"{c}: F0 range over utterances: M [{f0[df.gender == 'M'].min():.0f}, "
              f"{f0[df.gender == 'M'].max():.0f}], F [{f0[df.gender == 'F'].min():.0f}, "
              f"{f0[df.gender == 'F'].max():.0f}]; NaN features "
              f"{int(df[feat].isna().sum().sum())}")
    for kind in args.kinds.split(","):
        print(f"--- {kind} ---")
        for c, df in dfs.items():
            spk = df.speaker.to_numpy()
            res = {task: cv_uar(xs[c], df[task].to_numpy(), spk, args.folds, kind)
                   for task in ("emotion", "gender", "speaker")}
            print(f"{c}: within-corpus {args.folds}-fold UAR: "
                  + ", ".join(f"{t} {u:.3f} (chance {1 / dfs[c][t].nunique():.3f})"
                              for t, u in res.items()))
        for src, tgt in (("synth-a", "synth-b"), ("synth-b", "synth-a")):
            classes, ys = np.unique(dfs[src].emotion, return_inverse=True)
            yt = np.searchsorted(classes, dfs[tgt].emotion.to_numpy())
            pred = fit_predict(xs[src], ys, xs[tgt], len(classes), kind)
            print(f"cross-corpus emotion {src} -> {tgt}: UAR {uar(yt, pred, len(classes)):.3f}")


if __name__ == "__main__":
    main()
