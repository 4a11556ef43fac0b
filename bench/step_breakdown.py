"""Where a fold-vectorised training step spends its CPU time: dropout draws, forward, loss,
backward, optimiser, and the per-epoch validation, against the time the step's matmuls would
take at the measured matmul peak (the physical floor).

It replays paragrid.models.train._train_epoch piece by piece with the trainer's own training
state (models/active.py: ActiveFolds.next_epoch, .dropout_masks, .val_uar; StackedOptimizer) and
nets.forward, so it measures the real code; tests/test_bench.py runs it, so it cannot silently drift from the trainer.

Run: .venv/bin/python bench/step_breakdown.py --epochs 3 [--record]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from train_throughput import flops, fold_masks, matmul_peak

import paragrid.models.train as T
from paragrid.models.active import ActiveFolds
from paragrid.models.config import Architecture, TrainSettings
from paragrid.models.data import gather, prepare
from paragrid.models.nets import build_model, forward
from paragrid.models.streams import make_streams

import benchlib


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with benchlib.contained(threads=args.threads):
        return run(args)


def run(args: argparse.Namespace) -> dict:
    load0 = benchlib.load()
    info = benchlib.machine(args.threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, 88)).astype(np.float32)
    y = rng.integers(0, 4, args.n)
    data = T.FoldData(x, y, *fold_masks(args.n, args.k, 1), 4)
    arch = Architecture(layers=args.layers, width=args.width, dropout=0.5)
    settings = TrainSettings(batch_size=args.batch)
    dev = torch.device("cpu")
    d = prepare(data, dev)
    a = ActiveFolds(build_model("dnn", arch, 88, 4, (), 0, range(args.k)), d, settings,
                    make_streams("generator", np.zeros(args.k, np.int64), np.arange(args.k), dev))

    parts: dict[str, float] = {}

    def tick(name: str, t0: float) -> float:
        t1 = time.process_time()
        parts[name] = parts.get(name, 0.0) + t1 - t0
        return t1

    peaks = [matmul_peak("cpu", args.k, args.batch, args.width)]   # before and after: best of both
    steps = 0
    for _ in range(args.epochs):           # the body of _train_epoch, timed piece by piece
        t = time.process_time()
        rows, valid, n_real = a.next_epoch()
        coef = a.opt.plan_epoch(n_real > 0, dev)
        inv_n = torch.as_tensor(1.0 / np.maximum(n_real, 1), dtype=torch.float32)
        xe, ye = gather(d.x, a.fold_t, rows.flatten(1)).view(*rows.shape, -1), d.y[rows]
        params = list(a.model.params.values())
        t = tick("epoch set-up (shuffles, gathers)", t)
        for s in range(rows.shape[1]):
            keep = a.dropout_masks(n_real[s])
            t = tick("dropout draws (per-fold generators)", t)
            logits = forward(a.model, xe[:, s], keep)
            t = tick("forward", t)
            ce = F.cross_entropy(logits.flatten(0, 1), ye[:, s].flatten(), reduction="none").view(valid[:, s].shape)
            loss = (torch.where(valid[:, s], ce, 0.0).sum(1) * inv_n[s]).sum()
            t = tick("loss", t)
            grads = torch.autograd.grad(loss, params)
            t = tick("backward", t)
            a.opt.step(grads, coef[s])
            t = tick("Adam", t)
            steps += 1
        a.val_uar(None)
        tick("validation (per epoch)", t)
    peaks.append(matmul_peak("cpu", args.k, args.batch, args.width))
    peak_cpu = max(max(p["single_cpu"], p["batched_cpu"]) for p in peaks)
    load1 = benchlib.load()

    total = sum(parts.values())
    one_epoch = T.FoldData(x, y, data.train, data.val, np.zeros_like(data.test), 4)  # train + val only
    floor = flops(arch, 88, 4, 0, one_epoch, args.epochs) / 1e9 / peak_cpu
    rows_ = [[name, 1e3 * v / steps, f"{100 * v / total:.0f}%"] for name, v in parts.items()]
    rows_.append(["total", 1e3 * total / steps, "100%"])
    rows_.append([f"matmuls alone at the measured peak ({peak_cpu:.0f} GFLOP per CPU s)", 1e3 * floor / steps,
                  f"{100 * floor / total:.0f}%"])
    body = benchlib.md_table(["part of a step", "CPU ms per step", "share"], rows_)
    notes = [f"dnn, {args.layers} x {args.width} sigmoid, dropout 0.5, Adam, batch {args.batch}, F = {args.k} folds, "
             f"N = {args.n}; {steps} steps over {args.epochs} epoch(s); per-epoch parts spread over the steps"]
    text = benchlib.section("step_breakdown (fold-vectorised trainer, CPU)", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "step_breakdown", "machine": info, "steps": steps,
              "ms_per_step": {name: 1e3 * v / steps for name, v in parts.items()},
              "total_ms_per_step": 1e3 * total / steps, "matmul_floor_ms_per_step": 1e3 * floor / steps,
              "peak_cpu_gflops": peak_cpu, "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
