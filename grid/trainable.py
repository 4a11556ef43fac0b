"""The function every Ray Tune trial runs on a worker: one unit (a source model or a pack).

Files first, then the report: a pack writes each of its trials' tables (atomically, done.json
last) before it reports its summary to Tune, so every finished trial is on disk before the next
unit starts, and an interrupted pack recomputes only the trials whose files are missing.

What Tune receives is the science, not a token: mean and std of the validation and test UAR over
the unit's folds, epochs run, best epochs, wall time, pack size and device, so ResultGrid, Tune's
loggers and the Ray dashboard show it (paragrid's own per-(trial, fold) files stay the source
of truth; tests/test_grid_tune_results.py checks the two agree).

A `UserError` is deterministic (bad input: retrying cannot help), so it is not raised to Tune,
which would retry it: the unit reports `user_error` with the message and ends; the driver counts
it as failed at once. Any other exception (a crash, a lost worker) is raised, and Tune retries
the unit up to `max_failures` times.
"""
from __future__ import annotations

import fnmatch
import socket
import time
import traceback
from dataclasses import dataclass

from paragrid.errors import UserError
from paragrid.grid.plan import is_done
from paragrid.grid.sources import Corpus, ModelStore
from paragrid.grid.spec import Spec
from paragrid.grid.store import RunDir, Storage
from paragrid.grid.work import Unit

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


def run_unit(config: dict, ctx: WorkerContext) -> None:
    """Tune's trainable: run config["unit"], write its files, report its summary."""
    import ray
    import torch
    from ray import tune

    t_enter = time.time()
    unit: Unit = ctx.units[config["unit_id"]]
    torch.set_num_threads(ctx.threads)
    device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES to ours
    node = f"{ray.util.get_node_ip_address()}:{ray.get_runtime_context().get_node_id()[:12]}"
    storage = Storage(ctx.storage)
    run = RunDir(storage, ctx.run)
    report = {"unit_id": unit.id, "stage": unit.stage, "n_trials": unit.n_trials, "pack_size": unit.n_trials,
              "device": device, "node": node, "t_enter": t_enter}
    try:
        _maybe_fault(ctx.fault, unit, run)
        if ctx.user_fault and _matches(ctx.user_fault, unit):
            raise UserError(f"injected deterministic error ({USER_FAULT_ENV}={ctx.user_fault}): "
                            "fold 2 holds no 'sad' utterance")
        t0 = time.time()
        if unit.is_source:
            report.update(_source(unit, ctx, storage, device, node, t_enter))
        else:
            report.update(_pack(unit, ctx, run, storage, device, node, t_enter))
        report.update(t_train0=t0, t_train1=time.time())
    except UserError as err:
        _write_error(run, unit, err)
        tune.report({**report, "user_error": " ".join(str(err).split()), "t_exit": time.time()})
        return
    except Exception as err:
        _write_error(run, unit, err)
        raise
    report["wall_s"] = time.time() - t_enter
    tune.report({**report, "t_exit": time.time()})


def _source(unit: Unit, ctx: WorkerContext, storage: Storage, device: str, node: str, t_enter: float) -> dict:
    import numpy as np

    from paragrid.grid.trial import train_source

    models = ModelStore(storage)
    job = unit.source
    if models.has(job.key):  # trained by an earlier attempt or run: its record is enough
        meta = storage.read_json("source-models", job.key, "meta.json")
    else:
        t0 = time.time()
        model, meta = train_source(job, ctx.spec, ctx.corpora, device)
        meta.update(node=node, hostname=socket.gethostname(), t_enter=t_enter, t_train0=t0,
                    t_train1=time.time())  # stamps for bench/
        models.save(job.key, model, meta)
    test, val = np.asarray(meta["test_uar"], float), np.asarray(meta["val_uar"], float)
    return {"test_uar_mean": float(test.mean()), "test_uar_std": float(test.std()),
            "val_uar_mean": float(val.mean()), "val_uar_std": float(val.std()),
            "epochs_run_mean": float(np.mean(meta["epochs_run"])),
            "best_epoch_mean": float(np.mean(meta["best_epoch"])), "folds": len(test)}


def _pack(unit: Unit, ctx: WorkerContext, run: RunDir, storage: Storage, device: str, node: str,
          t_enter: float) -> dict:
    import pandas as pd

    from paragrid.grid.trial import run_pack, summary

    # Resume inside a pack: trials whose files exist (an earlier attempt wrote them) are not redone.
    todo = [m for m in unit.members if not is_done(run, m.trial_id, ctx.spec_hash)]
    written = []
    if todo:
        models = ModelStore(storage)
        cache: dict[str, tuple] = {}
        sources = [[cache.setdefault(k, models.load(k, device)) for k in m.source_keys] for m in todo]
        t0 = time.time()
        outputs = run_pack([m.trial for m in todo], ctx.spec, ctx.spec_hash, ctx.corpora, sources, device,
                           node, pack_id=unit.id)
        t1 = time.time()
        for m, (results, curves) in zip(todo, outputs):
            run.write_trial(m.trial_id, results, curves, {
                "spec_hash": ctx.spec_hash, "trial_id": m.trial_id, "unit_id": unit.id, "node": node,
                "device": device, "rows": len(results), "t_enter": t_enter, "t_train0": t0,
                "t_train1": t1})  # + t_written
            written.append(results)
    frames = written + [run.storage.read_parquet(*run.trial(m.trial_id, "results.parquet"))
                        for m in unit.members if m not in todo]
    out = summary(pd.concat(frames, ignore_index=True))
    out["trials_resumed"] = len(unit.members) - len(todo)
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
