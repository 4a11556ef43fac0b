"""`paragrid demo`: the whole product on the built-in synthetic corpora, one command.

synthesise synth-a/synth-b -> extract eGeMAPS -> run the `demo` grid -> write the report.
Every step is the same public function the individual subcommands call, and every step is
resumable: re-running the demo reuses the corpora, the feature cache and the finished trials.
"""

from __future__ import annotations

import time
from pathlib import Path

CORPORA = ("synth-a", "synth-b")


def _stage(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def _done(start: float) -> None:
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)


def run_demo(workdir: Path, seed: int = 0, verbose: bool = False) -> Path:
    from paragrid.analysis.report import write_report  # heavy: pandas, scipy, plotly
    from paragrid.features.corpora import load_corpus  # heavy: pandas, soundfile
    from paragrid.features.extract import extract_features  # heavy: opensmile
    from paragrid.features.synth import write_corpora  # heavy: scipy
    from paragrid.grid.run import run_grid  # heavy: ray

    workdir = workdir.resolve()
    corpora_dir = workdir / "corpora"
    features_dir = workdir / "features"
    features_dir.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()

    t = _stage(f"1/4 synthesising {' and '.join(CORPORA)} into {corpora_dir}")
    manifests = {name: corpora_dir / name / "manifest.csv" for name in CORPORA}
    if all(path.exists() for path in manifests.values()):
        print("   corpora already there; reusing them (delete the folder to regenerate)")
    else:
        write_corpora(corpora_dir, seed=seed)
    _done(t)

    t = _stage("2/4 extracting eGeMAPS features (openSMILE)")
    for name, manifest_path in manifests.items():
        manifest = load_corpus(manifest_path, "manifest")
        extract_features(manifest, features_dir / f"{name}.parquet")
    _done(t)

    t = _stage("3/4 running the demo grid on Ray")
    run_dir = run_grid("demo", storage=str(workdir / "runs"), verbose=verbose,
                       features_dir=str(features_dir))
    _done(t)

    t = _stage("4/4 writing the report")
    index = write_report(Path(run_dir))
    _done(t)

    print(f"\ndemo finished in {time.perf_counter() - total:.0f} s (the dashboard's path is above)")
    return index
