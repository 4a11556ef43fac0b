"""The 4-corpus transfer matrix at about a thousand trials on 2 cores: wall time, overhead per
trial beyond training, driver memory (issue 21).

How: `paragrid synth --corpora 4` corpora (synth-a..d, --utterances each), extracted once into
--workdir; the built-in `many-corpora` spec with sources [[emotion@each-other]] (every ordered
source -> target pair), budgets 8/4/2/1, dnn/ptft/prognet, --repeats 10 = 4 targets x 4 budgets
x (1 + 3 sources x 2 methods) x 10 = 1,120 trials and 40 source models, with the scale probe's
tiny network (1 x 8, --epochs 2) so that the grid machinery, not training, is what is timed.
Overhead per trial = (wall x slots - training inside the units) / trials, as bench/scale_probe.py
counts it; driver memory is this process's peak RSS.

Run: .venv/bin/python bench/matrix_scale.py [--record]
"""
from __future__ import annotations

import os
import time
from importlib import resources
from pathlib import Path

import yaml

import benchlib
from scale_probe import training_seconds


def parse_args(argv=None):
    ap = benchlib.parser(__doc__)
    ap.add_argument("--workdir", default="/tmp/paragrid-matrix-scale")
    ap.add_argument("--utterances", type=int, default=600, help="utterances per synthetic corpus")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=2)
    return ap.parse_args(argv)


def features(workdir: Path, utterances: int) -> Path:
    from paragrid.features.corpora import load_corpus
    from paragrid.features.extract import extract_features
    from paragrid.features.synth import write_corpora

    # keyed on the size: corpora cached from a run at another --utterances must not be reused
    corpora, feats = workdir / f"corpora-{utterances}", workdir / f"features-{utterances}"
    feats.mkdir(parents=True, exist_ok=True)
    names = [f"synth-{c}" for c in "abcd"]
    if not all((corpora / c / "manifest.csv").exists() for c in names):
        write_corpora(corpora, seed=0, n_utterances=utterances, n_corpora=4)
    for c in names:
        extract_features(load_corpus(corpora / c / "manifest.csv", "manifest"), feats / f"{c}.parquet")
    return feats


def main(argv=None) -> dict:
    args = parse_args(argv)
    from paragrid.grid.run import run_grid
    from paragrid.grid.spec import expand_trials, validate

    workdir = Path(args.workdir)
    t_feat = time.perf_counter()
    feats = features(workdir, args.utterances)
    t_feat = time.perf_counter() - t_feat
    doc = yaml.safe_load((resources.files("paragrid.grid") / "specs" / "many-corpora.yaml").read_text())
    doc.update(name=f"matrix-scale-r{args.repeats}", repeats=args.repeats, sources=[["emotion@each-other"]])
    doc["architecture"] = {"layers": 1, "width": 8, "activation": "sigmoid", "dropout": 0.0}
    doc["training"].update(max_epochs=args.epochs, curve_stride=args.epochs, lr=0.01, batch_size=256)
    s = validate(doc, origin="bench matrix-scale", features_dir=feats)
    n_trials = len(expand_trials(s).trials)
    storage = workdir / "runs"
    load0, info = benchlib.load(), benchlib.machine(threads=1)
    slots = max(1, os.cpu_count() or 1)
    with benchlib.contained(threads=1):
        t_since = time.time()
        t0 = time.perf_counter()
        run_grid(s, storage=str(storage), say=lambda line: None)
        wall = time.perf_counter() - t0
    train_s, packs, done, sources = training_seconds(storage / s.name, storage, t_since)
    overhead_ms = 1000 * (wall * slots - train_s) / max(1, n_trials)
    peak = benchlib.peak_rss_mib()
    body = benchlib.md_table(
        ["trials", "source models trained", "target packs run", "wall s", "training s (in units)",
         "overhead ms/trial", "driver peak RSS MiB"],
        [[n_trials, sources, packs, f"{wall:.1f}", f"{train_s:.1f}", f"{overhead_ms:.1f}", f"{peak:.0f}"]])
    body += (f"\n\n4 synthetic corpora of {args.utterances} utterances (synthesis and extraction "
             f"{t_feat:.0f} s, reused when present, not in the wall time); many-corpora spec with sources "
             f"[[emotion@each-other]], budgets 8/4/2/1, {args.repeats} repeats, a 1 x 8 network for "
             f"{args.epochs} epochs; {slots} slots; overhead = (wall x slots - training) / trials.")
    result = {"trials": n_trials, "sources_trained": sources, "packs_run": packs, "wall_s": wall,
              "train_s": train_s, "overhead_ms_per_trial": overhead_ms, "driver_peak_mib": peak,
              "trials_done": done, "slots": slots}
    benchlib.emit(benchlib.section(f"Transfer matrix, 4 corpora: {n_trials} trials", info, load0,
                                   benchlib.load(), body), result, args.record)
    return result


if __name__ == "__main__":
    main()
