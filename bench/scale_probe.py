"""The grid machinery at 10^3 and 10^4 trials: what paragrid costs per trial beyond training.

Why: issue 11 sets targets for a grid of 10,000 tiny trials on 2 cores: scheduling overhead per
trial <= 20 ms, driver memory <= 1.5 GiB, planning and a resume that finds everything done
< 30 s, and cost that grows linearly (compare the 1,000- and 10,000-trial rows).

How: the built-in `scale-probe` spec (a 1 x 8 network for 2 epochs; see its header) with
`--repeats` chosen for the trial count, on the synthetic corpora (synthesised and extracted
once into --workdir, then reused). In one process, this script
  1. plans the grid (spec, corpora, checks, units and packs; no Ray): "plan";
  2. runs it on a local Ray instance (or --address): "wall";
  3. runs it again: everything is done, nothing trains: "resume".
From the units' own stamps (units/*/done.json and the source models' meta.json: t_train0 /
t_train1, one pair per pack) it adds up the in-unit training time, source models included;
with `slots` units at a time the scheduling overhead per trial is
(wall x slots - training) / trials: Ray start-up, Tune's per-trial cost, the driver's
bookkeeping and merging, worker start-up, idle slots waiting on source models. Driver memory is
this process's peak RSS (ru_maxrss), Ray's own processes not included.

Run: .venv/bin/python bench/scale_probe.py --trials 1000 [--record]
     .venv/bin/python bench/scale_probe.py --trials 10000 [--record]
"""
from __future__ import annotations

import json
import math
import os
import time
from importlib import resources
from pathlib import Path

import yaml

import benchlib

TRIALS_PER_REPEAT = 48  # 2 targets x 8 budgets x 3 methods


def parse_args(argv=None):
    ap = benchlib.parser(__doc__)
    ap.add_argument("--trials", type=int, default=1000, help="about this many trials (rounded up to whole repeats)")
    ap.add_argument("--workdir", default="/tmp/paragrid-scale-probe", help="corpora, features and runs (reused)")
    ap.add_argument("--utterances", type=int, default=None, help="utterances per synthetic corpus (default: synth's)")
    ap.add_argument("--features", default=None,
                    help="a folder holding synth-a.parquet and synth-b.parquet to use as they are "
                         "(no synthesis, no extraction; the tests pass small stand-ins)")
    ap.add_argument("--pack", default="auto", help="resources.pack (auto or N)")
    ap.add_argument("--epochs", type=int, default=None, help="override the spec's max_epochs")
    ap.add_argument("--address", default=None)
    ap.add_argument("--fresh", action="store_true", help="delete earlier runs of this size first")
    ap.add_argument("--plan-only", action="store_true",
                    help="only plan the grid (spec, corpora, checks, units, packs): time and driver memory")
    ap.add_argument("--log", default=None, help="write the grid's console lines, stamped with seconds "
                                                  "since the start, to this file (the ETA against the true end)")
    return ap.parse_args(argv)


def features(workdir: Path, utterances: int | None) -> Path:
    from paragrid.features.corpora import load_corpus
    from paragrid.features.extract import extract_features
    from paragrid.features.synth import write_corpora

    corpora, feats = workdir / "corpora", workdir / "features"
    feats.mkdir(parents=True, exist_ok=True)
    if not all((corpora / c / "manifest.csv").exists() for c in ("synth-a", "synth-b")):
        write_corpora(corpora, seed=0, n_utterances=utterances)
    for c in ("synth-a", "synth-b"):
        extract_features(load_corpus(corpora / c / "manifest.csv", "manifest"), feats / f"{c}.parquet")
    return feats


def spec_doc(repeats: int, pack: str, epochs: int | None) -> dict:
    doc = yaml.safe_load((resources.files("paragrid.grid") / "specs" / "scale-probe.yaml").read_text())
    doc["name"] = f"scale-probe-r{repeats}"
    doc["repeats"] = repeats
    doc["resources"]["pack"] = pack if pack == "auto" else int(pack)
    if epochs:
        doc["training"]["max_epochs"] = epochs
    return doc


def training_seconds(run_dir: Path, storage: Path, since: float) -> tuple[float, int, int, int]:
    """(sum of in-unit training seconds, packs, trials, source models trained) from the units'
    stamps: done.json (t_train0 / t_train1, one pair per pack) and, for the source models this
    run trained (t_train0 after `since`; a reused model costs nothing), their meta.json."""
    train, packs, trials, sources = 0.0, 0, 0, 0
    for done in run_dir.glob("units/*/done.json"):
        d = json.loads(done.read_text())
        if d["t_train0"] < since:
            continue
        train += d["t_train1"] - d["t_train0"]
        packs += 1
        trials += len(d["trial_ids"])
    source_units: dict[str, float] = {}  # the models of one source pack share its stamps: count them once
    for meta in storage.glob("source-models/*/meta.json"):
        m = json.loads(meta.read_text())
        if m.get("t_train0", 0.0) >= since:
            source_units[m.get("unit_id", m["key"])] = m["t_train1"] - m["t_train0"]
            sources += 1
    train += sum(source_units.values())
    return train, packs, trials, sources


