"""`paragrid run`: a grid spec -> Ray Tune -> <storage>/<spec name>/results.parquet.

The steps, one module each:
  plan      (grid/plan/_plan.py)      spec + corpora -> trials, what is finished, units of work (packs)
  schedule  (grid/run/_schedule.py)  the Ray session and ONE Tune run over the units, sources first
  work      (grid/work, wrapped by grid/run/_trainable.py) on a worker: train a unit, write each trial's files, report
  merge     (grid/run/_merge.py)     finished trials' files -> the run's tables, linear in the work
  console   (grid/run/_progress.py, grid/console/)  plan, progress, ETA; Ray's noise to a log file
This module only strings them together. A re-run skips every trial whose files exist with the
same spec hash, so an interrupted run resumes and a finished one does no training. Crashed units
are retried (`max_failures`); a deterministic error (UserError) fails its unit at once; either
way the rest of the grid still runs, and the failures are reported in one line each.

The driver reads the feature tables once and ships them to the workers through Ray's object
store, so workers need no access to the features folder; they do need to reach the storage
(a shared filesystem or a URI such as s3://...) where results and source models live.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ray import tune

from paragrid.errors import UserError
from paragrid.grid.console import StatusLine, fit_resources, fmt_duration, ray_output_to, ray_session
from paragrid.grid.plan import (DNN_STAGE, SOURCE_STAGE, TRANSFER_STAGE, CalibrationThread, CostModel,
                                PackPolicy, Plan, SourceJob, Unit, find_finished, make_units, plan_grid,
                                read_gpu_calibration, sources_to_train, stage_counts, wall_estimate)
from paragrid.grid.run._merge import Merger
from paragrid.grid.run._progress import GridProgress, ProgressHooks
from paragrid.grid.run._schedule import run_tune
from paragrid.grid.run._tracking import Tracking, callbacks, parse_track
from paragrid.grid.run._trainable import run_unit
from paragrid.grid.spec import load_spec
from paragrid.grid.store import RunDir, RunLock, remove_report, under_trained_line
from paragrid.grid.work import FAULT_ENV, USER_FAULT_ENV, WorkerContext, error_parts


class TrialsFailed(UserError):
    """Some trials failed after their retries; the others' results were written."""


def _say(line: str) -> None:
    print(line, flush=True)


def run_grid(spec, storage: str | None = None, address: str | None = None, verbose: bool = False,
             architecture=None, features_dir: str | None = None, track: list[str] | None = None,
             say=_say, on_results=None, replace: bool = False) -> Path | str:
    """Run (or resume) a grid spec; return the run folder (a Path, or the URI for remote storage).

    `spec` is a YAML path, a built-in name or a loaded Spec. `storage` None uses the spec's
    `storage` key, else "runs". `address` None starts a local Ray instance (or reuses one already
    initialised in this process); "auto" or "host:port" / "ray://host:port" attaches to a
    cluster. `architecture`: one or more `--architecture` entries (paragrid.grid.spec).
    `track`: `--track` entries (paragrid.grid.run). `on_results(result_grid)` receives Ray
    Tune's ResultGrid of this call (not called when nothing was left to run). A changed spec
    under the same name runs in `<name>-<hash8>/`, leaving the earlier run as it is, unless
    `replace` (grid/store/_folder.py).
    """

    s = spec if not isinstance(spec, (str, Path)) else load_spec(spec, architecture=architecture,
                                                                 features_dir=features_dir)
    plan = plan_grid(s, storage, say, replace=replace)
    if plan.folder_note:
        say(f"note: {plan.folder_note}")
    # a local MLflow store lives in the run folder (on remote storage: the current folder)
    tracking = parse_track(track, plan.run.storage.path(plan.run.name) if plan.run.storage.is_local else ".")
    with RunLock(plan.run, say) as lock:
        _write_run_files(plan, say)
        find_finished(plan)
        if plan.todo and remove_report(plan.run):
            say(f"note: removed {plan.run.uri}/report/ (it described the results before this run; "
                "`paragrid report` writes it again)")
        merger = Merger(plan.run, plan.spec_hash, [t.trial_id for t in plan.trials])
        merger.collect(plan.finished_units)
        if not plan.todo:
            results = merger.finish()
            say(f"nothing to do: all {len(plan.trials)} trials of '{s.name}' are finished (spec_hash "
                f"{plan.spec_hash}); no training was run. Results: {plan.run.uri}/results.parquet")
            _warn_under_trained(results, say)
            return _result_path(plan.run)
        to_train, stored = sources_to_train(plan)
        calibration = CalibrationThread(s, plan.corpora)
        calibration.start()
        t_start = time.time()
        failures: list[tuple[str, str, str]] = []
        n_src = 0  # source models that failed for good
        try:
            failures, n_src = _schedule(_Session(plan, to_train, stored, calibration, merger, lock, address,
                                                 verbose, tracking, say, on_results))
        finally:
            # Also on Ctrl-C: every trial whose files are durable is in the tables, including
            # those that finished after Tune's last report reached the driver.
            merger.collect(plan.run.finished_units(plan.spec_hash))
            results = merger.finish()
        n_done = len(merger.done)
        say(f"finished {n_done}/{len(plan.trials)} trials in {fmt_duration(time.time() - t_start)}; "
            f"results: {plan.run.uri}/results.parquet ({len(results)} rows), curves.parquet/")
        _warn_under_trained(results, say)
        if failures or n_done < len(plan.trials):
            first = failures[0] if failures else ("?", "not finished", "")
            raise TrialsFailed(
                f"{len(plan.trials) - n_done} of {len(plan.trials)} trials did not finish"
                f"{f' ({n_src} source model(s) failed)' if n_src else ''}; first failure: "
                f"{first[0]}: {first[1]}{' [log: ' + first[2] + ']' if first[2] else ''}; "
                f"the finished trials are in {plan.run.uri}/results.parquet; re-run the same "
                "command to retry the rest")
    return _result_path(plan.run)


