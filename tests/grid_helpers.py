"""Tiny corpora and specs for the grid tests: seconds, not minutes, on a shared 2-core box.

A tiny corpus is a features parquet in the docs/FORMATS.md section 2 layout with a handful of
random features in which emotion, gender and speaker leave a weak trace (so training has
something to learn, but nothing here asserts a score).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from paragrid.features.extract import write_parquet_atomic

EMOTIONS = ["angry", "happy", "neutral", "sad"]
TINY_ARCH = {"layers": 2, "width": 8, "activation": "sigmoid", "dropout": 0.0}
TINY_TRAINING = {"lr": 0.01, "optimizer": "adam", "batch_size": 32, "max_epochs": 5,
                 "patience": None, "curve_stride": 2}


def write_corpus(path: Path, name: str, n_speakers: int = 4, per_speaker: int = 16, d: int = 6,
                 seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    feats = [f"feat{i}" for i in range(d)]
    centres = rng.standard_normal((len(EMOTIONS), d))
    for s in range(n_speakers):
        gender = "F" if s % 2 == 0 else "M"
        offset = rng.standard_normal(d) * 0.5 + (1.0 if gender == "F" else -1.0)
        for u in range(per_speaker):
            emo = EMOTIONS[u % len(EMOTIONS)]
            x = centres[EMOTIONS.index(emo)] + offset + rng.standard_normal(d)
            rows.append({"utterance_id": f"{name}-{s}-{u}", "path": f"/nowhere/{name}/{s}/{u}.wav",
                         "speaker": f"{name}-S{s}", "gender": gender, "emotion": emo, "corpus": name,
                         "duration": 1.0, "sample_rate": 16000,
                         **{f: float(v) for f, v in zip(feats, x)}})
    df = pd.DataFrame(rows)
    meta = {"format_version": 1, "feature_set": "test", "feature_level": "Functionals",
            "opensmile_version": "none", "sample_rate": 16000, "n_resampled": 0, "corpus": name,
            "source": "tests", "feature_columns": feats, "created_utc": "2026-01-01T00:00:00Z"}
    path = Path(path)
    write_parquet_atomic(df, path, meta)
    return path


def write_corpora(folder: Path) -> dict[str, Path]:
    folder = Path(folder)
    return {"ca": write_corpus(folder / "ca.parquet", "ca", seed=1),
            "cb": write_corpus(folder / "cb.parquet", "cb", seed=2)}


def tiny_spec(name: str = "tiny", **over) -> dict:
    doc = {"name": name, "corpora": {"ca": "ca.parquet", "cb": "cb.parquet"}, "task": "emotion",
           "targets": ["ca"], "methods": ["dnn", "ptft", "prognet"], "sources": [["gender"]],
           "budgets": ["all"], "k": 4, "repeats": 1, "seed": 0, "normalisation": "train",
           "architecture": dict(TINY_ARCH), "training": dict(TINY_TRAINING),
           "resources": {"cpu": 1, "gpu": 0}, "max_failures": 1}
    doc.update(over)
    return doc


def write_spec(folder: Path, doc: dict, filename: str | None = None) -> Path:
    path = Path(folder) / (filename or f"{doc['name']}.yaml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def free_ports(n: int) -> list[int]:
    """n distinct free ports (all held open while choosing, so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def quiet_env() -> dict:
    env = dict(os.environ)
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0", RAY_AUTH_MODE="disabled",
               PYTHONUNBUFFERED="1")
    return env


# ----------------------------------------------------------------------------- Ray processes

def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see (Linux /proc)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry)] = (ppid, cmd)
    return table


def processes_of(marker: str) -> list[int]:
    """Pids whose command line names `marker` (a temp dir only our cluster uses), with all
    their descendants (Ray renames its agents and workers, but they are the raylet's children)."""
    table = _proc_table()
    found = {pid for pid, (_, cmd) in table.items() if marker in cmd and pid != os.getpid()}
    grew = True
    while grew:
        kids = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        grew = bool(kids)
        found |= kids
    return sorted(found)


def stop_processes(pids: list[int], timeout: float = 3.0) -> list[int]:
    """SIGTERM, wait, then SIGKILL what is left; only the given pids. Returns survivors."""
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + timeout
        while time.time() < deadline:
            alive = [p for p in pids if _alive(p)]
            if not alive:
                return []
            time.sleep(0.2)
        pids = alive
    return [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
