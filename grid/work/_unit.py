"""One unit of work (a source model pack or a pack of trials) executed, free of Ray: what every
Ray Tune trial runs on a worker (grid/run/_trainable.py wraps it: Ray's GPU ids and node, then
tune.report of the returned summary) and what bench/gpu.py runs in process on a GPU box that has
no Ray.

Files first, then the report: a pack writes its trials' tables (atomically, done.json naming
the trials last) before it reports its summary to Tune, so every finished trial is on disk
before the next unit starts. A pack's trials finish together, so an interrupted pack has no
finished trial to lose; a retried unit whose files exist (it wrote them, then its worker died
before the report) reads them instead of training again.

What the caller reports is the science, not a token: mean and std of the validation and test UAR over
the unit's folds, epochs run, best epochs, wall time, pack size and device, so ResultGrid, Tune's
loggers and the Ray dashboard show it (paragrid's own per-(trial, fold) files stay the source
of truth; tests/test_grid_tracking.py checks the two agree).

A `UserError` is deterministic (bad input: retrying cannot help), so it is not raised to Tune,
which would retry it: the summary carries `user_error` with the message; the driver counts
it as failed at once. Any other exception (a crash, a lost worker) is raised, and Tune retries
the unit up to `max_failures` times.
"""
from __future__ import annotations

import fnmatch
import socket
import time
import traceback
from dataclasses import dataclass

import pandas as pd

from paragrid.errors import UserError
from paragrid.grid.data import Corpus
from paragrid.grid.plan import Unit
from paragrid.grid.work._device import DeviceChoice
from paragrid.grid.work._train import run_pack, summary, train_sources
from paragrid.grid.spec import Spec
from paragrid.grid.store import ModelStore, RunDir, Storage

# Fault injection for tests and drills: units whose id matches this glob fail on their first
# attempt (a marker file in the unit's folder remembers it), to exercise retries end to end.
FAULT_ENV = "PARAGRID_FAULT_ONCE"
# ... and units matching this glob raise a UserError on every attempt (a deterministic error).
USER_FAULT_ENV = "PARAGRID_FAULT_USER_ERROR"


@dataclass(frozen=True)
class WorkerContext:
    """What every unit needs, shipped once through Ray's object store (tune.with_parameters)."""

    spec: Spec
    spec_hash: str
    corpora: dict[str, Corpus]
    storage: str
    run: str
    threads: int
    units: dict[str, Unit]
    fault: str | None = None
    user_fault: str | None = None


def execute_unit(unit_id: str, ctx: WorkerContext, choice: DeviceChoice) -> dict:
    """Run unit `unit_id` on the device `choice` names, write its files; return its summary (the
    report: science, stamps, device and GPU id, or `user_error`). Raises on anything but a
    UserError, so Ray retries it."""
    import torch  # heavy: torch

    t_enter = time.time()
    unit: Unit = ctx.units[unit_id]
    torch.set_num_threads(ctx.threads)
    node = choice.node
    storage = Storage(ctx.storage)
    run = RunDir(storage, ctx.run)
    report = {"unit_id": unit.id, "stage": unit.stage, "n_trials": unit.n_trials, "pack_size": unit.n_trials,
              "device": choice.device, "gpu_id": choice.gpu_id, "node": node, "t_enter": t_enter}
    try:
        choice.check()  # a GPU torch cannot use: one line naming the node, before any training
        _maybe_fault(ctx.fault, unit, run)
        if ctx.user_fault and _matches(ctx.user_fault, unit):
            raise UserError(f"injected deterministic error ({USER_FAULT_ENV}={ctx.user_fault}): "
                            "fold 2 holds no 'sad' utterance")
        t0 = time.time()
        if unit.is_source:
            report.update(_source(unit, ctx, storage, choice, t_enter))
        else:
            report.update(_pack(unit, ctx, run, storage, choice, t_enter))
        report.update(t_train0=t0, t_train1=time.time())
    except UserError as err:
        _write_error(run, unit, err)
        return {**report, "user_error": " ".join(str(err).split()), "t_exit": time.time()}
    except Exception as err:
        _write_error(run, unit, err)
        raise
    report["wall_s"] = time.time() - t_enter
    return {**report, "t_exit": time.time()}


