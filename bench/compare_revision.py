"""The working tree's trainer against an earlier revision's, in ONE process, interleaved.

On a shared machine two separate runs see different loads, so a before/after from two
commands is mostly a measure of the neighbours. This script loads models/*.py of a git
revision (`git show REV:models/<file>`, read-only) as a second package next to the working
tree's paragrid.models, then trains the same data with both, alternating round by round, and
reports CPU time per fold-epoch (best and median) and whether the trained weights agree.

Run: .venv/bin/python bench/compare_revision.py --rev 398ed48 --method prognet --epochs 4 --rounds 3
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import benchlib

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--rev", default="HEAD", help="git revision to compare against (default HEAD)")
    ap.add_argument("--method", choices=["dnn", "prognet"], default="dnn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args(argv)


def load_revision(rev: str, into: Path) -> str:
    """models/*.py of `rev` as the package `paragrid_models_<rev>`; returns its name."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", rev, "models/"],
                           check=True, capture_output=True, text=True).stdout.split()
    name = "paragrid_models_" + "".join(c if c.isalnum() else "_" for c in rev)
    pkg = into / name
    pkg.mkdir()
    for f in files:
        if f.endswith(".py"):
            text = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{f}"], check=True,
                                  capture_output=True, text=True).stdout
            (pkg / Path(f).name).write_text(text.replace("paragrid.models.", f"{name}."))
    sys.path.insert(0, str(into))
    return name


def main(argv=None) -> dict:
    args = parse_args(argv)
    with benchlib.contained(threads=args.threads), tempfile.TemporaryDirectory() as tmp:
        return run(args, load_revision(args.rev, Path(tmp)))


def run(args: argparse.Namespace, old_pkg: str) -> dict:
    import paragrid.models.config as new_config
    import paragrid.models.nets as new_nets
    import paragrid.models.train as new_train

    impls = {"working tree": (new_train, new_config, new_nets),
             f"rev {args.rev}": tuple(importlib.import_module(f"{old_pkg}.{m}") for m in ("train", "config", "nets"))}
    load0 = benchlib.load()
    info = benchlib.machine(args.threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, 88)).astype(np.float32)
    y = rng.integers(0, 4, args.n)
    fold = rng.permutation(np.arange(args.n) % args.k)
    test = np.stack([fold == f for f in range(args.k)])
    val = np.stack([fold == (f + 1) % args.k for f in range(args.k)])

    def train(impl, epochs):
        T, C, N = impl
        arch = C.Architecture(width=args.width)
        srcs = ([N.build_model("dnn", arch, 88, 4, (), 100, range(args.k))] if args.method == "prognet" else [])
        # train_folds(..., pack=Pack(seed), run=Run(device)) since the option dataclasses; a
        # revision before them takes seed= and device= keywords.
        how = dict(pack=T.Pack(seed=0), run=T.Run(device="cpu")) if hasattr(T, "Pack") else dict(seed=0, device="cpu")
        return T.train_folds(T.FoldData(x, y, ~(test | val), val, test, 4), arch,
                             C.TrainSettings(max_epochs=epochs, curve_stride=epochs), method=args.method,
                             sources=srcs, **how)

    for impl in impls.values():  # warm-up
        train(impl, 1)
    cpu: dict[str, list[float]] = {name: [] for name in impls}
    outs = {}
    for _ in range(args.rounds):
        for name, impl in impls.items():
            c = time.process_time()
            outs[name] = train(impl, args.epochs)
            cpu[name].append(time.process_time() - c)
    load1 = benchlib.load()

    fe = args.k * args.epochs
    a, b = outs.values()
    diff = max(float((a.model.params[n] - b.model.params[n]).abs().max()) for n in a.model.params)
    same_selection = bool(np.array_equal(a.best_epoch, b.best_epoch) and np.array_equal(a.confusion, b.confusion))
    rows = [[name, min(v) / fe, statistics.median(v) / fe, " ".join(f"{t:.2f}" for t in v)] for name, v in cpu.items()]
    new, old = (min(v) for v in cpu.values())
    body = benchlib.md_table(["trainer", "CPU s per fold-epoch (best)", "(median)", "CPU s per run"], rows)
    notes = [f"{args.method}, 4 x {args.width} sigmoid, dropout 0.5, Adam, batch 256, N = {args.n}, k = {args.k}, "
             f"{args.epochs} epoch(s) per run, {args.rounds} interleaved round(s), one process",
             f"working tree / rev {args.rev}: {old / new:.2f}x faster (best CPU time)",
             f"largest weight difference after training: {diff:.3g}; same best epochs and confusions: {same_selection}"]
    text = benchlib.section(f"compare_revision ({args.method}: working tree vs {args.rev})", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "compare_revision", "machine": info, "rev": args.rev, "method": args.method,
              "cpu_s": cpu, "speedup": old / new, "max_weight_diff": diff, "same_selection": same_selection,
              "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
