"""`paragrid demo` end to end, stage by stage: synthesise, extract, run the grid, write the report.

The same public functions `paragrid demo` calls (paragrid/demo.py), each under its own timer,
in a fresh work folder (nothing reused: no corpora, no feature cache, no finished trials).
A sampler thread adds up the resident memory of this process and every process below it
(Ray's raylet, GCS and workers included; read from /proc) twice a second: the demo's peak RSS. After the grid,
each trial's own stamps (done.json: t_enter, t_train0, t_train1, t_written) split the grid
stage into training and per-trial overhead.

--spec runs another grid spec the same way (a file or a built-in name; its corpora must be
synth-a / synth-b), and --utterances / --speakers shrink the synthetic corpora, e.g. for a
quick check; the defaults are exactly the demo's.

Run: .venv/bin/python bench/demo_timing.py [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import benchlib

CORPORA = ("synth-a", "synth-b")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="demo", help="grid spec (default: the built-in demo)")
    ap.add_argument("--utterances", type=int, default=None, help="utterances per corpus (default: the demo's)")
    ap.add_argument("--speakers", type=int, default=None, help="speakers per corpus (default: the demo's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synth-jobs", type=int, default=None, help="processes writing the corpora (default: all cores)")
    ap.add_argument("--workdir", default=None, help="work folder (default: a temp dir, removed afterwards)")
    ap.add_argument("--record", action="store_true", help="append the section to bench/RESULTS.md")
    return ap.parse_args(argv)


def tree_rss_bytes(root: int) -> int:
    """Summed RSS of process `root` and all its descendants, read from /proc (Linux; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])   # the name may contain spaces
            rss[int(entry.name)] = int((entry / "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class TreeRSS(threading.Thread):
    """Peak of the summed RSS of this process and all its descendants (Ray's processes included)."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every, self.peak, self.stop = every, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))
            self.stop.wait(self.every)


def trial_stamps(run_dir: Path) -> list[dict]:
    out = []
    for done in sorted(Path(run_dir).glob("trials/*/done.json")):
        try:
            out.append(json.loads(done.read_text()))
        except (OSError, ValueError):
            pass
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    from paragrid.analysis.report import write_report
    from paragrid.features.extract import extract_features
    from paragrid.features.loaders import load_corpus
    from paragrid.features.synth import write_corpora
    from paragrid.grid.runner import run_grid

    load0 = benchlib.load()
    info = benchlib.machine(None)
    info["threads"] = "per spec (resources.cpu)"
    sampler = TreeRSS()
    sampler.start()
    stages: dict[str, float] = {}
    own = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="paragrid-bench-demo-") if own else args.workdir).resolve()
    try:
        corpora, features = work / "corpora", work / "features"
        features.mkdir(parents=True, exist_ok=True)

        t = time.perf_counter()
        write_corpora(corpora, seed=args.seed, n_speakers=args.speakers, n_utterances=args.utterances,
                      jobs=args.synth_jobs)
        stages["1 synthesise"] = time.perf_counter() - t

        t = time.perf_counter()
        n_utt = 0
        for name in CORPORA:
            manifest = load_corpus(corpora / name / "manifest.csv", "manifest")
            n_utt += len(manifest)
            extract_features(manifest, features / f"{name}.parquet", progress=False)
        stages["2 extract"] = time.perf_counter() - t

        t = time.perf_counter()
        run_dir = run_grid(args.spec, storage=str(work / "runs"), features_dir=str(features))
        stages["3 grid (Ray)"] = time.perf_counter() - t
        grid_wall = stages["3 grid (Ray)"]

        t = time.perf_counter()
        write_report(Path(run_dir), quiet=True)
        stages["4 report"] = time.perf_counter() - t
        stamps = trial_stamps(Path(run_dir))
    finally:
        sampler.stop.set()
        sampler.join()
        if own:
            shutil.rmtree(work, ignore_errors=True)
    load1 = benchlib.load()

    total = sum(stages.values())
    rows = [[name, s, f"{100 * s / total:.0f}%"] for name, s in stages.items()]
    rows.append(["total", total, "100%"])
    body = benchlib.md_table(["stage", "wall s", "share"], rows)
    train = [d["t_train1"] - d["t_train0"] for d in stamps if "t_train0" in d and "t_train1" in d]
    setup = [d["t_train0"] - d["t_enter"] for d in stamps if "t_train0" in d and "t_enter" in d]
    write = [d["t_written"] - d["t_train1"] for d in stamps if "t_written" in d and "t_train1" in d]
    slots = os.cpu_count() or 1
    notes = [f"spec {args.spec}; {n_utt} utterances in {len(CORPORA)} synthetic corpora; {len(stamps)} target trials "
             "finished (source models are separate Ray trials and have no done.json)"]
    if train:
        notes.append(f"target trials: training {sum(train):.0f} s in all (median {statistics.median(train):.1f} s), "
                     f"set-up inside the trial (source models loaded, data) median {statistics.median(setup):.2f} s, "
                     f"writing results median {statistics.median(write):.2f} s; target-trial training fills "
                     f"{100 * sum(train) / (grid_wall * slots):.0f}% of {slots} core(s) x the grid's wall time")
    notes.append(f"peak summed RSS of this process and all its descendants (Ray included; shared pages count "
                 f"once per process), sampled every 0.5 s: "
                 f"{sampler.peak / 2**20:.0f} MiB; this process alone: {benchlib.peak_rss_mib():.0f} MiB")
    text = benchlib.section(f"demo_timing ({args.spec}, end to end)", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "demo_timing", "machine": info, "spec": args.spec, "stages_s": stages, "total_s": total,
              "utterances": n_utt, "trials": len(stamps), "trial_train_s": sum(train),
              "peak_tree_rss_mib": sampler.peak / 2**20, "rss_mib": benchlib.peak_rss_mib(), "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
