"""`paragrid tune SPEC --nested`: nested tuning, the leakage-free way to re-tune the architecture.

For every outer step (repeat r, test fold i) of each target corpus -- the grid's own steps --
a search of its own (an Optuna study, `num_samples` trials, the paper's architecture first)
scores configurations by an inner CV over the step's k-1 training and validation folds only
(grid/tune/_data.py: fold i is never read, not even for normalisation); the step's choice is
its best fully trained trial; the outer test fold i is then evaluated ONCE with that choice
(grid/tune/_outer.py: a DNN trained on the step's training folds, its validation fold
selecting the epoch). Every step has its own study, sampler and scheduler, and runs one trial
at a time, so a step's choice depends on its own visible rows only (and is reproducible
whatever the cluster does); the parallelism comes from the many steps.

It is a grid like any other: all steps of every corpus run as Ray Tune trials of one Tune run
(each search trial trains the step's k-1 inner folds as one stacked model), the cost is printed
before it starts, and it is resumable: a finished step's choice and outer row are stored in
tune/nested/<corpus>/steps/r<r>-f<i>.json and a re-run skips it; an unfinished step's study
resumes. Outputs in tune/nested/: results.parquet (the grid's results columns, one row per
outer step, `architecture_origin = tuned-nested`), choices.parquet (the per-step choices) and
summary.json; the same per corpus in tune/nested/<corpus>/.
"""
from __future__ import annotations

import hashlib
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from paragrid.errors import UserError
from paragrid.grid.data import fold_of, repeat_seed, steps_for
from paragrid.grid.spec import TuneSettings, optuna_distributions
from paragrid.grid.store import RunDir, RunLock, Storage
from paragrid.grid.tune._outer import choice_record, choices_frame, results_frame
from paragrid.grid.tune._output import write_json, write_parquet
from paragrid.grid.tune._progress import (TuningProgress, cost_line, estimate_s, make_callback,
                                          seconds_per_epoch)
from paragrid.grid.tune._ray import run_tune
from paragrid.grid.tune._schedule import build_scheduler, describe
from paragrid.grid.tune._spec import TuningRun, max_epochs_of
from paragrid.grid.tune._study import (Job, Stream, fixed_values, n_finished, open_study, paper_point,
                                       study_key, timing_point)
from paragrid.grid.tune._trial import TrialContext, inner_data_of, report_stride, trial_settings

Step = tuple[int, int]  # (repeat, test fold)


def step_name(step: Step) -> str:
    return f"r{step[0]}-f{step[1]}"


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _study_counts(study) -> dict:
    frozen = study.get_trials(deepcopy=False)
    complete = [t for t in frozen if t.state.name == "COMPLETE"]
    base = [t.value for t in complete if t.user_attrs.get("baseline")]
    return {"trials": len(frozen), "complete": len(complete),
            "stopped_early": sum(bool(t.user_attrs.get("stopped_early")) for t in frozen),
            "baseline_inner_val_uar": float(base[0]) if base else None}


def _sampler_seed(seed: int, step: Step, n_trials: int) -> int:
    """A TPE seed per (step, call): independent streams, and a resumed study draws afresh."""
    return int(np.random.SeedSequence([seed, step[0], step[1], n_trials]).generate_state(1)[0])


def load_steps(corpus_dir: Path) -> dict[str, dict]:
    """Stored finished steps of one corpus: name -> {"key", "row", "choice"}."""
    out = {}
    for f in sorted((corpus_dir / "steps").glob("r*-f*.json")):
        out[f.stem] = json.loads(f.read_text())
    return out


@dataclass
class CorpusPlan:
    """One corpus's unfinished outer steps, as streams, and what its workers need."""

    corpus: object
    dir: Path
    streams: list[Stream]
    n_steps: int                    # outer steps of the spec (all repeats x k)
    n_wanted: int                   # asked for in this call
    splits: dict
    outer_steps: dict


