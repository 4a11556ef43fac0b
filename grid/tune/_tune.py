"""`paragrid tune SPEC [--nested]`: re-tune the architecture per target corpus with Optuna in Ray Tune.

The paper chose its Table 1 architecture "with a plain DNN on the target task". paragrid does
the same search automatically, in one of two modes:
  * same-corpus (default; today's mode): one study per target corpus; objective: validation UAR
    of a DNN averaged over an inner CV of `tune.repeats` of the grid's fold splits, each with
    its fold 0 held out (never read: grid/tune/_data.py). Writes tune/<corpus>/best.yaml for
    `paragrid run SPEC --architecture ...`. Optimistic: the grid then tests on folds that
    trained or validated during the search, so its rows say `architecture_origin =
    tuned-same-corpus` (like the paper's own hand choice);
  * nested (`nested=True`, grid/tune/_nested.py): one study per outer step (repeat, test fold); the
    search sees only that step's training and validation folds, and the outer test fold is
    evaluated once with the step's choice. Writes tune/nested/results.parquet
    (`architecture_origin = tuned-nested`) and the per-step choices.

Search: Optuna's TPE sampler (seeded) through an ask-and-tell searcher (grid/tune/_study.py),
the paper's architecture evaluated first, and ASHA (or median stopping) ending poor trials
early on their validation UAR (grid/tune/_schedule.py) -- never before the slow-start horizon:
the default grace period is max(150, max_epochs // 4) epochs, since a DNN can sit at chance
for over 100 epochs before it learns (PROTOCOL.md). The number of trials the scheduler stopped
is reported next to the best one, on the console and in summary.json.

Storage: the studies live in SQLite under <storage>/<spec name>/tune/ (written by the driver
only, so a multi-node cluster needs nothing shared for them). A re-run resumes: `num_samples`
is the number of finished trials a study should hold, so a larger number tops it up.
A trial stopped by the scheduler (or by the time budget) is recorded as PRUNED with its last
value; only fully trained (COMPLETE) trials can be chosen.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from paragrid.grid.console import fit_resources, ray_session
from paragrid.errors import UserError
from paragrid.grid.data import fold_of, load_corpora, repeat_seed
from paragrid.grid.spec import optuna_distributions
from paragrid.grid.store import RunDir, RunLock, Storage
from paragrid.grid.tune._data import HELD_OUT_FOLD
from paragrid.grid.tune._nested import tune_nested
from paragrid.grid.tune._output import (CorpusSummary, best_fragment, merge_summaries, merge_trials_csv,
                                        summary_line, tuned_block, write_json, write_text)
from paragrid.grid.tune._progress import (TuningProgress, cost_line, estimate_s, make_callback,
                                          seconds_per_epoch)
from paragrid.grid.tune._ray import run_tune
from paragrid.grid.tune._schedule import build_scheduler, describe
from paragrid.grid.tune._spec import (TuningRun, load_tuning_spec, max_epochs_of, tune_root, tuning_settings,
                                      tuning_targets)
from paragrid.grid.tune._study import (METRIC, Job, Stream, fixed_values, n_finished, open_study, paper_point,
                                       study_key, timing_point, trials_frame)
from paragrid.grid.tune._trial import TrialContext, inner_data_of, report_stride, trial_settings


def sampler_study(study, db: Path, seed: int):
    """The study reloaded with a TPE sampler seeded for this call (a resumed study must not
    replay the first call's draws, so the seed advances with the trials it holds)."""
    import optuna  # heavy: optuna

    sampler = optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False)),
                                         n_startup_trials=10)
    return optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{db}", sampler=sampler)


def trial_line(number, done, total, params, finished, error, value, epoch, stopped) -> str:
    shown = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    if error:
        what = "FAILED (see Ray's log)"
    elif finished:
        what = f"val UAR {value:.4f}"
    elif value is not None:
        who = "stopped early" if stopped else "ended (time budget or interrupt)"
        what = f"{who} at epoch {epoch} (val UAR {value:.4f})"
    else:
        what = "stopped"
    return f"   trial {number} [{done}/{total}] {what}  {shown}"


def corpus_summary(study, corpus: str, mode: str, sched: str, out_dir: Path, fixed: dict) -> tuple:
    """(CorpusSummary, trials frame) of one study as stored."""
    frame = trials_frame(study, fixed)
    complete = frame[frame["state"] == "COMPLETE"]
    base = complete[complete["baseline"]]
    s = CorpusSummary(corpus=corpus, mode=mode, trials=int(len(frame)),
                      finished=int(frame["state"].isin(["COMPLETE", "PRUNED"]).sum()),
                      complete=int(len(complete)), stopped_early=int(frame["stopped_early"].sum()),
                      failed=int((frame["state"] == "FAIL").sum()), scheduler=sched,
                      baseline_value=float(base["value"].iloc[0]) if len(base) else None, dir=str(out_dir))
    if len(complete):
        bt = study.best_trial
        s.best_number, s.best_value, s.best = bt.number, float(bt.value), {**fixed, **bt.params}
    return s, frame


