"""A tiny corpus parquet and spec for the tuning tests (written in the test's tmp folder)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from paragrid.features.extract import write_parquet_atomic

CLASSES = ["angry", "happy", "neutral", "sad"]


def corpus_frame(n_speakers: int = 4, per_speaker: int = 32, n_features: int = 6, seed: int = 0
                 ) -> tuple[pd.DataFrame, list[str]]:
    """Learnable but noisy: each class shifts one feature, speakers shift everything a little."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        for i in range(per_speaker):
            rows.append({"utterance_id": f"s{s}-u{i:03d}", "path": f"/nowhere/s{s}-u{i:03d}.wav",
                         "speaker": f"spk{s}", "gender": "MF"[s % 2], "emotion": CLASSES[i % 4],
                         "corpus": "toy", "duration": 1.0, "sample_rate": 16000})
    df = pd.DataFrame(rows)
    y = df["emotion"].map(CLASSES.index).to_numpy()
    speaker = df["speaker"].str[3:].astype(int).to_numpy()
    x = rng.normal(size=(len(df), n_features)) + 1.2 * np.eye(4, n_features)[y] \
        + 0.3 * rng.normal(size=(n_speakers, n_features))[speaker]
    features = [f"feat{j}" for j in range(n_features)]
    for j, name in enumerate(features):
        df[name] = x[:, j]
    return df, features


def write_corpus(path: Path, df: pd.DataFrame, features: list[str]) -> Path:
    meta = {"format_version": 1, "feature_set": "toy", "feature_level": "Functionals",
            "opensmile_version": "none", "sample_rate": 16000, "n_resampled": 0, "corpus": "toy",
            "source": "tests", "feature_columns": features, "created_utc": "2026-01-01T00:00:00Z"}
    write_parquet_atomic(df, path, meta)
    return path


def write_spec(path: Path, corpus: Path, tune: dict | None = None, **overrides) -> Path:
    doc = {"name": "toy", "corpora": {"toy": str(corpus)}, "methods": ["dnn"], "k": 4,
           "repeats": 1, "seed": 0, "normalisation": "train",
           "training": {"max_epochs": 6, "batch_size": 32}, **overrides}
    if tune is not None:
        doc["tune"] = tune
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