def plan_corpus(spec, corpus, settings: TuneSettings, corpus_dir: Path, steps: Iterable[Step] | None,
                say: Callable[[str], None]) -> CorpusPlan:
    """Open (or resume) the study of every unfinished wanted step; finished steps are skipped."""
    import optuna  # heavy: optuna

    corpus_dir.mkdir(parents=True, exist_ok=True)
    all_steps = [(r, i) for r in range(spec.repeats) for i in range(spec.k)]
    wanted = list(steps) if steps is not None else all_steps
    max_epochs = max_epochs_of(spec, settings)
    fixed = fixed_values(spec, settings)
    db = corpus_dir / "optuna.db"
    stored = load_steps(corpus_dir)
    base_seed = settings.seed if settings.seed is not None else spec.seed
    repeats = sorted({r for r, _ in wanted})
    # Made on the driver and shipped: workers never re-derive a split.
    splits = {(corpus.name, r): np.asarray(fold_of(corpus, spec, r)) for r in repeats}
    outer_steps = {(corpus.name, r): steps_for(corpus, spec, r, spec.k - 2) for r in repeats}
    streams: list[Stream] = []
    for step in wanted:
        name = step_name(step)
        key = study_key(spec, corpus, settings, mode="nested", repeat=step[0], test_fold=step[1])
        if name in stored:
            if stored[name]["key"] != _key_hash(key):
                raise UserError(f"tune --nested {spec.name}/{corpus.name}: step {name} in {corpus_dir} was "
                                "made with other settings; delete that folder to start afresh, or tune "
                                "into another --storage")
            continue
        study_name = f"{spec.name}/{corpus.name}/{name}"
        study = open_study(db, study_name, key, f"tune --nested {study_name}")
        if not study.get_trials(deepcopy=False):
            point = paper_point(spec, settings, say if not streams else (lambda _: None))
            if point:
                study.enqueue_trial(point, user_attrs={"baseline": True})
        sampler = optuna.samplers.TPESampler(
            seed=_sampler_seed(base_seed, step, len(study.get_trials(deepcopy=False))), n_startup_trials=10)
        study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{db}", sampler=sampler)
        template = Job("search", stream=f"{corpus.name}/{name}", corpus=corpus.name, repeat=step[0],
                       test_fold=step[1], max_epochs=max_epochs, seed=repeat_seed(spec.seed, step[0]))
        streams.append(Stream(study=study, distributions=optuna_distributions(settings),
                              target=settings.num_samples, job=template, fixed=fixed, concurrency=1,
                              outer=replace(template, kind="outer", max_epochs=spec.training.max_epochs),
                              finished=n_finished(study), key_hash=_key_hash(key)))
    return CorpusPlan(corpus=corpus, dir=corpus_dir, streams=streams, n_steps=len(all_steps),
                      n_wanted=len(wanted), splits=splits, outer_steps=outer_steps)


def _print_cost(plans: list[CorpusPlan], ctx, spec, settings: TuneSettings, concurrent: int, say) -> None:
    """Trainings, epochs and an estimate (a few epochs of one step's inner folds timed here)."""

    streams = [s for p in plans for s in p.streams]
    max_epochs, outer_epochs = max_epochs_of(spec, settings), spec.training.max_epochs
    search_left = sum(max(0, s.target - s.finished) for s in streams)
    epochs = search_left * max_epochs + len(streams) * outer_epochs
    fold_epochs = search_left * max_epochs * (spec.k - 1) + len(streams) * outer_epochs

    arch, train_settings = trial_settings(timing_point(spec, settings), spec, settings)
    t_epoch = seconds_per_epoch(inner_data_of(streams[0].job, ctx).data, arch, train_settings,
                                threads=int(spec.resources.cpu))
    ctx.cache.clear()  # built on the workers, not shipped
    width = max(1, min(concurrent, len(streams)))
    estimate = estimate_s(epochs, t_epoch, search_left + len(streams), width)
    done = sum(p.n_wanted - len(p.streams) for p in plans)
    say(cost_line(f"nested tuning of {', '.join(p.corpus.name for p in plans)}: {len(streams)} outer "
                  f"step(s) to run ({done} already done), {settings.num_samples} trial(s) each on "
                  f"{spec.k - 1} inner folds, then 1 outer training each",
                  search_left + len(streams), epochs, fold_epochs, estimate, width))
    say(f"   search <= {max_epochs} epochs, {describe(settings, max_epochs)}; outer trainings <= "
        f"{outer_epochs} epochs (the spec's); normalisation {spec.normalisation}; one trial per step "
        "at a time (each step's choice is reproducible)")


def run_plans(run: TuningRun, plans: list[CorpusPlan], out_dir: Path) -> None:
    """Every unfinished step of every plan as Ray Tune trials of ONE Tune run."""
    spec, settings, say, slots = run.spec, run.settings, run.say, run.slots

    streams = [s for p in plans for s in p.streams]
    max_epochs = max_epochs_of(spec, settings)
    ctx = TrialContext(spec=spec, settings=settings, corpora={p.corpus.name: p.corpus for p in plans},
                       splits={k: v for p in plans for k, v in p.splits.items()},
                       outer_steps={k: v for p in plans for k, v in p.outer_steps.items()},
                       report_every=report_stride(max_epochs), spec_hash=run.spec_hash, trainer=run.trainer)
    concurrent = min(settings.max_concurrent or slots, slots)
    _print_cost(plans, ctx, spec, settings, concurrent, say)
    scheduler = build_scheduler(settings, max_epochs)
    progress = TuningProgress()
    progress.plan(sum(max(0, s.target - s.finished) for s in streams), max_epochs)
    progress.plan(len(streams), spec.training.max_epochs)
    dirs = {p.corpus.name: p.dir for p in plans}
    total = sum(len(p.streams) for p in plans)
    done = [0]

    def on_search(s, frozen, result, error):
        if run.verbose:
            say(f"   {s.key} trial {frozen.number}: {'failed' if error else frozen.state.name.lower()}, "
                f"value {frozen.value}")

    def on_outer(s, job, result, error):
        if error or not result or "row_json" not in result:
            why = "no trial completed" if s.outer_state == "skipped" else "the outer training failed"
            say(f"   step {s.key}: not finished ({why}); a re-run retries it")
            return
        row, counts = json.loads(result["row_json"]), _study_counts(s.study)
        write_json(dirs[job.corpus] / "steps" / f"{step_name((job.repeat, job.test_fold))}.json",
                   {"key": s.key_hash, "row": row, "choice": choice_record(job, row, counts)})
        done[0] += 1
        shown = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in job.params.items())
        say(f"   step {s.key} [{done[0]}/{total}]: chose trial {job.number} (inner val UAR {job.value:.4f}; "
            f"{counts['stopped_early']} of {counts['trials']} stopped early) -> outer test UAR "
            f"{row['test_uar']:.4f}  {shown}")

    from paragrid.grid.tune._plugins import study_searcher  # heavy: ray, optuna

    searcher = study_searcher(streams, on_search=on_search, on_outer=on_outer, stopped=scheduler.stopped)
    run_tune(ctx, searcher, scheduler, resources=run.resources, concurrent=concurrent, out_dir=out_dir,
             time_budget_s=settings.time_budget_s, verbose=run.verbose, callbacks=[make_callback(progress, say)])