@dataclass
class _Session:
    """One run_grid call while Tune runs: the driver's state and how the call asked to run."""

    plan: Plan
    to_train: list[SourceJob]        # source models to train in this run
    stored: set[str]                 # keys of source models already stored
    calibration: CalibrationThread   # timing the trainer while Ray starts
    merger: Merger
    lock: RunLock
    address: str | None
    verbose: bool
    tracking: Tracking
    say: Callable[[str], None]
    on_results: Callable[[object], None] | None


def _schedule(session: _Session) -> tuple[list[tuple[str, str, str]], int]:
    """Start Ray, pack the work, run it; return the failures (unit id, error, log) and how many
    source models failed (a failed pack of source models counts each of its models)."""
    plan, merger, lock, say, verbose = session.plan, session.merger, session.lock, session.say, session.verbose
    address, stored = session.address, session.stored
    s = plan.spec
    log_file = plan.run.storage.path(plan.run.name, "logs", "ray-console.log") if plan.run.storage.is_local else None
    with ray_output_to(log_file, verbose, title=f"paragrid run {s.name}") as con, \
            ray_session(address, verbose, say, captured=con.captured) as ray:
        if say is _say or say is print:
            say = con.say  # the real terminal (Ray's prints to sys.stdout go to the log meanwhile)
        if con.captured:
            say(f"Ray's own output goes to {con.log_path} (-v shows it here)")
        slots = fit_resources(s, ray, say)
        costs = CostModel(s, plan.corpora, session.calibration.get(say))
        gpu_cal = read_gpu_calibration() if slots.gpu else None
        if gpu_cal:
            say(f"GPU packs sized with memory measured on {gpu_cal.device_name} ({gpu_cal.path}: "
                f"{gpu_cal.scale:.2f} x the analytic estimate)")
        policy = PackPolicy(setting=s.resources.pack, gpu=slots.gpu, slots=slots.count,
                            fold_bytes_scale=gpu_cal.scale if gpu_cal else 1.0)
        units = make_units(plan, session.to_train, costs, policy)
        _print_plan(plan, units, stored, say)
        _print_estimate(units, slots.count, slots.gpu, say)
        ctx = WorkerContext(spec=s, spec_hash=plan.spec_hash, corpora=plan.corpora, storage=plan.root.uri(),
                            run=plan.run.name, threads=max(1, int(s.resources.cpu)), units={u.id: u for u in units},
                            fault=os.environ.get(FAULT_ENV) or None,
                            user_fault=os.environ.get(USER_FAULT_ENV) or None)

        def on_done(unit: Unit) -> None:
            if not unit.is_source:
                merger.add({unit.id: unit.trial_ids})

        def on_tick() -> None:  # every Tune step; both are rate-limited
            merger.flush()
            lock.heartbeat()

        progress = GridProgress(
            s.name, units, slots.count, verbose, max_failures=s.max_failures,
            hooks=ProgressHooks(on_done=on_done, error_of=_error_of(plan.run), on_tick=on_tick),
            status=StatusLine(out=None if say == con.say else say, stream=con.stdout or sys.stdout))

        def on_drop(unit: Unit, key: str) -> None:
            progress.fail(unit, f"its source model {key[:8]} failed", "")

        # Attached to a cluster (--address), queue beyond the free slots so an autoscaler sees
        # the demand; on this machine, decide each next unit only when a slot frees.
        queue = slots.count if address is None else max(4 * slots.count, 16)
        trainable = tune.with_parameters(run_unit, ctx=ctx)
        try:
            grid = run_tune(units, stored, trainable, slots, queue, s.max_failures,
                            plan.run.storage.uri(plan.run.name, "logs"),
                            [progress, *callbacks(session.tracking, s.name, s.to_yaml(plan.spec_hash))], on_drop)
            if session.on_results is not None:
                session.on_results(grid)
        finally:
            progress.close()
    return [tuple(f) for f in progress.failures], progress.failed.get(SOURCE_STAGE, 0)


