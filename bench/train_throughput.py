"""Training throughput of the paper's network: the reference loop, the fold-vectorised trainer,
and several trials packed into one stacked model, against the machine's own matmul peak.

Workload (defaults): Table 1 of the paper (88 inputs, 4 x 256 sigmoid, dropout 0.5, 4 classes),
Adam, batch 256, on N = 5,000 random Gaussian utterances with random labels, k = 10 folds
(8 train / 1 val / 1 test per step, ~4,000 training rows per fold: 16 steps per epoch). The
labels are noise, which does not matter for speed: no patience, every fold runs every epoch.

Modes, all timed in ONE process, interleaved round by round so that they see the same load:
  reference    train_folds_reference: one fold at a time (F = 1 model, torch.optim.Adam)
  vectorised   train_folds with F = k (one repeat's folds as one stacked model)
  packed-F     train_folds with F = k * r: the fold masks of r repeats concatenated on the fold
               axis (what a scheduler could do with r trials that share a feature table)
  no-cache     (prognet only) train_folds with the source-column cache off: the frozen columns
               are recomputed in every step, as before the cache existed

Figures: fold-epochs/s (F * epochs / wall), achieved GFLOP/s over the rows actually processed
(padding not counted), and that as a fraction of the measured matmul peak: the best of batched
(F, B, W) x (F, W, W) and per-fold (B, W) x (W, W) products of the same sizes. FLOPs per row:
forward 2 * fan_in * fan_out per layer; training = forward + weight gradients + input gradients
(none for the first layer, nor for a frozen source); evaluation = forward on the validation rows
every epoch and on the test rows twice (last learning-curve point, final evaluation). For a
prognet, the frozen source columns' forward passes are not counted as useful work.

Run: .venv/bin/python bench/train_throughput.py --epochs 2 --rounds 3 [--record]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import paragrid.models.train as train_module
from paragrid.models.config import Architecture, TrainSettings
from paragrid.models.nets import build_model
from paragrid.models.reference import train_folds_reference
from paragrid.models.train import train_folds
from paragrid.models.data import FoldData
from paragrid.models.options import Pack, Run

import benchlib


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: one grid trial per core; on a loaded "
                         "machine more threads than free cores stall in OpenMP barriers)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per timed run (default 2)")
    ap.add_argument("--n", type=int, default=5000, help="utterances in the random data set (default 5000)")
    ap.add_argument("--k", type=int, default=10, help="folds per repeat (default 10)")
    ap.add_argument("--pack", default="2,4", help="repeats packed into one model, comma-separated "
                    "(default 2,4: F = 2k and 4k); empty for none")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best and median reported")
    ap.add_argument("--method", choices=["dnn", "prognet"], default="dnn",
                    help="dnn (default) or prognet with --sources frozen random source columns")
    ap.add_argument("--sources", type=int, default=1, help="source columns of a prognet (default 1)")
    ap.add_argument("--width", type=int, default=256, help="hidden width (default 256, the paper's)")
    ap.add_argument("--layers", type=int, default=4, help="hidden layers (default 4, the paper's)")
    ap.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) reference loop")
    return ap.parse_args(argv)


# ---- the data and the work it implies ------------------------------------------------------
def fold_masks(n: int, k: int, repeats: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k * repeats, n) train/val/test masks: step f of repeat r tests fold f of that repeat's
    random split and validates on fold f + 1; the repeats are concatenated on the fold axis."""
    rng = np.random.default_rng([seed, 7])
    train, val, test = [], [], []
    for _ in range(repeats):
        fold = rng.permutation(np.arange(n) % k)
        te = np.stack([fold == f for f in range(k)])
        va = np.stack([fold == (f + 1) % k for f in range(k)])
        train.append(~(te | va))
        val.append(va)
        test.append(te)
    return np.concatenate(train), np.concatenate(val), np.concatenate(test)


def layers(arch: Architecture, n_in: int, n_classes: int, n_sources: int,
           source_width: int) -> list[tuple[int, int, bool]]:
    """(fan_in, fan_out, input gradient needed) of every matmul of the trained column."""
    out = [(n_in, arch.width, False)]
    for _ in range(arch.layers - 1):
        out.append((arch.width, arch.width, True))
        out += [(source_width, arch.width, False)] * n_sources   # laterals: no gradient into a frozen column
    out.append((arch.width, n_classes, True))
    out += [(source_width, n_classes, False)] * n_sources
    return out


def flops(arch: Architecture, n_in: int, n_classes: int, n_sources: int, data: FoldData, epochs: int) -> float:
    """Useful FLOPs of one train_folds call on `data` (see the module docstring)."""
    mm = layers(arch, n_in, n_classes, n_sources, arch.width)
    fwd = sum(2 * i * o for i, o, _ in mm)
    train = sum(2 * i * o * (2 + g) for i, o, g in mm)
    rows_train = data.train.sum() * epochs
    rows_eval = data.val.sum() * epochs + data.test.sum() * 2
    return float(train * rows_train + fwd * rows_eval)