def tune_corpus(run: TuningRun, corpus, out_dir: Path) -> CorpusSummary:
    """Run (or resume) the same-corpus study of one target corpus; write best.yaml, trials.csv
    and summary.json (also when interrupted, so they always describe what the study holds).
    Ray must already be initialised."""
    spec, settings, say = run.spec, run.settings, run.say
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "optuna.db"
    name = f"{spec.name}/{corpus.name}"
    study = open_study(db, name, study_key(spec, corpus, settings), f"tune {name}")
    n_before = n_finished(study)
    remaining = settings.num_samples - n_before
    max_epochs = max_epochs_of(spec, settings)
    sched = describe(settings, max_epochs)
    fixed = fixed_values(spec, settings)
    t0 = time.perf_counter()
    try:
        if remaining <= 0:
            say(f"== tuning {corpus.name}: the study already holds {n_before} finished trial(s), "
                f">= num_samples {settings.num_samples}; nothing to run (raise --num-samples to continue)")
        else:
            study = _search(run, corpus, study, db, out_dir, n_before)
    finally:
        summary = write_outputs(run, corpus, study, db, out_dir, sched, fixed)
    summary.wall_s = time.perf_counter() - t0
    return summary


def _search(run: TuningRun, corpus, study, db: Path, out_dir: Path, n_before: int):
    """One Ray Tune run topping the study up to `num_samples` finished trials."""
    spec, settings, say, slots = run.spec, run.settings, run.say, run.slots

    remaining = settings.num_samples - n_before
    max_epochs = max_epochs_of(spec, settings)
    if not study.get_trials(deepcopy=False):  # a fresh study: the paper's architecture first
        point = paper_point(spec, settings, say)
        if point:
            study.enqueue_trial(point, user_attrs={"baseline": True})
    study = sampler_study(study, db, settings.seed if settings.seed is not None else spec.seed)
    splits = {(corpus.name, r): fold_of(corpus, spec, r) for r in range(settings.repeats)}
    ctx = TrialContext(spec=spec, settings=settings, corpora={corpus.name: corpus}, splits=splits,
                       report_every=report_stride(max_epochs), spec_hash=run.spec_hash, trainer=run.trainer)
    job = Job("search", stream=corpus.name, corpus=corpus.name, max_epochs=max_epochs,
              seed=repeat_seed(spec.seed, 0))
    held = int((splits[(corpus.name, 0)] == HELD_OUT_FOLD).sum())
    say(f"== tuning {corpus.name}: {remaining} trial(s) to run ({n_before} already in the study); "
        f"{spec.k - 1} inner folds x {settings.repeats} repeat(s), {held} of {corpus.n} utterances "
        f"held out; <= {max_epochs} epochs; {describe(settings, max_epochs)}")
    concurrent = settings.max_concurrent or slots
    say(_cost(ctx, job, remaining, max_epochs, min(concurrent, slots)))
    if settings.grace_period is not None and settings.grace_epochs(max_epochs) < min(150, max_epochs):
        say(f"   note: tune.grace_period {settings.grace_period} is below the slow-start horizon "
            "(150 epochs): slow starters may be stopped at chance level")
    stream = Stream(study=study, distributions=optuna_distributions(settings), target=settings.num_samples,
                    fixed=fixed_values(spec, settings), finished=n_before, job=job)
    scheduler = build_scheduler(settings, max_epochs)
    progress = TuningProgress()
    progress.plan(remaining, max_epochs)
    done = [n_before]

    def on_search(s, frozen, result, error):
        done[0] += 1
        say(trial_line(frozen.number, done[0], settings.num_samples, frozen.params,
                       bool(result and result.get("finished")) and not error, error,
                       result.get(METRIC) if result else None, result.get("epoch") if result else None,
                       bool(frozen.user_attrs.get("stopped_early"))))

    from paragrid.grid.tune._plugins import study_searcher  # heavy: ray, optuna

    searcher = study_searcher([stream], on_search=on_search, on_outer=lambda *a: None, stopped=scheduler.stopped)
    run_tune(ctx, searcher, scheduler, resources=run.resources, concurrent=concurrent, out_dir=out_dir,
             time_budget_s=settings.time_budget_s, verbose=run.verbose, callbacks=[make_callback(progress, say)])
    return study


