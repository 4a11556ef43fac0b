"""One command for a GPU machine: packed training against the reference loop, memory per
fold-model, achieved GFLOP/s against the measured matmul peak, and the paper-table2 grid.

Parts (all on --device, default cuda if available):
  throughput  fold-epochs/s of the one-fold reference loop (models/reference.py), the
              fold-stacked trainer (F = k, one trial) and packs of --packs fold-models
              (F = 100, 1,000 and 10,000: trials of k folds, different seeds and splits; on
              CUDA also F = 1,000 with training.precision tf32; a pack the device cannot hold
              is reported as out of memory and the run goes on),
              measured at the margin: a call of 1 + E epochs minus a call of 1 epoch, so the
              set-up (building F models, uploads) and final evaluation are reported apart
              (setup_s). Device memory: torch.cuda.max_memory_allocated of the timed call / F.
              GFLOP/s: FLOPs of forward + backward over the rows processed (bench/
              train_throughput.flops), against the best measured (F, B, W) x (F, W, W) product,
              in fp32 and (CUDA) with TF32 allowed.
  memory      on CUDA, the largest measured pack's device bytes per fold-model next to the
              planner's analytic estimate, written to --calibration (gpu-calibration.json):
              PARAGRID_GPU_CALIBRATION=FILE makes `resources.pack: auto` use it.
  choices     per-step milliseconds of the trainer's switches at these sizes: the optimiser's
              fused per-fold slices vs the masked vectorised form (models/optim.py) and the
              dropout bits from per-fold generators vs the counter-based hash (models/streams.py);
              and the training step eager vs torch.compile vs (CUDA) CUDA graphs
              (mode "reduce-overhead"): the trainer stays eager unless this shows a gain.
  grid        (on by default; --no-grid skips it) every unit of the planned paper-table2 grid
              (10-fold CV, 600 epochs, no patience, both targets, speaker and gender sources)
              run in this process through paragrid.grid.work.execute_unit, the function a Ray
              worker calls, on STAND-IN features of the paper's shape made here (two corpora
              of --utterances utterances, 88 columns; bench/gpu_grid.py says why the timing
              holds and how to pass real features instead). --grid-repeats of the 10 repeats
              are run (default 2); fewer than 10 are extrapolated linearly to the full grid, and
              said so; --grid-budget-s (default 180) stops starting units, reporting what ran
              and no full-grid figure.
  sync        on CUDA, a pack trained under torch.cuda.set_sync_debug_mode("error"): no
              host-device sync inside the epoch loop (tests/test_models_device.py holds the same
              check; with pytest on the GPU machine, run it and tests/test_precision.py too).

Needs only torch >= 2.11, numpy, pandas, pyarrow, scipy and pyyaml (no Ray, openSMILE, Optuna,
Plotly or MLflow: tests/test_bench_gpu.py runs it with those made unimportable).

On a GPU machine (a stock PyTorch image will do), from the repository root:
     pip install --no-deps --no-build-isolation -e . && python bench/gpu.py --out gpu.json
(about 5 minutes on one H100/H200 by design; add --record to append the section to
bench/RESULTS.md; nothing has been measured on a GPU yet). Here:
     .venv/bin/python bench/gpu.py --tiny --out /tmp/gpu-tiny.json   (the CPU, seconds: a smoke run)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from gpu_grid import run_grid_units
from gpu_steps import calibration_doc, choices, compile_step, sync_check
from train_throughput import flops, fold_masks, matmul_peak

import benchlib


def parse_args(argv=None):
    ap = benchlib.parser(__doc__)
    ap.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if available)")
    ap.add_argument("--tiny", action="store_true", help="a tiny size that runs on the CPU in seconds")
    ap.add_argument("--out", default=None, help="also write the figures (JSON) to this file")
    ap.add_argument("--calibration", default=None,
                    help="on a GPU, write the measured device bytes per fold-model here (default gpu-calibration.json; "
                         "PARAGRID_GPU_CALIBRATION=FILE makes resources.pack: auto use it)")
    ap.add_argument("--no-grid", dest="grid", action="store_false", default=True, help="skip the paper-table2 part")
    ap.add_argument("--grid-repeats", type=int, default=None,
                    help="repeats of paper-table2 to run (default 2 of 10 on a GPU, extrapolated; tiny 1)")
    ap.add_argument("--utterances", type=int, default=None,
                    help="utterances per stand-in corpus (default 5000; tiny 60)")
    ap.add_argument("--features-dir", default=None,
                    help="features prepared beforehand: DIR/synth-a.parquet and DIR/synth-b.parquet")
    ap.add_argument("--grid-max-epochs", type=int, default=None,
                    help="override paper-table2's 600 epochs (tiny: 2; not the paper's figure)")
    ap.add_argument("--grid-budget-s", type=float, default=None,
                    help="stop starting grid units after this many seconds (default 180 on a GPU, none with --tiny); "
                         "an unfinished grid reports what ran and no full-grid figure")
    ap.add_argument("--grid-k", type=int, default=None, help="override paper-table2's k = 10 (tiny: 4)")
    ap.add_argument("--epochs", type=int, default=None, help="timed epochs per call (default 3, tiny 1)")
    ap.add_argument("--packs", type=lambda v: [int(p) for p in v.split(",")], default=None,
                    help="fold-models per pack, comma-separated multiples of k (default 100,1000,10000; tiny 6,12,24)")
    ap.add_argument("--no-throughput", action="store_true", help="only the switches (and the grid)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default 1 on the CPU: more threads than free cores stall in OpenMP "
                         "barriers on a loaded machine; torch's default on a GPU machine)")
    args = ap.parse_args(argv)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads is None and not args.device.startswith("cuda"):
        args.threads = 1
    size = dict(n=120, k=3, width=16, layers=2, batch=32, packs=[6, 12, 24], epochs=2, grid_repeats=1,
                utterances=60, grid_max_epochs=2, grid_k=4) if args.tiny else \
        dict(n=5000, k=10, width=256, layers=4, batch=256, packs=[100, 1000, 10000], epochs=3, grid_repeats=2,
             utterances=5000, grid_budget_s=180.0)
    for key, value in size.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    with benchlib.contained(threads=args.threads):
        return run(args)


# ---- throughput -----------------------------------------------------------------------------------
def pack_data(args, folds: int):
    """FoldData of folds / k trials (a fresh split per trial) on N random utterances, 88 features."""
    from paragrid.models.data import FoldData

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, 88)).astype(np.float32)
    y = rng.integers(0, 4, args.n)
    return FoldData(x, y, *fold_masks(args.n, args.k, folds // args.k), 4)


def timed_call(fn, data, arch, settings, epochs: int, device: str, **kw) -> tuple[float, float]:
    """(wall s, peak device bytes) of one training call of `epochs` epochs."""
    from dataclasses import replace

    from paragrid.models.options import Run

    benchlib.sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    fn(data, arch, replace(settings, max_epochs=epochs), run=Run(device=device), **kw)
    benchlib.sync(device)
    peak = torch.cuda.max_memory_allocated(device) if device.startswith("cuda") else float("nan")
    return time.perf_counter() - t, float(peak)


def throughput(args, arch, settings) -> dict:
    from dataclasses import replace

    from paragrid.models.reference import train_folds_reference
    from paragrid.models.train import train_folds

    modes = [("reference", train_folds_reference, args.k, settings), ("stacked", train_folds, args.k, settings)]
    modes += [(f"pack {p}", train_folds, p, settings) for p in args.packs]
    if args.device.startswith("cuda"):     # training.precision: tf32 at a pack size of 1,000 (or the largest below)
        p = max([q for q in args.packs if q <= 1000] or args.packs[:1])
        modes.append((f"pack {p} tf32", train_folds, p, replace(settings, precision="tf32")))
    out = {}
    for name, fn, folds, settings in modes:
        try:
            out[name] = _throughput_mode(args, arch, settings, fn, folds)
        except torch.cuda.OutOfMemoryError as err:   # a pack too large for this device is a finding
            torch.cuda.empty_cache()
            out[name] = {"folds": folds, "failed": f"out of device memory: {' '.join(str(err).split())[:200]}"}
    return out


def _throughput_mode(args, arch, settings, fn, folds: int) -> dict:
    """One mode's figures: fold-epochs/s at the margin, GFLOP/s, set-up, memory per fold-model."""
    from paragrid.models.options import Pack

    data = pack_data(args, folds)
    kw = {} if folds == args.k else dict(pack=Pack(seeds=np.repeat(np.arange(folds // args.k), args.k),
                                                   fold_ids=np.tile(np.arange(args.k), folds // args.k)))
    timed_call(fn, data, arch, settings, 1, args.device, **kw)                     # warm-up
    reps = 3 if args.tiny else 1     # the CPU smoke run: the best of 3, so load noise cannot invert the margin
    t1 = min(timed_call(fn, data, arch, settings, 1, args.device, **kw)[0] for _ in range(reps))
    t2, peak = min(timed_call(fn, data, arch, settings, 1 + args.epochs, args.device, **kw) for _ in range(reps))
    per_epoch = max(t2 - t1, 1e-9) / args.epochs
    work = flops(arch, 88, 4, 0, data, 1 + args.epochs) - flops(arch, 88, 4, 0, data, 1)
    state = sum(p.numel() for p in _params(arch)) * 4 * 5       # weights, 2 moments, gradient, best copy
    return {"folds": folds, "fold_epochs_per_s": folds / per_epoch, "epoch_s": per_epoch,
            "setup_s": max(t1 - per_epoch, 0.0), "gflops": work / (t2 - t1) / 1e9,
            "device_bytes_per_fold": peak / folds, "state_bytes_per_fold": float(state)}


def _params(arch):
    from paragrid.models.nets import build_model

    return build_model("dnn", arch, 88, 4, (), 0, [0]).params.values()


# ---- report ---------------------------------------------------------------------------------------
def run(args) -> dict:
    from paragrid.models.config import Architecture, TrainSettings

    load0 = benchlib.load()
    info = benchlib.machine(device=args.device)
    arch = Architecture(layers=args.layers, width=args.width, dropout=0.5)
    settings = TrainSettings(batch_size=args.batch)
    sizes = sorted({args.k, max(args.packs)})
    peaks = [matmul_peak(args.device, f, args.batch, args.width) for f in sizes]
    peak = max(max(p["single"], p["batched"]) for p in peaks)
    peak_tf32 = None
    if args.device.startswith("cuda"):     # the same products with TF32 tensor cores allowed
        before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high")
        try:
            peak_tf32 = max(max(p["single"], p["batched"]) for p in
                            [matmul_peak(args.device, f, args.batch, args.width) for f in sizes])
        finally:
            torch.set_float32_matmul_precision(before)
    modes = {} if args.no_throughput else throughput(args, arch, settings)
    parts = choices(args, arch, settings)
    compiled = compile_step(args, arch, min(max(args.packs), 1000))
    sync = sync_check(args, arch, settings, pack_data)
    cal = calibration_doc(args, modes, torch.cuda.get_device_name(args.device)) \
        if args.device.startswith("cuda") else None
    if cal:
        Path(args.calibration or "gpu-calibration.json").write_text(json.dumps(cal, indent=1) + "\n")
    args.fold_bytes_scale = cal["scale"] if cal else 1.0
    try:
        grid_out = run_grid_units(args, args.device) if args.grid else None
    except Exception as err:  # noqa: BLE001 - keep the figures measured so far; the exit status says it failed
        grid_out = {"failed": f"{type(err).__name__}: {' '.join(str(err).split())[:500]}"}
    load1 = benchlib.load()

    ref = modes["reference"]["fold_epochs_per_s"] if modes else float("nan")
    rows = [[name, m["folds"], m["fold_epochs_per_s"], f"{m['fold_epochs_per_s'] / ref:.1f}x", m["gflops"],
             f"{100 * m['gflops'] / (peak_tf32 if name.endswith('tf32') else peak):.0f}%", m["setup_s"],
             "n/a (CPU)" if math.isnan(m["device_bytes_per_fold"]) else f"{m['device_bytes_per_fold'] / 2**20:.2f}",
             f"{m['state_bytes_per_fold'] / 2**20:.2f}"] if "failed" not in m else
            [name, m["folds"], m["failed"], "", "", "", "", "", ""] for name, m in modes.items()]
    body = benchlib.md_table(["mode", "F", "fold-epochs/s", "vs reference", "GFLOP/s", "of matmul peak",
                              "set-up + finish s", "device MiB per fold-model", "state MiB per fold-model"], rows)
    names = list(next(iter(parts.values())))
    body += "\n\n" + benchlib.md_table(["F", *[f"{n} (ms/step)" for n in names]],
                                       [[f, *[parts[f][n] for n in names]] for f in parts])
    notes = [f"dnn {args.layers} x {args.width} sigmoid, dropout 0.5, Adam, batch {args.batch}, 88 inputs, 4 classes; "
             f"N = {args.n} random utterances, k = {args.k}; packs are trials of k folds with their own seeds and "
             f"splits; fold-epochs/s at the margin over {args.epochs} epoch(s) after a warm-up call",
             f"matmul peak: best of (B, W) x (W, W) and (F, B, W) x (F, W, W) at F in {sizes}: {peak:.0f} GFLOP/s"
             + (f"; with TF32 allowed (training.precision: tf32; its row is measured against this): {peak_tf32:.0f} GFLOP/s"
                if peak_tf32 else "; TF32: CUDA only"),
             "torch.compile of the training step (forward, loss, gradients; ms/step, first call s): " + "; ".join(
                 f"{n} " + (v["failed"] if "failed" in v else f"{v['ms_per_step']:.3g} ms, {v['first_call_s']:.1f} s")
                 for n, v in compiled.items() if n != "folds") + f" at F = {compiled['folds']}"
             + ("" if args.device.startswith("cuda") else " (CPU: backend 'eager', plumbing only)")
             + "; the trainer stays eager unless a GPU run measures a gain",
             f"no host-device sync inside the epoch loop (a pack trained under torch.cuda.set_sync_debug_mode('error')): {sync}",
             "state MiB per fold-model: counted (weights, two Adam moments, gradient, best copy, float32)",
             (f"device memory per fold-model of {cal['measured_at']}: {cal['measured_bytes_per_fold_model'] / 2**20:.2f} MiB "
              f"measured, {cal['scale']:.2f} x the planner's analytic estimate; written to "
              f"{args.calibration or 'gpu-calibration.json'} (PARAGRID_GPU_CALIBRATION=FILE: resources.pack: auto uses it)")
             if cal else "device memory per fold-model: not measured (no device-memory counter on the CPU)"]
    if not args.device.startswith("cuda"):
        notes.insert(0, "SMOKE RUN on the CPU: it checks that every code path runs; NOT a GPU figure (sizes are tiny "
                        "and the CPU has no device-memory counter, TF32 or CUDA graphs)")
    if grid_out and "failed" in grid_out:
        notes.append(f"paper-table2 grid part FAILED: {grid_out['failed']}")
    elif grid_out:
        g = grid_out
        how = (f"STOPPED at the {g['budget_s']:.0f} s budget after {g['units_run']} of {g['units']} units: no "
               "full-grid figure" if not g["complete"] else
               f"{g['repeats']} of 10 repeats run, the full grid EXTRAPOLATED linearly: {g['full_grid_s']:.0f} s"
               if g["extrapolated"] else f"the full grid: {g['units_s']:.0f} s")
        notes.append(f"paper-table2 on {g['features']} ({g['utterances']} utterances per corpus, k = {g['k']}, "
                     f"{g['max_epochs']} epochs, patience {g['patience']}), {g['units']} units ({g['trials']} trials, "
                     f"{g['result_rows']} result rows) run in process on {g['device']}: units {g['units_s']:.1f} s; "
                     f"{how}; per stage (s): " + ", ".join(f"{k} {v['s']:.1f} ({v['units']} units, "
                                                            f"{v['fold_models']} fold-models)"
                                                            for k, v in g["stages"].items())
                     + f"; plan {g['plan_s']:.1f} s, stand-in features {g['make_features_s']:.1f} s")
    text = benchlib.section(f"gpu ({args.device}{', tiny' if args.tiny else ''})", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {n}" for n in notes))
    result = {"bench": "gpu", "machine": info, "tiny": args.tiny, "modes": modes, "peak_gflops": peak,
              "choices_ms": {str(k): v for k, v in parts.items()}, "grid": grid_out,
              "memory_calibration": cal, "sync_debug_error_mode": sync, "peak_gflops_tf32": peak_tf32, "compile_step": compiled,
              "pack_over_reference": {n: m["fold_epochs_per_s"] / ref for n, m in modes.items() if "failed" not in m},
              "load": [load0, load1]}
    plain = json.loads(json.dumps(result, default=float))
    benchlib.emit(text, plain, args.record)
    if args.out:
        Path(args.out).write_text(json.dumps(plain, indent=1) + "\n")
    if grid_out and "failed" in grid_out:
        raise SystemExit(f"bench/gpu.py: the grid part failed ({grid_out['failed']}); the other figures were written")
    return result


if __name__ == "__main__":
    main()