# ---- the physical limit --------------------------------------------------------------------
def matmul_peak(device: str, n_folds: int, batch: int, width: int, rounds: int = 5) -> dict[str, float]:
    """GFLOP/s of the products the trainers run: one fold's (B, W) x (W, W) and all F folds' at
    once, per wall second and per CPU second of this process (best of `rounds`)."""
    a1, b1 = torch.randn(batch, width, device=device), torch.randn(width, width, device=device)
    aF, bF = torch.randn(n_folds, batch, width, device=device), torch.randn(n_folds, width, width, device=device)
    f1, fF = 2 * batch * width * width, 2 * n_folds * batch * width * width
    w1, c1 = benchlib.best_of(lambda: a1 @ b1, rounds, reps=50, device=device)
    wF, cF = benchlib.best_of(lambda: torch.bmm(aF, bF), rounds, reps=5, device=device)
    return {"single": f1 / w1 / 1e9, "batched": fF / wF / 1e9,
            "single_cpu": f1 / max(c1, 1e-9) / 1e9, "batched_cpu": fF / max(cF, 1e-9) / 1e9}


# ---- one timed run -------------------------------------------------------------------------
def sources_for(method: str, arch: Architecture, n_in: int, n_classes: int, n_folds: int, n_sources: int) -> list:
    """Frozen random source columns (their weights do not matter for speed)."""
    if method == "dnn":
        return []
    return [build_model("dnn", arch, n_in, n_classes, (), 100 + s, range(n_folds)) for s in range(n_sources)]


def no_cache(fn):
    """train_folds with the prognet source-column cache switched off (budget 0)."""
    def run(*args, **kw):
        budget, train_module.SOURCE_CACHE_BYTES = train_module.SOURCE_CACHE_BYTES, 0
        try:
            return fn(*args, **kw)
        finally:
            train_module.SOURCE_CACHE_BYTES = budget
    return run