def _source(unit: Unit, ctx: WorkerContext, storage: Storage, choice: DeviceChoice, t_enter: float) -> dict:
    device, node = choice.device, choice.node
    models = ModelStore(storage)
    metas = {}
    for job in unit.jobs:  # stored by an earlier attempt or run: its record is enough
        if models.has(job.key):
            metas[job.key] = storage.read_json("source-models", job.key, "meta.json")
    todo = [j for j in unit.jobs if j.key not in metas]
    if todo:
        t0 = time.time()
        trained = train_sources(todo, ctx.spec, ctx.corpora, device)
        t1 = time.time()
        for job, (model, meta) in zip(todo, trained):
            meta.update(node=node, gpu_id=choice.gpu_id, hostname=socket.gethostname(), t_enter=t_enter, t_train0=t0,
                        t_train1=t1, unit_id=unit.id)  # stamps for bench/ (one pair per pack)
            models.save(job.key, model, meta)
            metas[job.key] = meta
    folds = pd.concat([pd.DataFrame({c: metas[j.key][c] for c in ("test_uar", "val_uar", "epochs_run", "best_epoch")})
                       for j in unit.jobs], ignore_index=True)   # one row per fold-model, as a pack's results
    return {**summary(folds), "models_resumed": len(unit.jobs) - len(todo)}


def _pack(unit: Unit, ctx: WorkerContext, run: RunDir, storage: Storage, choice: DeviceChoice,
          t_enter: float) -> dict:
    device, node = choice.device, choice.node
    done = run.unit_done(unit.id)
    if done and done.get("spec_hash") == ctx.spec_hash and tuple(done["trial_ids"]) == unit.trial_ids:
        results, _ = run.read_unit(unit.id)     # written by an earlier attempt: nothing to redo
        resumed = unit.n_trials
    else:
        models = ModelStore(storage)
        loaded: dict[str, tuple] = {}  # trials of one repeat share a source model: load it once
        for k in dict.fromkeys(k for m in unit.members for k in m.source_keys):
            loaded[k] = models.load(k, device)
        sources = [[loaded[k] for k in m.source_keys] for m in unit.members]
        t0 = time.time()
        results, curves = run_pack([m.trial for m in unit.members], ctx.spec, ctx.spec_hash, ctx.corpora, sources,
                                   device, node, pack_id=unit.id, gpu_id=choice.gpu_id)
        run.write_unit(unit.id, results, curves, {
            "spec_hash": ctx.spec_hash, "unit_id": unit.id, "trial_ids": list(unit.trial_ids), "node": node,
            "device": device, "gpu_id": choice.gpu_id, "rows": len(results), "t_enter": t_enter, "t_train0": t0,
            "t_train1": time.time()})  # + t_written
        resumed = 0
    out = summary(results)
    out["trials_resumed"] = resumed
    return out


def _matches(pattern: str, unit: Unit) -> bool:
    return fnmatch.fnmatch(unit.id, pattern) or any(fnmatch.fnmatch(t, pattern) for t in unit.trial_ids)


def _maybe_fault(pattern: str | None, unit: Unit, run: RunDir) -> None:
    if not pattern or not _matches(pattern, unit):
        return
    marker = run.at("units", unit.id, "fault-injected")
    if not run.storage.exists(*marker):
        run.storage.write_text(f"{time.time()}\n", *marker)
        raise RuntimeError(f"injected fault ({FAULT_ENV}={pattern}): the first attempt fails on purpose")


def error_parts(run: RunDir, unit_id: str) -> tuple[str, ...]:
    return run.at("units", unit_id, "error.txt")


def _write_error(run: RunDir, unit: Unit, err: BaseException) -> None:
    """error.txt: the one-line summary first (the console shows it), then the traceback."""
    head = f"{type(err).__name__}: {' '.join(str(err).split())}"
    body = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        run.storage.write_text(f"{head}\n\n{body}", *error_parts(run, unit.id))
    except OSError:
        pass
