"""Scheduling the units on Ray Tune: the Ray session, resources, dependency order, one Tune run.

Two stages run as ONE Tune run, so no stage boundary idles the cluster: every source model the
unfinished transfer trials need, then the transfer packs (each handed to Tune as soon as its own
source models exist), with the DNN packs filling free slots. A searcher (Ray Tune's public
Searcher interface) hands out the units in priority order; it keeps the waiting units indexed by
the source models they miss, so each suggestion and each finished source model costs O(log n),
not a scan of every pending unit.
"""
from __future__ import annotations

import hashlib
import heapq
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable

from paragrid.grid.console import Slots
from paragrid.grid.plan import Unit


def unit_config(unit: Unit) -> dict:
    """A Tune trial's config: flat, readable coordinates of its unit (Tune's loggers, MLflow params
    and the Ray dashboard show them); the worker looks the unit itself up by `unit_id`."""
    if unit.is_source:
        js = unit.jobs
        return {"unit_id": unit.id, "stage": unit.stage, "kind": "source", "task": js[0].task,
                "corpus": js[0].corpus, "budgets": ",".join(str(b) for b in sorted({j.budget for j in js})),
                "repeats": ",".join(str(r) for r in sorted({j.repeat for j in js})), "n_trials": 0,
                "n_models": len(js)}
    ts = [m.trial for m in unit.members]
    return {"unit_id": unit.id, "stage": unit.stage, "kind": "pack", "method": ts[0].method,
            "sources": ts[0].sources_label, "target": ts[0].target,
            "budgets": ",".join(str(b) for b in sorted({t.budget for t in ts})),
            "repeats": ",".join(str(r) for r in sorted({t.repeat for t in ts})), "n_trials": len(ts)}


def dependency_searcher(units: list[Unit], stored: set[str], on_drop: Callable[[Unit, str], None]):
    """A ray.tune Searcher that hands out `units` in order, each once its source models exist.

    A unit waits (suggest returns None) until every source model it needs has been trained (or
    was stored); if one of them failed for good, the unit is dropped and reported instead of
    waiting forever."""
    from ray.tune.search import Searcher  # heavy: ray

    class DependencySearcher(Searcher):
        def __init__(self):
            super().__init__()
            self.ready: list[tuple[int, Unit]] = []           # heap by grid order
            self.missing: dict[int, set[str]] = {}            # waiting unit -> keys it lacks
            self.waiting_on: dict[str, list[int]] = {}        # key -> waiting units
            self.units = list(units)
            self.have = set(stored)
            self.lost: set[str] = set()
            self.by_trial: dict[str, Unit] = {}
            self.left = len(units)
            self.interrupted = False  # set on Ctrl-C (a plain bool: Tune pickles searchers)
            for i, u in enumerate(self.units):
                lacks = set(u.needs) - self.have
                if lacks:
                    self.missing[i] = lacks
                    for k in lacks:
                        self.waiting_on.setdefault(k, []).append(i)
                else:
                    heapq.heappush(self.ready, (i, u))

        def set_search_properties(self, metric, mode, config, **spec) -> bool:
            return True

        def save(self, checkpoint_path: str) -> None:  # resume is ours (trial files), not Tune's
            pass

        def restore(self, checkpoint_path: str) -> None:
            pass

        def suggest(self, trial_id: str):
            if self.interrupted:  # Ctrl-C: start nothing new
                return Searcher.FINISHED
            if self.ready:
                _, unit = heapq.heappop(self.ready)
                self.left -= 1
                self.by_trial[trial_id] = unit
                return unit_config(unit)
            return Searcher.FINISHED if self.left == 0 else None

        def source_finished(self, key: str, ok: bool) -> None:
            (self.have if ok else self.lost).add(key)
            for i in self.waiting_on.pop(key, []):
                if i not in self.missing:
                    continue  # already dropped through another lost source
                if not ok:
                    del self.missing[i]
                    self.left -= 1
                    on_drop(self.units[i], key)
                    continue
                self.missing[i].discard(key)
                if not self.missing[i]:
                    del self.missing[i]
                    heapq.heappush(self.ready, (i, self.units[i]))

        def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
            unit = self.by_trial.get(trial_id)
            if unit is not None and unit.is_source:
                ok = not error and not (result or {}).get("user_error")
                for key in sorted(unit.provides):
                    self.source_finished(key, ok)

    return DependencySearcher()


@contextmanager
def ctrl_c(on_interrupt):
    """Ctrl-C stops the grid for sure, whatever part of Tune's loop it lands in.

    The KeyboardInterrupt a SIGINT raises can be swallowed inside Tune's event loop (seen: the
    grid then ran to its end). So the handler also tells the searcher to hand out no further
    unit, and the interrupt is raised again once `fit` returns. Finished trials are already
    durable; the next run resumes from them."""

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        on_interrupt()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def trial_name(trial) -> str:
    """Tune's name and folder for a trial: the unit's id (shortened, still unique, if very long)."""

    uid = trial.config["unit_id"]
    return uid if len(uid) <= 100 else f"{uid[:90]}-{hashlib.sha1(uid.encode()).hexdigest()[:8]}"


def run_tune(units: list[Unit], stored: set[str], trainable, slots: Slots, queue: int, max_failures: int,
             logs_uri: str, callbacks: list, on_drop):
    """One Ray Tune run over every unit (a trainable, a searcher over the units, a Tuner);
    returns Tune's ResultGrid. `queue`: live trials at most; `max_failures`: retries per unit."""
    from ray import tune  # heavy: ray
    from ray.tune.search import ConcurrencyLimiter  # heavy: ray

    dependencies = dependency_searcher(units, stored, on_drop)
    # Live trials (pending + running): `queue`; a 10,000-trial grid is never queued at once. A
    # trial Tune holds as pending runs before anything suggested later, so a deep queue on one
    # machine would let early fillers (DNN packs) jump ahead of longer transfer packs.
    searcher = ConcurrencyLimiter(dependencies, max_concurrent=queue)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    tuner = tune.Tuner(
        tune.with_resources(trainable, slots.request),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, reuse_actors=True,
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name),
        run_config=tune.RunConfig(
            name=f"grid-{stamp}", storage_path=logs_uri, verbose=0,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=max_failures)),
    )
    with ctrl_c(lambda: setattr(dependencies, "interrupted", True)):
        return tuner.fit()
