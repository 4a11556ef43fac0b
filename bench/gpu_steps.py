"""bench/gpu.py's smaller parts: the trainer's switches (optimiser form, dropout-bit streams),
torch.compile / CUDA graphs on the training step (ms per step on --device), the sync-debug
check, and the memory calibration file that `resources.pack: auto` reads."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import benchlib


# ---- the trainer's switches -----------------------------------------------------------------------
def choices(args, arch, settings) -> dict:
    """ms per step of the optimiser forms and the dropout-bit streams at F = k and the packs up to 1,000."""
    from paragrid.models.nets import build_model
    from paragrid.models.optim import StackedOptimizer
    from paragrid.models.streams import make_streams

    dev = torch.device(args.device)
    out = {}
    for folds in [args.k, *[p for p in args.packs if p <= 1000]]:   # 10,000: the throughput part only
        params = [p.to(dev) for p in build_model("dnn", arch, 88, 4, (), 0, range(folds)).params.values()]
        grads = [torch.randn_like(p) for p in params]
        moving = np.ones((1, folds), bool)
        moving[0, -1] = False                        # one idle fold: the masked form's general case
        row = {}
        for form, vec in (("adam fused slices", False), ("adam masked", True)):
            opt = StackedOptimizer(params, settings, vectorised=vec)
            plan = opt.plan_epoch(moving, dev)[0]    # planned once per epoch in the trainer: not timed
            row[form] = 1e3 * benchlib.best_of(lambda: opt.step(grads, plan), 3, reps=3, device=args.device)[0]
        bits = torch.empty((folds, arch.layers, args.batch, arch.width), dtype=torch.int16, device=dev)
        valid = torch.ones((folds, args.batch), dtype=torch.bool, device=dev)
        n_real = np.full(folds, args.batch)
        for kind in ("generator", "hash"):
            s = make_streams(kind, np.arange(folds), np.zeros(folds, dtype=np.int64), dev)
            row[f"dropout bits {kind}"] = 1e3 * benchlib.best_of(lambda: s.dropout_bits(1, 0, bits, n_real, valid), 3,
                                                                  reps=3, device=args.device)[0]
        out[folds] = row
    return out


# ---- torch.compile / CUDA graphs on the training step --------------------------------------------
def compile_step(args, arch, folds: int) -> dict:
    """ms per training step (forward, loss, gradients of F fold-models; bench/compile_check.py's
    step, on --device) eager vs torch.compile, and on CUDA vs mode "reduce-overhead" (CUDA
    graphs). The trainer stays eager unless this measures a gain. The CPU smoke run uses the
    "eager" backend (plumbing only: inductor's C++ build takes minutes on a small CPU)."""
    import torch.nn.functional as F

    from paragrid.models.nets import build_model, forward

    dev = torch.device(args.device)
    model = build_model("dnn", arch, 88, 4, (), 0, range(folds)).to(dev)
    params = [p.requires_grad_(True) for p in model.params.values()]
    x = torch.randn(folds, args.batch, 88, device=dev)
    y = torch.randint(0, 4, (folds * args.batch,), device=dev)
    keep = (torch.rand(folds, arch.layers, args.batch, arch.width, device=dev) >= 0.5).float() * 2.0

    def loss_fn(x, keep, y):
        return F.cross_entropy(forward(model, x, keep).flatten(0, 1), y)

    cuda = args.device.startswith("cuda")
    variants = {"eager": loss_fn}
    variants["compiled"] = (lambda: torch.compile(loss_fn)) if cuda else (lambda: torch.compile(loss_fn, backend="eager"))
    if cuda:
        variants["compiled, CUDA graphs"] = lambda: torch.compile(loss_fn, mode="reduce-overhead")
    out = {"folds": folds}
    for name, make in variants.items():
        try:
            fn = make if name == "eager" else make()
            t = time.perf_counter()
            torch.autograd.grad(fn(x, keep, y), params)
            benchlib.sync(args.device)
            first_s = time.perf_counter() - t
            best = benchlib.best_of(lambda: torch.autograd.grad(fn(x, keep, y), params), 3, reps=5,
                                    device=args.device)[0]
            out[name] = {"ms_per_step": 1e3 * best, "first_call_s": first_s}
        except Exception as err:  # noqa: BLE001 - a compiler failure is a finding, not a crash of the run
            out[name] = {"failed": f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"}
    return out


def sync_check(args, arch, settings, data_of) -> str:
    """On CUDA: a pack of 2 trials trained (with and without a patience) under
    torch.cuda.set_sync_debug_mode("error"), which raises at any host-device synchronisation the
    trainer does not allow itself (only set-up, the per-epoch stopping point and the finish);
    'passed' or the error's first line. tests/test_models_device.py holds the same check."""
    from dataclasses import replace

    from paragrid.models.options import Pack, Run
    from paragrid.models.train import train_folds

    if not args.device.startswith("cuda"):
        return "n/a (CUDA only)"
    folds = 2 * args.k
    data = data_of(args, folds)
    pack = Pack(seeds=np.repeat(np.arange(2), args.k), fold_ids=np.tile(np.arange(args.k), 2))
    torch.cuda.set_sync_debug_mode("error")
    try:
        for patience in (None, 2):
            train_folds(data, arch, replace(settings, max_epochs=3, patience=patience), pack=pack,
                        run=Run(device=args.device))
        return "passed"
    except RuntimeError as err:
        return f"FAILED: {str(err).splitlines()[0][:300]}"
    finally:
        torch.cuda.set_sync_debug_mode(0)


# ---- memory calibration for resources.pack: auto -------------------------------------------------
def calibration_doc(args, modes: dict, device_name: str) -> dict | None:
    """The measured device bytes per fold-model of the largest pack next to the planner's analytic
    estimate at the same shape (paragrid.grid.plan.read_gpu_calibration reads it); None without a
    measurement (the CPU has no device-memory counter)."""
    from paragrid.grid.plan import bytes_per_fold_model

    measured_packs = [p for p in args.packs if math.isfinite(modes.get(f"pack {p}", {}).get("device_bytes_per_fold", math.nan))]
    if not measured_packs:
        return None
    largest = f"pack {max(measured_packs)}"
    measured = modes[largest]["device_bytes_per_fold"]
    if not math.isfinite(measured) or measured <= 0:
        return None
    analytic = bytes_per_fold_model(n_rows=args.n, n_in=88, width=args.width, layers=args.layers, n_classes=4,
                                    batch_size=args.batch)
    return {"device_name": device_name, "torch": torch.__version__, "measured_at": largest,
            "shape": {"n_rows": args.n, "n_in": 88, "width": args.width, "layers": args.layers, "n_classes": 4,
                      "batch_size": args.batch},
            "measured_bytes_per_fold_model": measured, "analytic_bytes_per_fold_model": float(analytic),
            "scale": measured / analytic}
