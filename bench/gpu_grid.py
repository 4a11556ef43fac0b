"""bench/gpu.py's grid part: every unit of the planned paper-table2 grid, in process, through the
function a Ray worker calls (paragrid.grid.work.execute_unit), without Ray or openSMILE.

The features are STAND-IN features made here: two corpora (synth-a, synth-b) of --utterances
utterances each, 88 columns (eGeMAPS' width) of random numbers in which emotion, gender and
speaker leave a trace, 4 emotions, 10 speakers per corpus. The GPU time of a unit depends on the
corpus' shape (utterances, width, classes, folds, epochs), not on what the numbers mean, so the
figures are the paper grid's cost on corpora of that size; their UARs mean nothing and are not
reported. (To time real features instead, pass --features-dir DIR holding synth-a.parquet and
synth-b.parquet made beforehand with `paragrid features` on a CPU machine: two 5,000-row
parquets of 88 float64 columns are ~7 MB each, small enough to travel with the repository.)

Planning is paragrid's own (plan_grid, make_units: source packs first, then transfer packs, then
DNN packs, in that order, so every pack finds its source models stored), with one slot that owns
the whole device: on a GPU `resources.pack: auto` sizes packs from the device's memory; on the CPU
(--tiny) as on any CPU run. On a GPU the packs are sized with the device memory per fold-model
bench/gpu.py measured just before (its calibration's scale). Units run one after another in this process; each unit's wall time is
recorded, and the total is the grid's GPU time on one device.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

EMOTIONS = ["angry", "happy", "neutral", "sad"]
CORPORA = ("synth-a", "synth-b")


def standin_corpus(path: Path, name: str, n: int, width: int = 88, speakers: int = 10, seed: int = 0) -> Path:
    """A features parquet (docs/FORMATS.md section 2: the metadata under the schema key
    `paragrid`) of `n` stand-in utterances. Written with pyarrow directly: paragrid.features
    needs soundfile, which a stock PyTorch image lacks."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    spk = np.arange(n) % speakers
    gender = np.where(spk % 2 == 0, "F", "M")
    emo = rng.integers(0, len(EMOTIONS), n)
    centres = rng.standard_normal((len(EMOTIONS), width))
    offsets = rng.standard_normal((speakers, width)) * 0.5
    x = centres[emo] + offsets[spk] + np.where(gender == "F", 1.0, -1.0)[:, None] + rng.standard_normal((n, width))
    feats = [f"standin{i:02d}" for i in range(width)]
    df = pd.DataFrame({"utterance_id": [f"{name}-{i}" for i in range(n)],
                       "path": [f"/standin/{name}/{i}.wav" for i in range(n)],
                       "speaker": [f"{name}-S{s}" for s in spk], "gender": gender,
                       "emotion": np.asarray(EMOTIONS)[emo], "corpus": name, "duration": 1.0, "sample_rate": 16000})
    df = pd.concat([df, pd.DataFrame(x, columns=feats)], axis=1)
    meta = {"format_version": 1, "feature_set": "stand-in (random, eGeMAPS width)", "feature_level": "Functionals",
            "opensmile_version": "none", "sample_rate": 16000, "n_resampled": 0, "corpus": name,
            "source": "bench/gpu_grid.py", "feature_columns": feats, "created_utc": "2026-01-01T00:00:00Z"}
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"paragrid": json.dumps(meta).encode()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return Path(path)


def grid_doc(repeats: int, device: str, max_epochs: int | None = None, k: int | None = None) -> dict:
    """paper-table2 with its corpora renamed to synth-a / synth-b, `repeats` of its 10 repeats."""
    import demo_timing

    doc, _ = demo_timing.rewrite_spec(demo_timing.read_spec_doc("paper-table2"), repeats, True)
    doc = dict(doc)
    doc["resources"] = {**doc.get("resources", {}), "cpu": 1, "gpu": 1 if device.startswith("cuda") else 0}
    if max_epochs is not None:
        doc["training"] = {**doc["training"], "max_epochs": max_epochs}
        doc["name"] += f"-e{max_epochs}"
    if k is not None:
        doc["k"] = k
        doc["name"] += f"-k{k}"
    return doc


