"""The optimism of same-corpus tuning, measured: outer-test UAR of tuned-same-corpus vs tuned-nested.

Both modes get the same search budget per search (num_samples trials of <= --epochs epochs)
on the synthetic corpora (`paragrid synth` + eGeMAPS features; made once in --work and reused):
  * tuned-same-corpus (today's `paragrid tune SPEC`): one search per corpus on the grid's split
    of repeat 0 with fold 0 held out; its best.yaml then evaluated on every outer step (repeat,
    test fold), as `paragrid run SPEC --architecture best.yaml` would evaluate its DNN;
  * tuned-nested (`paragrid tune SPEC --nested`): one search per outer step on that step's
    training and validation folds only, the step's test fold evaluated once with its choice.
Both outer evaluations run the same code (paragrid.grid.tune.run_outer_job: the grid's step, the
spec's training settings, the grid's random streams of that fold), so the two columns differ
only in how the architecture was chosen. The optimism is mean(same-corpus) - mean(nested) over
the outer steps; the per-step paired difference is reported with it. Step 0 of each repeat-0
split is clean in both modes (held out from the same-corpus search); the other steps tested
rows the same-corpus search trained or validated on.

Usage: .venv/bin/python bench/tuning_optimism.py [--utterances 600 --k 4 --epochs 40 --num-samples 4]
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import yaml

import benchlib

CORPORA = ("synth-a", "synth-b")


def make_features(work: Path, speakers: int, utterances: int, seed: int) -> dict[str, Path]:
    """synth-a / synth-b wavs and their eGeMAPS parquets in `work` (reused when present)."""
    from paragrid.features.corpora import load_corpus
    from paragrid.features.extract import extract_features
    from paragrid.features.synth import write_corpora

    corpora, feats = work / "corpora", work / "features"
    feats.mkdir(parents=True, exist_ok=True)
    out = {name: feats / f"{name}.parquet" for name in CORPORA}
    if all(p.is_file() for p in out.values()):
        return out
    if not all((corpora / n / "manifest.csv").is_file() for n in CORPORA):
        write_corpora(corpora, seed=seed, n_speakers=speakers, n_utterances=utterances)
    for name in CORPORA:
        if not out[name].is_file():
            extract_features(load_corpus(corpora / name / "manifest.csv", "manifest"), out[name], progress=False)
    return out


def write_spec(work: Path, features: dict[str, Path], args) -> Path:
    doc = {"name": "optimism", "corpora": {n: str(p) for n, p in features.items()}, "task": "emotion",
           "methods": ["dnn"], "k": args.k, "repeats": 1, "seed": args.seed,
           "fold_scheme": "speaker-stratified", "normalisation": "train",
           "architecture": {"layers": 2, "width": 64, "activation": "sigmoid", "dropout": 0.2},
           "training": {"lr": 0.003, "optimizer": "adam", "batch_size": 64, "max_epochs": args.epochs},
           "resources": {"cpu": 1, "gpu": 0},
           # A narrower space than the default (1-6 layers of 32-512) keeps the bench short; the
           # same for both modes. The paper's point (4 x 256, batch 64) lies inside it.
           "tune": {"num_samples": args.num_samples, "max_epochs": args.epochs,
                    "space": {"layers": [1, 4], "width": [32, 256], "batch_size": [64, 128, 256]}}}
    path = work / "optimism.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def same_corpus_rows(parsed, corpora, settings, root: Path, ray, say) -> tuple[pd.DataFrame, dict]:
    """Today's tuning per corpus, then its best.yaml evaluated on every outer step."""
    from paragrid.grid.console import fit_resources
    from paragrid.grid.data import steps_for
    from paragrid.grid.tune import Job, TrialContext, TuningRun, run_outer_job, tune_corpus

    fitted = fit_resources(parsed, ray, say)
    resources, slots = fitted.request, fitted.count
    rows, inner = [], {}
    for name, corpus in corpora.items():
        summary = tune_corpus(TuningRun(parsed, settings, resources, slots, say=say), corpus, root / name)
        inner[name] = summary.best_value
        ctx = TrialContext(spec=parsed, settings=settings, corpora={name: corpus}, splits={},
                           outer_steps={(name, r): steps_for(corpus, parsed, r, parsed.k - 2)
                                        for r in range(parsed.repeats)})
        for r in range(parsed.repeats):
            for i in range(parsed.k):
                job = Job("outer", stream=name, corpus=name, repeat=r, test_fold=i, params=summary.best,
                          number=summary.best_number, value=summary.best_value)
                rows.append(run_outer_job(job, ctx, device="cpu"))
    df = pd.DataFrame(rows)
    df["architecture_origin"] = "tuned-same-corpus"
    return df, inner