def _warn_under_trained(results, say) -> None:
    line = under_trained_line(results)
    if line:
        say(f"warning: {line}")


def _result_path(run: RunDir) -> Path | str:
    return Path(run.storage.path(run.name)) if run.storage.is_local else run.uri


def _write_run_files(plan: Plan, say) -> None:
    st, run, s = plan.run.storage, plan.run, plan.spec
    st.write_text(s.to_yaml(plan.spec_hash), *run.at("spec.yaml"))
    targets = list(dict.fromkeys(t for e in s.experiments for t in e.targets))
    st.write_json({"spec_name": s.name, "spec_hash": plan.spec_hash, "origin": s.origin,
                   "corpora": {n: {"path": c.path, "fingerprint": c.fingerprint, "utterances": c.n}
                               for n, c in plan.corpora.items()},
                   "architectures": {t: {"origin": s.origin_for(t)[0], "file": s.origin_for(t)[1],
                                         "architecture": s.arch_for(t).to_dict()} for t in targets},
                   "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                  *run.at("run.json"))


def _print_plan(plan: Plan, units: list[Unit], stored: set[str], say) -> None:
    """Units and trials per stage, before anything runs."""
    s = plan.spec
    say(f"grid '{s.name}' (spec_hash {plan.spec_hash}) -> {plan.run.uri}")
    counts = stage_counts(units)
    src = counts[SOURCE_STAGE]
    say(f"  1. {SOURCE_STAGE}: {src.work} to train" + (f" in {src.units} pack(s)" if src.work != src.units else "")
        + (f" ({len(stored)} already stored)" if stored else ""))
    for i, stage in enumerate((TRANSFER_STAGE, DNN_STAGE), start=2):
        c = counts[stage]
        say(f"  {i}. {stage}: {c.work} trial(s) in {c.units} pack(s)" if c.work != c.units
            else f"  {i}. {stage}: {c.work} trial(s)")
    if plan.finished:
        say(f"  resuming: {len(plan.finished)} of {len(plan.trials)} trials already finished")
    for target in dict.fromkeys(t.target for t in plan.todo):
        origin, path = s.origin_for(target)
        if origin != "spec" or path:
            say(f"  architecture for {target}: {origin} ({path})")
    for note in plan.notes:
        say(f"  note: {note}")


def _print_estimate(units: list[Unit], slots: int, gpu: float, say) -> None:
    estimate = wall_estimate(units, slots)
    if estimate is None:
        return
    say(f"estimate: ~{fmt_duration(estimate)} with {slots} unit(s) at a time; from this "
        f"machine's CPU, corrected as units finish{'; GPU units may be faster' if gpu else ''}")


def _error_of(run: RunDir):
    def error_of(unit_id: str, trial) -> tuple[str, str]:
        result = getattr(trial, "last_result", None) or {}
        if result.get("user_error"):
            return result["user_error"], run.storage.uri(*error_parts(run, unit_id))
        parts = error_parts(run, unit_id)
        try:
            first = run.storage.read_text(*parts).splitlines()[0]
            return first, run.storage.uri(*parts)
        except (FileNotFoundError, OSError, IndexError):
            pass
        # The worker died before it could write (killed, out of memory): Tune's record.
        err = None
        try:
            err = trial.get_error()
        except Exception:  # noqa: BLE001 - best effort only
            pass
        text = " ".join(str(err).split())[-200:] if err else "the trial's worker died"
        return text, str(getattr(trial, "path", None) or "the Ray worker logs (run with -v)")
    return error_of