def write_corpus(corpus_name: str, corpus_dir: Path, sched: str, n_steps: int, say) -> dict:
    """The corpus's results.parquet, choices.parquet and summary.json from its stored steps."""
    stored = load_steps(corpus_dir)
    rows = [v["row"] for v in stored.values()]
    ch = choices_frame([v["choice"] for v in stored.values()])
    if rows:
        write_parquet(corpus_dir / "results.parquet", results_frame(rows))
        write_parquet(corpus_dir / "choices.parquet", ch)
    summary = {"corpus": corpus_name, "mode": "nested", "steps": n_steps, "steps_done": len(rows),
               "scheduler": sched, "trials": int(ch["trials"].sum()), "complete": int(ch["complete"].sum()),
               "stopped_early": int(ch["stopped_early"].sum()),
               "test_uar_mean": float(ch["test_uar"].mean()) if rows else None,
               "inner_val_uar_mean": float(ch["inner_val_uar"].mean()) if rows else None,
               "dir": str(corpus_dir)}
    write_json(corpus_dir / "summary.json", summary)
    if rows:
        say(f"   {corpus_name}: {len(rows)} of {n_steps} outer steps done; mean outer test UAR "
            f"{summary['test_uar_mean']:.4f} (mean inner val UAR of the choices "
            f"{summary['inner_val_uar_mean']:.4f}); {summary['stopped_early']} of {summary['trials']} search "
            f"trials stopped early by the scheduler ({sched}) -> {corpus_dir / 'results.parquet'}")
    return summary


def merge_nested(out_dir: Path) -> None:
    """tune/nested/results.parquet, choices.parquet and summary.json over every corpus."""
    results, choices, summaries = [], [], {}
    for sub in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        if (sub / "results.parquet").is_file():
            results.append(pd.read_parquet(sub / "results.parquet"))
            choices.append(pd.read_parquet(sub / "choices.parquet"))
        if (sub / "summary.json").is_file():
            summaries[sub.name] = json.loads((sub / "summary.json").read_text())
    if results:
        write_parquet(out_dir / "results.parquet", pd.concat(results, ignore_index=True))
        write_parquet(out_dir / "choices.parquet", pd.concat(choices, ignore_index=True))
    write_json(out_dir / "summary.json", {"mode": "nested", "corpora": summaries})


def tune_nested(run: TuningRun, corpora: dict, targets: list[str], out_dir: Path,
                steps: dict[str, Iterable[Step]] | None = None) -> Path:
    """Nested tuning of every corpus in `targets` (Ray initialised); return tune/nested.

    `steps` restricts a corpus to some outer steps (tests, debugging: {corpus: [(repeat, fold)]}).
    """
    spec, settings, say = run.spec, run.settings, run.say

    if settings.repeats != 1:
        say(f"   note: tune.repeats = {settings.repeats} does not apply to nested tuning: each outer "
            "step's inner CV is over that step's own k-1 folds")
    storage = Storage(str(out_dir.parent.parent.parent))
    sched = describe(settings, max_epochs_of(spec, settings))
    t0 = time.perf_counter()
    with ExitStack() as locks:
        for target in targets:
            locks.enter_context(RunLock(RunDir(storage, f"{spec.name}/tune/nested/{target}"), say=say))
        plans = [plan_corpus(spec, corpora[t], settings, out_dir / t, (steps or {}).get(t), say) for t in targets]
        try:
            if any(p.streams for p in plans):
                run_plans(run, [p for p in plans if p.streams], out_dir)
            else:
                say(f"== nested tuning: every wanted outer step of {', '.join(targets)} is done; nothing to run")
        finally:
            for p in plans:
                write_corpus(p.corpus.name, p.dir, sched, p.n_steps, say)
            merge_nested(out_dir)
    say(f"== nested tuning done in {time.perf_counter() - t0:.0f} s -> {out_dir / 'results.parquet'}")
    return out_dir