def main(argv=None) -> dict:
    ap = benchlib.parser(__doc__)
    ap.add_argument("--work", default="/tmp/paragrid-optimism", help="corpora, features and runs")
    ap.add_argument("--speakers", type=int, default=10)
    ap.add_argument("--utterances", type=int, default=600, help="per corpus")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--num-samples", type=int, default=4, help="trials per search (both modes)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from paragrid.grid.console import fit_resources, ray_session
    from paragrid.grid.data import load_corpora
    from paragrid.grid.tune import TuningRun, load_tuning_spec, tune_nested, tuning_settings

    load_before, t0 = benchlib.load(), time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    features = make_features(work, args.speakers, args.utterances, args.seed)
    t_features = time.perf_counter() - t0
    parsed, raw = load_tuning_spec(write_spec(work, features, args))
    settings = tuning_settings(parsed, raw, {})
    corpora = load_corpora(parsed, set())
    root = work / "runs" / f"k{args.k}-e{args.epochs}-s{args.num_samples}-u{args.utterances}"
    log: list[str] = []

    def say(line: str) -> None:
        log.append(line)
        print(line, flush=True)

    with benchlib.contained(loggers=("paragrid.models",)), ray_session(None, False, say) as ray:
        t1 = time.perf_counter()
        same, inner = same_corpus_rows(parsed, corpora, settings, root / "same-corpus", ray, say)
        t_same = time.perf_counter() - t1
        fitted = fit_resources(parsed, ray, say)
        resources, slots = fitted.request, fitted.count
        t2 = time.perf_counter()
        out = tune_nested(TuningRun(parsed, settings, resources, slots, spec_hash="bench", say=say), corpora,
                          list(corpora), root / "nested")
        t_nested = time.perf_counter() - t2
    nested = pd.read_parquet(out / "results.parquet")

    key = ["target", "repeat", "fold"]
    both = same[key + ["test_uar"]].merge(nested[key + ["test_uar", "inner_val_uar"]], on=key,
                                           suffixes=("_same", "_nested"))
    both["diff"] = both["test_uar_same"] - both["test_uar_nested"]
    table, result = [], {"k": args.k, "epochs": args.epochs, "num_samples": args.num_samples,
                         "utterances": args.utterances, "corpora": {}}
    for name, g in both.groupby("target"):
        d = g["diff"].to_numpy()
        leaky = g[g["fold"] != 0]["diff"].to_numpy()
        entry = {"same_corpus": float(g["test_uar_same"].mean()), "nested": float(g["test_uar_nested"].mean()),
                 "optimism": float(d.mean()), "diff_std": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
                 "optimism_leaky_steps": float(leaky.mean()) if len(leaky) else float("nan"),
                 "same_corpus_inner_val": float(inner[name]),
                 "nested_inner_val": float(g["inner_val_uar"].mean()), "steps": int(len(g))}
        result["corpora"][name] = entry
        table.append([name, entry["same_corpus"], entry["nested"], entry["optimism"], entry["diff_std"],
                      entry["optimism_leaky_steps"], entry["same_corpus_inner_val"], entry["nested_inner_val"]])
    d = both["diff"].to_numpy()
    result.update(optimism=float(d.mean()), diff_std=float(d.std(ddof=1)), steps=int(len(d)),
                  wall_s={"features": round(t_features, 1), "same_corpus": round(t_same, 1),
                          "nested": round(t_nested, 1), "total": round(time.perf_counter() - t0, 1)})
    table.append(["all", float(both["test_uar_same"].mean()), float(both["test_uar_nested"].mean()),
                  result["optimism"], result["diff_std"], float(both[both["fold"] != 0]["diff"].mean()),
                  float("nan"), float(both["inner_val_uar"].mean())])
    body = (benchlib.md_table(["corpus", "outer UAR same-corpus", "outer UAR nested", "optimism",
                               "sd of step diff", "optimism (steps 1..k-1)", "same-corpus inner val",
                               "nested inner val (mean)"], table)
            + f"\n\n{len(d)} outer steps (k = {args.k}, 1 repeat), {args.num_samples} trials per search, <= "
            f"{args.epochs} epochs, {args.utterances} utterances per corpus; wall time {result['wall_s']} s.")
    info = benchlib.machine(threads=1)
    benchlib.emit(benchlib.section("Tuning optimism: tuned-same-corpus vs tuned-nested", info, load_before,
                                   benchlib.load(), body), result, args.record)
    return result


if __name__ == "__main__":
    main()
