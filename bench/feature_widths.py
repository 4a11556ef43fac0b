"""Feature sets at their real widths: training throughput and memory per fold-model at 88
(eGeMAPS), 1,024 (a large self-supervised model's layer) and 6,373 (ComParE) inputs, and
extraction throughput per feature set on the CPU.

Training: the paper's network (4 x 256 sigmoid, dropout 0.5, Adam, batch 256) on N random
Gaussian utterances with random labels, k = 10 fold-models stacked (train_folds, F = k, per-step
features as the grid's `train` normalisation gives them: F x N x D float32). Throughput is
fold-epochs/s (best of --rounds); memory per fold-model is the growth of peak RSS in a fresh
child process beyond its peak after it imported torch and built the data (drawn in float32, so
no larger temporary sets that peak), divided by F (one epoch, no warm-up in that process:
allocator and kernel set-up count too). The features themselves are built before the
measurement, so it leaves them out; paragrid's own estimate (grid.plan.bytes_per_fold_model,
what the pack-size rule uses) counts them, and is shown both ways.

Extraction: --n synthetic utterances (the demo's voice model) through `extract_features` with
--jobs 1 and a fresh cache per set: every openSMILE set named, and self-supervised models of
wav2vec 2.0 base and WavLM base *size* (their configs' defaults: 12 layers, 768 wide), randomly
initialised because nothing downloads here: speed does not depend on the weights' values.

Run: .venv/bin/python bench/feature_widths.py --n-train 2000 --n-utts 24 [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import benchlib

WIDTHS = (88, 1024, 6373)
OPENSMILE_SETS = ("eGeMAPSv02", "GeMAPSv01b", "emobase", "ComParE_2016")


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--n-train", type=int, default=2000, help="utterances in the training data (default 2000)")
    ap.add_argument("--k", type=int, default=10, help="fold-models stacked (default 10)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per timed run (default 2)")
    ap.add_argument("--rounds", type=int, default=2, help="timed runs per width; best and median (default 2)")
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="input widths (default 88,1024,6373)")
    ap.add_argument("--n-utts", type=int, default=24, help="synthetic utterances to extract (default 24)")
    ap.add_argument("--sets", default=",".join(OPENSMILE_SETS) + ",hf:wav2vec2-base-size,hf:wavlm-base-size",
                    help="feature sets to extract (hf:wav2vec2-base-size / hf:wavlm-base-size: random models "
                         "of that size); empty for none")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # the memory probe's own process
    return ap.parse_args(argv)


def _data(n: int, width: int, k: int):
    from paragrid.models.data import FoldData

    rng = np.random.default_rng(0)
    fold = rng.permutation(np.arange(n) % k)
    test = np.stack([fold == f for f in range(k)])
    val = np.stack([fold == (f + 1) % k for f in range(k)])
    x = rng.standard_normal((k, n, width), dtype=np.float32)   # per-step normalised copies (no float64 temporary)
    return FoldData(x, rng.integers(0, 4, n), ~(test | val), val, test, 4)


def _settings(epochs: int):
    from paragrid.models.config import Architecture, TrainSettings

    return (Architecture(layers=4, width=256, activation="sigmoid", dropout=0.5),
            TrainSettings(lr=5e-4, optimizer="adam", batch_size=256, max_epochs=epochs, curve_stride=epochs))


def _status_mib(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (VmHWM, unlike ru_maxrss, starts afresh at exec:
    Linux carries ru_maxrss over from the parent that forked the child)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_child(width: int, n: int, k: int) -> None:
    """Runs in a fresh process: peak RSS growth of one training epoch, per fold-model."""
    import torch

    from paragrid.models.options import Pack, Run
    from paragrid.models.train import train_folds

    torch.set_num_threads(1)
    data = _data(n, width, k)
    arch, settings = _settings(1)
    before = _status_mib("VmHWM")   # growth beyond every earlier peak of this process
    with benchlib.contained(threads=1):
        train_folds(data, arch, settings, "dnn", pack=Pack(seed=0), run=Run(device="cpu"))
    print(json.dumps({"per_fold_mib": (_status_mib("VmHWM") - before) / k}))


def train_part(args) -> tuple[list[list], dict]:
    from paragrid.grid.plan import bytes_per_fold_model
    from paragrid.models.options import Pack, Run
    from paragrid.models.train import train_folds

    rows, result = [], {}
    warm_arch, warm_settings = _settings(1)   # lazy imports, allocator, kernels: not timed
    train_folds(_data(64, 8, 3), warm_arch, warm_settings, "dnn", pack=Pack(seed=0), run=Run(device="cpu"))
    for width in [int(w) for w in args.widths.split(",") if w.strip()]:
        data = _data(args.n_train, width, args.k)
        arch, settings = _settings(args.epochs)
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            train_folds(data, arch, settings, "dnn", pack=Pack(seed=0), run=Run(device="cpu"))
            times.append(time.perf_counter() - t)
        rate = [args.k * args.epochs / s for s in times]
        child = subprocess.run([sys.executable, __file__, "--child", f"{width},{args.n_train},{args.k}"],
                               capture_output=True, text=True, check=True)
        measured = json.loads(child.stdout.strip().splitlines()[-1])["per_fold_mib"]
        estimate = bytes_per_fold_model(n_rows=args.n_train, n_in=width, width=256, layers=4, n_classes=4,
                                        batch_size=256) / 2**20
        features = args.n_train * width * 4 / 2**20
        rows.append([width, max(rate), float(np.median(rate)), measured, estimate - features, estimate])
        result[str(width)] = {"fold_epochs_per_s": max(rate), "mib_per_fold_measured": measured,
                              "mib_per_fold_estimate": estimate, "mib_per_fold_features": features}
    return rows, result


def _random_model(folder: Path, kind: str) -> str:
    import torch
    import transformers

    config, model = {"wav2vec2-base-size": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
                     "wavlm-base-size": (transformers.WavLMConfig, transformers.WavLMModel)}[kind]
    torch.manual_seed(0)
    model(config()).eval().save_pretrained(folder / kind)
    transformers.Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(folder / kind)
    return str(folder / kind)


def extract_part(args) -> tuple[list[list], dict]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from paragrid.features.corpora import load_corpus
    from paragrid.features.extract import extract_features
    from paragrid.features.synth import CorpusConfig, write_corpus_set

    rows, result = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = CorpusConfig(name="bench-synth", prefix="bench", index=17,
                              n_speakers=max(2, min(10, args.n_utts // 4)), n_utterances=args.n_utts)
        (manifest_path,) = write_corpus_set(root / "corpus", (config,), seed=0, jobs=1)
        manifest = load_corpus(manifest_path, "manifest")
        audio_s = float(manifest["duration"].sum())
        for name in [s for s in args.sets.split(",") if s.strip()]:
            feature_set = name
            if name.startswith("hf:"):
                feature_set = "hf:" + _random_model(root / "models", name[3:])
            out = root / name.replace(":", "_") / "x.parquet"
            t = time.perf_counter()
            extract_features(manifest, out, jobs=1, progress=False, feature_set=feature_set,
                             cache_dir=root / "cache" / name.replace(":", "_"))
            wall = time.perf_counter() - t
            import pyarrow.parquet as pq

            width = len(json.loads(pq.read_schema(out).metadata[b"paragrid"])["feature_columns"])
            rows.append([name, width, len(manifest) / wall, audio_s / wall])
            result[name] = {"utterances_per_s": len(manifest) / wall, "audio_s_per_s": audio_s / wall,
                            "columns": width}
    return rows, result


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child:
        width, n, k = (int(v) for v in args.child.split(","))
        memory_child(width, n, k)
        return {}
    load0 = benchlib.load()
    info = benchlib.machine(args.threads)
    with benchlib.contained(threads=args.threads):
        train_rows, train_res = train_part(args)
        extract_rows, extract_res = extract_part(args) if args.sets.strip() else ([], {})
    body = (f"Training, paper network, N = {args.n_train}, F = {args.k} stacked fold-models, {args.epochs} "
            f"epochs, best of {args.rounds}:\n\n"
            + benchlib.md_table(["inputs", "fold-epochs/s (best)", "(median)",
                                 "MiB per fold-model beyond its features (measured)",
                                 "(paragrid's estimate of the same)", "paragrid's estimate with the features"],
                                train_rows)
            + ("\n\nExtraction, --jobs 1, one process:\n\n"
               + benchlib.md_table(["feature set", "columns", "utterances/s", "audio s per s"], extract_rows)
               if extract_rows else ""))
    text = benchlib.section("feature_widths (inputs 88 / 1,024 / 6,373; extraction per feature set)", info,
                            load0, benchlib.load(), body)
    result = {"train": train_res, "extract": extract_res}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
