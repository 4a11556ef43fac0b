"""eGeMAPS extraction speed: utterances per second with one process and with all cores.

Writes N synthetic utterances once (paragrid.features.synth, the demo's voice model; their
writing speed is reported too), then runs paragrid.features.extract.extract_features on them
with each --jobs value, into a fresh output folder every time (so no feature cache is reused),
interleaved round by round, best and median over the rounds. Worker start-up (spawned
processes import openSMILE) is part of the timing, as it is for a user.

Run: .venv/bin/python bench/extract_speed.py --n 200 --rounds 2 [--record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import benchlib


def parse_args(argv=None) -> argparse.Namespace:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--n", type=int, default=200, help="synthetic utterances (default 200)")
    ap.add_argument("--jobs", default=f"1,{os.cpu_count() or 1}",
                    help="comma-separated --jobs values to compare (default 1 and all cores)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synth-jobs", type=int, default=None, help="processes writing the corpus (default: all cores)")
    ap.add_argument("--workdir", default=None, help="folder for the corpus and outputs (default: a temp dir, removed)")
    return ap.parse_args(argv)


def write_corpus(root: Path, n: int, seed: int, jobs: int | None) -> tuple[Path, float]:
    """One synthetic corpus of n utterances; returns its manifest and the seconds it took."""
    from paragrid.features.synth import CorpusConfig, write_corpus_set

    config = CorpusConfig(name="bench-synth", prefix="bench", index=17, n_speakers=max(2, min(10, n // 4)),
                          n_utterances=n)
    t = time.perf_counter()
    (manifest,) = write_corpus_set(root, (config,), seed=seed, jobs=jobs)
    return manifest, time.perf_counter() - t


def main(argv=None) -> dict:
    args = parse_args(argv)
    from paragrid.features.corpora import load_corpus
    from paragrid.features.extract import extract_features

    load0 = benchlib.load()
    info = benchlib.machine(None)
    info["threads"] = "n/a (processes)"
    jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    with tempfile.TemporaryDirectory(prefix="paragrid-bench-extract-", dir=args.workdir) as tmp:
        root = Path(tmp)
        manifest_path, synth_s = write_corpus(root / "corpus", args.n, args.seed, args.synth_jobs)
        manifest = load_corpus(manifest_path, "manifest")
        audio_s = float(manifest["duration"].sum())
        times: dict[int, list[float]] = {j: [] for j in jobs}
        loads: dict[int, list[float]] = {j: [] for j in jobs}
        for rnd in range(args.rounds):
            for j in jobs:
                out = root / f"out-r{rnd}-j{j}" / "features.parquet"   # fresh folder: no cache
                out.parent.mkdir()
                loads[j].append(benchlib.load())
                t = time.perf_counter()
                extract_features(manifest, out, jobs=j, progress=False)
                times[j].append(time.perf_counter() - t)
    load1 = benchlib.load()

    base = min(times[jobs[0]])
    rows, modes = [], {}
    for j in jobs:
        best = min(times[j])
        m = {"utterances_per_s": args.n / best, "utterances_per_s_median": args.n / statistics.median(times[j]),
             "audio_s_per_s": audio_s / best, "speedup": base / best, "wall_s": times[j], "load": loads[j]}
        modes[str(j)] = m
        rows.append([j, m["utterances_per_s"], m["utterances_per_s_median"], m["audio_s_per_s"],
                     f"{m['speedup']:.2f}x", " ".join(f"{x:.1f}" for x in loads[j])])
    body = benchlib.md_table(["jobs", "utterances/s (best)", "(median)", "audio s per s (best)",
                              f"speedup vs jobs={jobs[0]}", "load avg per round"], rows)
    notes = [f"{args.n} synthetic utterances, {audio_s:.0f} s of audio ({audio_s / args.n:.2f} s each), "
             f"eGeMAPSv02 functionals, best of {args.rounds} interleaved round(s), fresh output (no cache) each time",
             f"writing the corpus (paragrid.features.synth, {args.synth_jobs or 'all'} process(es)): {synth_s:.1f} s = "
             f"{args.n / synth_s:.1f} utterances/s",
             f"peak RSS: this process {benchlib.peak_rss_mib():.0f} MiB, largest finished worker process "
             f"{benchlib.children_peak_rss_mib():.0f} MiB (0: none of ours; synth workers belong to a forkserver)"]
    text = benchlib.section("extract_speed (openSMILE eGeMAPS)", info, load0, load1,
                            body + "\n\n" + "\n".join(f"- {s}" for s in notes))
    result = {"bench": "extract_speed", "machine": info, "n": args.n, "audio_s": audio_s, "synth_s": synth_s,
              "jobs": modes, "rss_mib": benchlib.peak_rss_mib(), "children_rss_mib": benchlib.children_peak_rss_mib(),
              "load": [load0, load1]}
    benchlib.emit(text, result, args.record)
    return result


if __name__ == "__main__":
    main()