def _cost(ctx: TrialContext, job: Job, trials: int, max_epochs: int, slots: int) -> str:
    """The cost line printed before a study runs (a few epochs of the inner folds timed here)."""

    data = inner_data_of(job, ctx).data
    arch, train_settings = trial_settings(timing_point(ctx.spec, ctx.settings), ctx.spec, ctx.settings)
    t_epoch = seconds_per_epoch(data, arch, train_settings, threads=int(ctx.spec.resources.cpu))
    ctx.cache.clear()  # built on the workers, not shipped
    epochs = trials * max_epochs
    estimate = estimate_s(epochs, t_epoch, trials, slots)
    return cost_line(f"tuning {job.corpus}", trials, epochs, epochs * data.n_folds, estimate, slots)


def write_outputs(run: TuningRun, corpus, study, db: Path, out_dir: Path, sched: str, fixed: dict) -> CorpusSummary:
    """trials.csv and summary.json always; best.yaml once a trial has completed."""
    import optuna  # heavy: optuna

    spec, settings, say = run.spec, run.settings, run.say
    study = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{db}")
    summary, frame = corpus_summary(study, corpus.name, "same-corpus", sched, out_dir, fixed)
    write_text(out_dir / "trials.csv", frame.to_csv(index=False))
    write_json(out_dir / "summary.json", summary.to_dict())
    if summary.best is None:
        say(f"   no trial of {corpus.name} has completed yet; no best.yaml written")
        return summary
    max_epochs = max_epochs_of(spec, settings)
    objective = (f"mean over {spec.k - 1} inner folds x {settings.repeats} repeat(s) of the best "
                 f"validation UAR of a DNN (<= {max_epochs} epochs, normalisation "
                 f"{spec.normalisation}); fold {HELD_OUT_FOLD} of each repeat's split held out")
    tuned = tuned_block(mode="same-corpus", corpus=corpus.name, spec_name=spec.name, spec_hash=run.spec_hash,
                        num_samples=settings.num_samples, epochs=max_epochs, repeats=settings.repeats,
                        held_out_fold=HELD_OUT_FOLD, summary=summary)
    best_yaml = out_dir / "best.yaml"
    write_text(best_yaml, best_fragment(summary.best, tuned, summary=summary, objective=objective))
    say(summary_line(summary, best_yaml))
    return summary


def run_tuning(spec: str, storage: str = "runs", address: str | None = None, verbose: bool = False,
               *, num_samples: int | None = None, time_budget_s: float | None = None,
               targets: list[str] | None = None, features_dir: str | None = None,
               max_concurrent: int | None = None, nested: bool = False,
               say: Callable[[str], None] = print) -> Path:
    """Tune the architecture for every target corpus of `spec`; return the tune run folder
    (RUNDIR/tune, or RUNDIR/tune/nested with `nested=True`).

    Keyword overrides (CLI flags) win over the spec's `tune:` block.
    """
    import optuna  # heavy: optuna

    parsed, tune_raw = load_tuning_spec(spec, features_dir)
    settings = tuning_settings(parsed, tune_raw, {"num_samples": num_samples, "time_budget_s": time_budget_s,
                                                  "max_concurrent": max_concurrent})
    trial_settings({}, parsed, settings)  # a bad fixed value (activation: sigmiod) fails before Ray starts
    wanted = tuning_targets(parsed, targets)
    root = tune_root(parsed, storage)
    if len(parsed.features) > 1:
        raise UserError(f"spec {parsed.origin}: tuning searches one feature set at a time; give "
                        f"features: [{parsed.features[0]}] (one of {', '.join(parsed.features)}) in a copy of the spec")
    corpora = load_corpora(parsed, set())
    spec_hash = parsed.hash({n: c.fingerprint for n, c in corpora.items()})
    corpora = {c.name: c for c in corpora.values()}  # one feature set: the tuner keys corpora by name
    if not verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    with ray_session(address, verbose, say) as ray:
        fitted = fit_resources(parsed, ray, say)
        run = TuningRun(parsed, settings, fitted.request, fitted.count, spec_hash, say, verbose)
        if nested:
            return tune_nested(run, corpora, wanted, root / "nested")
        for target in wanted:
            lock_dir = RunDir(Storage(str(root.parent.parent)), f"{parsed.name}/tune/{target}")
            try:
                with RunLock(lock_dir, say=say):
                    tune_corpus(run, corpora[target], root / target)
            finally:
                merge_trials_csv(root)
                merge_summaries(root)
    return root