def main(argv=None) -> dict:
    args = parse_args(argv)
    from paragrid.api import run
    from paragrid.grid.plan import (CostModel, PackPolicy, find_finished, make_units, plan_grid,
                                    sources_to_train)
    from paragrid.grid.run import run_grid
    from paragrid.grid.spec import validate

    workdir = Path(args.workdir)
    feats = Path(args.features) if args.features else features(workdir, args.utterances)
    repeats = max(1, math.ceil(args.trials / TRIALS_PER_REPEAT))
    doc = spec_doc(repeats, args.pack, args.epochs)
    storage = workdir / "runs"
    run_dir = storage / doc["name"]
    if args.fresh and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    load0 = benchlib.load()
    info = benchlib.machine(threads=1)
    slots = max(1, (os.cpu_count() or 1))

    t0 = time.perf_counter()
    s = validate(doc, origin="bench scale-probe", features_dir=feats)
    plan = plan_grid(s, str(storage))
    find_finished(plan)
    to_train, _ = sources_to_train(plan)
    units = make_units(plan, to_train, CostModel(s, plan.corpora, None),
                       PackPolicy(setting=s.resources.pack, gpu=0.0, slots=slots))
    t_plan = time.perf_counter() - t0
    n_trials = len(plan.trials)
    if args.plan_only:
        peak = benchlib.peak_rss_mib()
        body = benchlib.md_table(["trials", "units planned (packs + sources)", "plan s", "driver peak RSS MiB"],
                                 [[n_trials, len(units), f"{t_plan:.1f}", f"{peak:.0f}"]])
        body += "\n\nPlanning only (no Ray, nothing trained): spec, corpora, corpus checks, source models, packs."
        result = {"trials": n_trials, "units": len(units), "plan_s": t_plan, "driver_peak_mib": peak}
        benchlib.emit(benchlib.section(f"Scale probe, planning only: {n_trials} trials", info, load0,
                                       benchlib.load(), body), result, args.record)
        return result

    with benchlib.contained(threads=1):
        t_since = time.time()
        t0 = time.perf_counter()
        log = open(args.log, "w") if args.log else None

        def say(line: str) -> None:
            if log is not None:
                log.write(f"{time.perf_counter() - t0:8.1f} {line}\n")
                log.flush()

        run_grid(s, storage=str(storage), address=args.address, say=say)
        wall = time.perf_counter() - t0
        if log is not None:
            log.close()
        t0 = time.perf_counter()
        run(s, storage=str(storage), address=args.address, quiet=True)
        t_resume = time.perf_counter() - t0
    train_s, n_units, n_done, n_sources = training_seconds(run_dir, storage, t_since)
    overhead_ms = 1000 * (wall * slots - train_s) / max(1, n_trials)
    peak = benchlib.peak_rss_mib()
    load1 = benchlib.load()
    rows = [[n_trials, n_sources, len(units), n_units, f"{wall:.1f}", f"{train_s:.1f}", f"{overhead_ms:.1f}",
             f"{peak:.0f}", f"{t_plan:.1f}", f"{t_resume:.1f}"]]
    body = benchlib.md_table(
        ["trials", "source models trained", "units planned (no calibration)", "target packs run", "wall s",
         "training s (sum over units, sources included)", "overhead ms/trial", "driver peak RSS MiB", "plan s",
         "resume s"], rows)
    body += (f"\n\n{slots} slots; {repeats} repeats of the scale-probe spec, pack {args.pack}; overhead = "
             "(wall x slots - training) / trials. Targets at 10,000 trials: overhead <= 20 ms, driver "
             "<= 1536 MiB, plan and resume < 30 s.")
    result = {"trials": n_trials, "units": len(units), "packs_run": n_units, "wall_s": wall, "train_s": train_s,
              "overhead_ms_per_trial": overhead_ms, "driver_peak_mib": peak, "plan_s": t_plan,
              "resume_s": t_resume, "trials_done": n_done, "slots": slots, "sources_trained": n_sources}
    benchlib.emit(benchlib.section(f"Scale probe: {n_trials} trials", info, load0, load1, body), result,
                  args.record)
    return result


if __name__ == "__main__":
    main()
