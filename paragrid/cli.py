"""The `paragrid` command line.

Each subcommand is a thin shell over one stage's public function, imported lazily so that
`paragrid --help` answers instantly and a user error in one stage never needs torch or Ray
loaded. Every user-fixable failure is a `UserError`, printed as one `error: ...` line.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from paragrid.api import run
from paragrid.demo import run_demo
from paragrid.errors import UserError
from paragrid.grid.spec import load_spec

FORMATS = ["manifest", "iemocap", "msp-improv", "ravdess", "crema-d", "emodb"]


def _cmd_synth(args: argparse.Namespace) -> None:
    from paragrid.features.synth import write_corpora  # heavy: scipy

    paths = write_corpora(
        Path(args.outdir),
        seed=args.seed,
        n_speakers=args.speakers,
        n_utterances=args.utterances,
        jobs=args.jobs,
        n_corpora=args.corpora,
    )
    for path in paths:
        print(f"wrote {path}")


def _cmd_features(args: argparse.Namespace) -> None:
    from paragrid.features.corpora import CorpusWarning, load_corpus  # heavy: pandas, soundfile
    from paragrid.features.extract import extract_features  # heavy: pandas, opensmile

    # Corpus checks run before any audio is decoded: a UserError (fewer than two classes left)
    # stops here; a CorpusWarning (a class of the label set with no utterance) is printed as one
    # `warning:` line and extraction goes on.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorpusWarning)
        manifest = load_corpus(Path(args.source), args.format, label_map=args.label_map,
                               skip_bad=args.skip_bad, classes=args.classes)
    for w in caught:
        if issubclass(w.category, CorpusWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    extract_features(
        manifest,
        Path(args.out),
        skip_bad=args.skip_bad,
        jobs=args.jobs,
        sample_rate=args.sample_rate,
        feature_set=args.feature_set,
        layer=args.layer,
        pooling=args.pooling,
        cache_dir=Path(args.cache) if args.cache else None,
        **{k: v for k, v in (("batch_seconds", args.batch_seconds), ("chunk_seconds", args.chunk_seconds))
           if v is not None},
    )


def _cmd_run(args: argparse.Namespace) -> None:
    if args.dry_run:
        from paragrid.grid.run import dry_run  # heavy: ray, torch
        plan = dry_run(load_spec(args.spec, architecture=args.architecture, features_dir=args.features_dir),
                       storage=args.storage)
        print(plan.to_json() if args.json else "\n".join(plan.lines()))
        return
    if args.json:
        raise UserError("--json goes with --dry-run (paragrid run SPEC --dry-run --json)")
    run(args.spec, storage=args.storage, address=args.address, verbose=args.verbose,
        architecture=args.architecture, features_dir=args.features_dir, track=args.track,
        replace=args.replace)


def _cmd_report(args: argparse.Namespace) -> None:
    from paragrid.analysis.report import write_report  # heavy: pandas, scipy, plotly

    write_report(Path(args.rundir), compare_paper=args.compare == "paper", alpha=args.alpha,
                 test=args.test, holm=args.holm, unit_test=args.unit_test, flags=args.flags)


def _cmd_tune(args: argparse.Namespace) -> None:
    from paragrid.grid.tune import run_tuning  # heavy: ray, optuna

    run_tuning(args.spec, storage=args.storage, address=args.address, verbose=args.verbose,
               num_samples=args.num_samples, time_budget_s=args.time_budget, targets=args.target,
               features_dir=args.features_dir, max_concurrent=args.max_concurrent, nested=args.nested)


def _cmd_demo(args: argparse.Namespace) -> None:
    run_demo(Path(args.workdir), seed=args.seed, verbose=args.verbose)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paragrid",
        description="Transfer-learning experiment grids for computational paralinguistics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("synth", help="write the built-in synthetic corpora synth-a and synth-b")
    p.add_argument("outdir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speakers", type=int, default=None, help="speakers per corpus")
    p.add_argument("--utterances", type=int, default=None, help="utterances per corpus")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--corpora", type=int, default=2,
                   help="number of corpora: synth-a, synth-b, then synth-c.. (other voices, channels, label balance)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("features", help="extract openSMILE functionals (eGeMAPS, ComParE, ...) or "
                                        "self-supervised embeddings of a corpus into a parquet")
    p.add_argument("source", help="a manifest CSV, or the corpus release's root folder "
                                  "(docs/FORMATS.md shows it for every --format)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, help="FILE.parquet to write")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip missing or unreadable audio files, listing them next to --out "
                        "(labels outside the label map are always dropped and counted)")
    p.add_argument("--label-map", default=None,
                   help="YAML/JSON file mapping corpus labels to target classes (default: the "
                        "paper's 4 classes angry/happy/neutral/sad; for a manifest, English "
                        "names such as anger, happiness, joy, sadness are matched too)")
    p.add_argument("--classes", default=None, metavar="A,B,C",
                   help="keep these classes, matched by name, synonym (fear/fearful) or the corpus' "
                        "documented label meaning, without a label map; e.g. "
                        "angry,happy,neutral,sad,fearful")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="openSMILE sets: extract at this rate, resampling files that differ (default "
                        "16000); hf: sets use the model's rate")
    p.add_argument("--feature-set", default="eGeMAPSv02", metavar="SET",
                   help="an openSMILE set: eGeMAPSv02 (default, 88), GeMAPSv01b (62), ComParE_2016 "
                        "(6,373), emobase (988), ...; or hf:<model folder or hub id> for a "
                        "self-supervised speech model's pooled hidden states (paragrid[ssl])")
    p.add_argument("--layer", default=None, metavar="N|last|mean|all",
                   help="hf: sets: the hidden state to pool (default last); all stores every layer")
    p.add_argument("--pooling", default="mean", choices=["mean", "mean+std"],
                   help="hf: sets: statistics over the frames of each utterance (default mean)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="extraction cache, keyed by each audio file's content (default: "
                        "paragrid-cache/ next to --out)")
    p.add_argument("--batch-seconds", type=float, default=None,
                   help="hf: sets: seconds of audio per batch (default 64)")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="hf: sets: longer files are embedded in chunks of this length (default 30)")
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser("run", help="run a grid spec (YAML path or built-in name) on Ray")
    p.add_argument("spec")
    p.add_argument("--storage", default=None,
                   help="where results go (path or URI; default: the spec's `storage`, else runs)")
    p.add_argument("--address", default=None, help="Ray cluster: 'auto' or ray://host:port")
    p.add_argument("--architecture", action="append", default=None, metavar="[TARGET=]FILE|FOLDER",
                   help="a tuned best.yaml (applies to the corpus it was tuned on), TARGET=FILE for "
                        "one target, or a tune run's folder (each target's best.yaml); repeatable")
    p.add_argument("--features-dir", default=None,
                   help="folder holding the feature parquets named in the spec")
    p.add_argument("--track", action="append", default=None, metavar="mlflow[:URI]|tensorboard",
                   help="experiment tracking through Ray Tune's loggers (repeatable); mlflow needs "
                        "pip install 'paragrid[mlflow]' and defaults to RUNDIR/mlruns")
    p.add_argument("--replace", action="store_true",
                   help="a changed spec overwrites STORAGE/NAME/ (default: it runs in NAME-<hash>/ and "
                        "the earlier run is kept)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show Ray's own output (otherwise it goes to RUNDIR/logs/ray-console.log)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (trials per stage, method, target, source set; units; the "
                        "estimate) and exit without running anything")
    p.add_argument("--json", action="store_true", help="with --dry-run: one JSON object")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="statistics, tables and the HTML dashboard of a run")
    p.add_argument("rundir")
    p.add_argument("--compare", choices=["paper"], default=None,
                   help="add the paper's own numbers side by side")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--test", choices=["auto", "calibrated", "corrected"], default="auto",
                   help="significance test for the markers of k-fold cells (default auto: the "
                        "calibrated test on 10 x 10-fold designs, its calibration, the corrected "
                        "test on any other; leave-one-out cells use --unit-test)")
    p.add_argument("--holm", action="store_true",
                   help="Holm-correct p-values within each table (also the dashboard switch's default)")
    p.add_argument("--flags", action="store_true",
                   help="print every protocol flag's details under the tables (and in the .md files); "
                        "by default each table has one line of counts")
    p.add_argument("--unit-test", choices=["paired", "wilcoxon"], default="paired",
                   help="leave-one-speaker/session-out runs: paired t-test over the speakers or "
                        "sessions (default) or Wilcoxon signed-rank")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("tune", help="re-tune the architecture with Optuna inside Ray Tune")
    p.add_argument("spec")
    p.add_argument("--storage", default="runs")
    p.add_argument("--address", default=None, help="Ray cluster: 'auto' or ray://host:port")
    p.add_argument("--num-samples", type=int, default=None,
                   help="finished trials each corpus's study should hold (a re-run tops it up)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="wall-clock limit of this call, per corpus")
    p.add_argument("--target", action="append", default=None,
                   help="tune only this target corpus (repeatable)")
    p.add_argument("--nested", action="store_true",
                   help="nested tuning: one search per outer step on its training and validation "
                        "folds only, the step's test fold scored once with its choice (leakage-free)")
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="trials at a time (default: as many as fit)")
    p.add_argument("--features-dir", default=None,
                   help="folder holding the feature parquets named in the spec")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("demo", help="synthesise, extract, run the demo grid and write the report")
    p.add_argument("--workdir", default="paragrid-work")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