def timed(fn, data: FoldData, arch, settings, method, sources, device) -> dict:
    benchlib.sync(device)
    ld = benchlib.load()
    t, c = time.perf_counter(), time.process_time()
    fn(data, arch, settings, method, sources, pack=Pack(seed=0), run=Run(device=device))
    benchlib.sync(device)
    return {"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "load": ld}


def main(argv=None) -> dict:
    args = parse_args(argv)
    with benchlib.contained(threads=args.threads):   # random labels: single-class warnings are expected
        return run(args)


def run(args: argparse.Namespace) -> dict:
    device = args.device
    load0 = benchlib.load()
    info = benchlib.machine(args.threads, device)

    n_in, n_classes, k = 88, 4, args.k
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, n_in)).astype(np.float32)
    y = rng.integers(0, n_classes, args.n)
    arch = Architecture(layers=args.layers, width=args.width, activation="sigmoid", dropout=0.5)
    settings = TrainSettings(lr=5e-4, optimizer="adam", batch_size=args.batch, max_epochs=args.epochs,
                             curve_stride=args.epochs)
    n_src = args.sources if args.method == "prognet" else 0
    packs = [int(p) for p in args.pack.split(",") if p.strip()]

    modes = [("vectorised", train_folds, 1)]
    if args.method == "prognet":
        modes.append(("no-cache", no_cache(train_folds), 1))
    if not args.no_reference:
        modes.append(("reference", train_folds_reference, 1))
    modes += [(f"packed x{r}", train_folds, r) for r in packs]
    runs = {}
    for name, fn, r in modes:
        d = FoldData(x, y, *fold_masks(args.n, k, r), n_classes)
        runs[name] = (fn, d, sources_for(args.method, arch, n_in, n_classes, d.n_folds, n_src))

    # Warm-up (lazy imports, allocator, kernels) on two folds.
    d = runs["vectorised"][1]
    warm = FoldData(x, y, d.train[:2], d.val[:2], d.test[:2], n_classes)
    for fn in (train_folds, train_folds_reference):
        fn(warm, arch, TrainSettings(max_epochs=1, batch_size=args.batch), args.method,
           sources_for(args.method, arch, n_in, n_classes, 2, n_src), run=Run(device=device))
    rss_start = benchlib.peak_rss_mib()

    times: dict[str, list[dict]] = {name: [] for name in runs}
    peaks: list[dict[str, float]] = []
    rss_trial = None
    for rnd in range(args.rounds):
        peaks.append(matmul_peak(device, k, args.batch, args.width))
        for name, (fn, d, srcs) in runs.items():
            times[name].append(timed(fn, d, arch, settings, args.method, srcs, device))
            if name == "vectorised" and rss_trial is None:
                rss_trial = benchlib.peak_rss_mib()   # before any packed (larger) model ran
    peak_single = max(p["single"] for p in peaks)
    peak_batched = max(p["batched"] for p in peaks)
    peak = max(peak_single, peak_batched)
    peak_cpu = max(max(p["single_cpu"], p["batched_cpu"]) for p in peaks)
    on_gpu = device.startswith("cuda")

    rows, result_modes = [], {}
    for name, (fn, d, _) in runs.items():
        fe = d.n_folds * args.epochs
        walls = [t["wall"] for t in times[name]]
        best = min(walls)
        gflop = flops(arch, n_in, n_classes, n_src, d, args.epochs) / 1e9
        cpu_best = min(t["cpu"] for t in times[name])
        m = {"folds": d.n_folds, "fold_epochs_per_s": fe / best,
             "fold_epochs_per_s_median": fe / statistics.median(walls),
             "gflops": gflop / best, "peak_fraction": gflop / best / peak, "gflop": gflop,
             "cpu_s_per_fold_epoch": cpu_best / fe, "gflops_per_cpu_s": gflop / cpu_best,
             "peak_fraction_cpu": None if on_gpu else gflop / cpu_best / peak_cpu,
             "wall_s": walls, "cpu_s": [t["cpu"] for t in times[name]], "load": [t["load"] for t in times[name]]}
        result_modes[name] = m
        rows.append([name, d.n_folds, m["fold_epochs_per_s"], m["fold_epochs_per_s_median"], m["gflops"],
                     f"{100 * m['peak_fraction']:.0f}%", m["cpu_s_per_fold_epoch"],
                     "n/a (GPU)" if on_gpu else f"{m['gflops_per_cpu_s']:.1f} ({100 * m['peak_fraction_cpu']:.0f}%)",
                     " ".join(f"{t['load']:.1f}" for t in times[name])])
    ratio = ratio_cpu = None
    if "reference" in result_modes:
        ratio = result_modes["vectorised"]["fold_epochs_per_s"] / result_modes["reference"]["fold_epochs_per_s"]
        ratio_cpu = (result_modes["reference"]["cpu_s_per_fold_epoch"]
                     / result_modes["vectorised"]["cpu_s_per_fold_epoch"])
    load1 = benchlib.load()
    rss_end = benchlib.peak_rss_mib()
    cuda_mem = (torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
                if device.startswith("cuda") else None)

    tr = runs["vectorised"][1].train.sum(1).mean()
    body = benchlib.md_table(
        ["mode", "F", "fold-epochs/s (best)", "(median)", "GFLOP/s wall (best)", "of wall peak",
         "CPU s per fold-epoch (best)", "GFLOP per CPU s (of CPU peak)", "load avg per round"], rows)
    notes = [
        f"workload: {args.method}" + (f" with {n_src} frozen source column(s)" if n_src else "")
        + f", {args.layers} x {args.width} sigmoid, dropout 0.5, {n_in} inputs, {n_classes} classes, Adam, "
        f"batch {args.batch}; N = {args.n}, k = {k} (~{tr:.0f} training rows per fold), {args.epochs} epoch(s) "
        f"per run, best of {args.rounds} interleaved round(s)",
        f"matmul peak (best over rounds): per fold ({args.batch}x{args.width})x({args.width}x{args.width}) "
        f"{peak_single:.1f} GFLOP/s, batched F={k} {peak_batched:.1f} GFLOP/s -> wall peak {peak:.1f} GFLOP/s"
        + ("" if on_gpu else f"; per CPU second of this process: {peak_cpu:.1f} GFLOP/s"),
    ]
    if ratio is not None:
        notes.append(f"vectorised / reference: {ratio:.2f}x in fold-epochs/s (best wall vs best wall), "
                     f"{ratio_cpu:.2f}x in CPU time per fold-epoch (target >= 2x)")
    v = result_modes["vectorised"]
    notes.append(f"vectorised achieved / matmul peak: {v['peak_fraction']:.2f} by wall time"
                 + ("" if on_gpu else f", {v['peak_fraction_cpu']:.2f} by CPU time") + " (target >= 0.5)")
    notes.append(f"peak RSS: {rss_start:.0f} MiB after imports and warm-up, {rss_trial:.0f} MiB after the "
                 f"paper-size trial (F={k}), {rss_end:.0f} MiB at the end (packed models included)"
                 + (f"; peak CUDA memory allocated {cuda_mem:.0f} MiB" if cuda_mem is not None else ""))
    text = benchlib.section(f"train_throughput ({args.method}, {device}, {args.threads} thread(s))",
                            info, load0, load1, body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "train_throughput", "machine": info, "method": args.method, "epochs": args.epochs,
              "n": args.n, "k": k, "modes": result_modes, "peak_gflops": peak, "peak_single_gflops": peak_single,
              "peak_batched_gflops": peak_batched, "peak_cpu_gflops": None if on_gpu else peak_cpu,
              "vectorised_over_reference": ratio, "vectorised_over_reference_cpu": ratio_cpu,
              "rss_mib": {"start": rss_start, "trial": rss_trial, "end": rss_end}, "cuda_mib": cuda_mem,
              "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
