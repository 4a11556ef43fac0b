"""Does torch.compile speed up a training step of the stacked network? Eager vs compiled, in
one process, interleaved: forward (paragrid.models.nets.forward, dropout multipliers given),
cross-entropy and autograd.grad for F folds at once, the part of a step a compiler could fuse
(the per-fold dropout draws and the optimiser stay outside, as in the trainer).

Reported: CPU ms per step (best and median over rounds) and the one-off compile time; the
compile time is what every Ray worker process would pay again (a warm inductor cache on disk
shortens it). --backend eager runs TorchDynamo without code generation (a quick plumbing check).

Run: .venv/bin/python bench/compile_check.py --rounds 5 [--record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from paragrid.models.config import Architecture
from paragrid.models.nets import build_model, forward

import benchlib


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed round (default 10)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="inductor", help="torch.compile backend (default inductor)")
    ap.add_argument("--cold", action="store_true",
                    help="compile with an empty inductor cache (a fresh TORCHINDUCTOR_CACHE_DIR): "
                         "what a new machine pays")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    with benchlib.contained(threads=args.threads), tempfile.TemporaryDirectory() as tmp:
        if args.cold:  # read when inductor is first imported, i.e. at the first compilation
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = tmp
        return run(args)


def run(args: argparse.Namespace) -> dict:
    load0 = benchlib.load()
    info = benchlib.machine(args.threads)
    arch = Architecture(layers=args.layers, width=args.width, dropout=0.5)
    model = build_model("dnn", arch, 88, 4, (), 0, range(args.folds))
    params = [p.requires_grad_(True) for p in model.params.values()]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.folds, args.batch, 88, generator=g)
    y = torch.randint(0, 4, (args.folds * args.batch,), generator=g)
    keep = (torch.rand(args.folds, args.layers, args.batch, args.width, generator=g) >= 0.5).float() * 2.0

    def loss_fn(x, keep, y):
        return F.cross_entropy(forward(model, x, keep).flatten(0, 1), y)

    compiled = torch.compile(loss_fn, backend=args.backend)

    def step(fn):
        return torch.autograd.grad(fn(x, keep, y), params)

    step(loss_fn)
    t = time.perf_counter()
    grads_c = step(compiled)                              # compiles forward and backward
    compile_s = time.perf_counter() - t
    grads_e = step(loss_fn)
    max_diff = max(float((a - b).abs().max()) for a, b in zip(grads_e, grads_c))
    ms: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        for name, fn in (("eager", loss_fn), ("compiled", compiled)):
            c = time.process_time()
            for _ in range(args.steps):
                step(fn)
            ms[name].append(1e3 * (time.process_time() - c) / args.steps)
    load1 = benchlib.load()

    rows = [[name, min(v), statistics.median(v)] for name, v in ms.items()]
    speedup = min(ms["eager"]) / min(ms["compiled"])
    body = benchlib.md_table(["step (forward + loss + gradients)", "CPU ms (best)", "CPU ms (median)"], rows)
    notes = [f"F = {args.folds} folds, batch {args.batch}, {args.layers} x {args.width} sigmoid with dropout "
             f"multipliers, 88 inputs, 4 classes; backend {args.backend}; {args.rounds} interleaved rounds of "
             f"{args.steps} steps",
             f"compiled / eager: {speedup:.2f}x (best CPU time); compiling took {compile_s:.1f} s of wall time "
             f"(once per process; {'empty' if args.cold else 'existing'} inductor cache); largest gradient "
             f"difference {max_diff:.2g}"]
    text = benchlib.section(f"compile_check (torch.compile, {args.backend})", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "compile_check", "machine": info, "backend": args.backend, "ms_per_step": ms,
              "speedup": speedup, "compile_s": compile_s, "max_grad_diff": max_diff, "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