def run_grid_units(args, device: str) -> dict:
    """Plan paper-table2 on the stand-in (or given) features and execute every unit here."""
    import torch

    from paragrid.grid.plan import CostModel, PackPolicy, make_units, plan_grid, sources_to_train
    from paragrid.grid.spec import load_spec
    from paragrid.grid.work import DeviceChoice, WorkerContext, execute_unit

    work = Path(tempfile.mkdtemp(prefix="paragrid-bench-gpu-grid-"))
    t = time.perf_counter()
    features = Path(args.features_dir) if args.features_dir else work / "features"
    if not args.features_dir:
        for i, name in enumerate(CORPORA):
            standin_corpus(features / f"{name}.parquet", name, args.utterances, seed=i + 1)
    made_s = time.perf_counter() - t
    doc = grid_doc(args.grid_repeats, device, args.grid_max_epochs, args.grid_k)
    spec_path = work / f"{doc['name']}.yaml"
    spec_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    t = time.perf_counter()
    s = load_spec(spec_path, features_dir=features)
    plan = plan_grid(s, str(work / "runs"), say=lambda *_: None)
    to_train, _ = sources_to_train(plan)
    gpu = 1.0 if device.startswith("cuda") else 0.0
    device_bytes = torch.cuda.get_device_properties(device).total_memory if gpu else None
    policy = PackPolicy(setting=s.resources.pack, gpu=gpu, slots=1, fold_bytes_scale=getattr(args, "fold_bytes_scale", 1.0),
                        **({"device_bytes": device_bytes} if device_bytes else {}))
    units = make_units(plan, to_train, CostModel(s, plan.corpora, None), policy)
    plan_s = time.perf_counter() - t
    ctx = WorkerContext(spec=s, spec_hash=plan.spec_hash, corpora=plan.corpora, storage=plan.root.uri(),
                        run=s.name, threads=max(1, torch.get_num_threads()), units={u.id: u for u in units})
    choice = DeviceChoice(device, "0" if gpu else None, f"{socket.gethostname()} (in process)")
    per_stage: dict[str, dict] = {}
    t_units = time.perf_counter()
    budget = args.grid_budget_s
    ran = 0
    for unit in units:
        if budget is not None and time.perf_counter() - t_units > budget:
            break                    # out of time: what ran is reported, no full-grid figure is made up
        ran += 1
        t = time.perf_counter()
        report = execute_unit(unit.id, ctx, choice)
        if report.get("user_error"):
            raise RuntimeError(f"unit {unit.id}: {report['user_error']}")
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        st = per_stage.setdefault(unit.stage, {"units": 0, "trials_or_models": 0, "fold_models": 0, "s": 0.0})
        st["units"] += 1
        n = len(unit.jobs) if unit.is_source else unit.n_trials
        st["trials_or_models"] += n
        st["fold_models"] += n * s.k
        st["s"] += time.perf_counter() - t
    units_s = time.perf_counter() - t_units
    rows = sum(len(pd.read_parquet(p)) for p in (work / "runs" / s.name).rglob("results*.parquet"))
    complete = ran == len(units)
    full = units_s * 10 / args.grid_repeats if complete else None
    return {"features": "given: " + str(features) if args.features_dir else "stand-in features (random, 88 wide)",
            "utterances": args.utterances, "repeats": args.grid_repeats, "k": s.k,
            "max_epochs": s.training_for(CORPORA[0]).max_epochs, "patience": s.training_for(CORPORA[0]).patience,
            "units": len(units), "units_run": ran, "complete": complete, "budget_s": budget, "trials": len(plan.trials), "result_rows": rows, "stages": per_stage,
            "make_features_s": made_s, "plan_s": plan_s, "units_s": units_s, "full_grid_s": full,
            "extrapolated": args.grid_repeats != 10, "device": device, "workdir": str(work)}
