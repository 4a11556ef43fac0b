"""The three Ray Tune plug-ins of `paragrid tune`: searcher, scheduler and progress callback.

Why module-level classes (not classes made inside a function): Tune pickles its search
algorithm, scheduler and callbacks into the experiment folder (tuner.pkl) for its own
restore. A class defined in a function is pickled by value together with everything its
closures hold (live Optuna studies, the console's print function), which fails or drags in
far too much; these classes are pickled by reference and say, in __getstate__, that paragrid
keeps no Tune-side state (the Optuna studies are what resumes). Public extension points only:
ray.tune.search.Searcher, ray.tune.schedulers.FIFOScheduler, ray.tune.Callback.
"""
from __future__ import annotations

from dataclasses import replace

from optuna.trial import TrialState
from ray.tune import Callback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from paragrid.grid.tune._study import METRIC, OnOuter, OnSearch, Stream


class StudySearcher(Searcher):
    """Suggests the next trial of the first stream that wants one (ask), reports each trial's
    per-epoch values to its Optuna trial, and tells Optuna how it ended: COMPLETE with its
    objective (it trained to the end), PRUNED (stopped early, keeping its last value) or
    FAIL. A nested stream whose search is done then yields its one outer job."""

    def __init__(self, streams, *, on_search, on_outer, stopped=frozenset()) -> None:
        super().__init__(metric=METRIC, mode="max")
        self.streams = streams
        self.on_search, self.on_outer, self.stopped = on_search, on_outer, stopped
        self.live: dict = {}          # Tune trial id -> (stream, Optuna trial)
        self.outer_live: dict = {}    # Tune trial id -> (stream, its outer job)
        self.reported: dict = {}      # Tune trial id -> last step reported to Optuna

    def __getstate__(self) -> dict:
        return {"metric_mode": (self.metric, self.mode)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def save(self, checkpoint_path: str) -> None:  # resume is the studies', not Tune's
        pass

    def restore(self, checkpoint_path: str) -> None:
        pass

    def suggest(self, trial_id: str):
        for s in self.streams:
            if s.wants_trial():
                trial = s.study.ask(fixed_distributions=s.distributions)
                s.live += 1
                self.live[trial_id] = (s, trial)
                job = replace(s.job, kind="search", params={**s.fixed, **trial.params},
                              number=trial.number, baseline=bool(trial.user_attrs.get("baseline")))
                return {"job": job}
        for s in self.streams:
            if s.outer is not None and s.outer_state == "todo" and s.search_done():
                if not s.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                    s.outer_state = "skipped"
                    self.on_outer(s, s.outer, None, True)
                    continue
                best = s.study.best_trial
                s.outer_state = "running"
                job = replace(s.outer, kind="outer", params={**s.fixed, **best.params},
                              number=best.number, value=float(best.value))
                self.outer_live[trial_id] = (s, job)
                return {"job": job}
        if not any(s.pending() for s in self.streams):
            return Searcher.FINISHED
        return None

    def _report(self, trial_id: str, result: dict) -> None:
        """Optuna's intermediate value at step = epoch (each epoch once)."""
        _, trial = self.live[trial_id]
        step = int(result["epoch"])
        if step > self.reported.get(trial_id, 0):
            trial.report(float(result[METRIC]), step=step)
            self.reported[trial_id] = step

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.live and METRIC in result and "epoch" in result:
            self._report(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self.outer_live:
            s, job = self.outer_live.pop(trial_id)
            s.outer_state = "failed" if error or not result else "done"
            self.on_outer(s, job, result, error or not result)
            return
        if trial_id not in self.live:
            return
        finished = bool(result and result.get("finished"))
        if result and not finished and not error and METRIC in result and "epoch" in result:
            self._report(trial_id, result)  # the value that got it stopped
        s, trial = self.live.pop(trial_id)
        self.reported.pop(trial_id, None)
        s.live -= 1
        if result:
            trial.set_user_attr("epochs", int(result.get("epoch", 0)))
        if error:
            frozen = s.study.tell(trial, state=TrialState.FAIL)
            s.failed += 1
        elif finished:
            for name in ("val_uar_folds", "best_epochs", "device", "wall_s"):
                if name in result:
                    trial.set_user_attr(name, result[name])
            frozen = s.study.tell(trial, float(result[METRIC]))
            s.finished += 1
        else:
            # No value -> PRUNED, which keeps the intermediate values it reported.
            trial.set_user_attr("stopped_early", trial_id in self.stopped)
            frozen = s.study.tell(trial, state=TrialState.PRUNED)
            s.finished += 1
        self.on_search(s, frozen, result, error)


def _search_job(trial):
    job = trial.config.get("job") if isinstance(trial.config, dict) else None
    return job if job is not None and getattr(job, "kind", None) == "search" else None


class StreamScheduler(FIFOScheduler):
    """One child scheduler per stream (grid/tune/_schedule.py says why); the baseline is never
    stopped; the trials it stopped are recorded in `stopped`."""

    def __init__(self, make_child, *, grace: int, kind: str) -> None:
        super().__init__()
        self.make_child, self.grace, self.kind = make_child, grace, kind
        self.children: dict = {}
        self.stopped: set[str] = set()
        self.metric_mode: tuple = (None, None)

    def __getstate__(self) -> dict:
        return {"grace": self.grace, "kind": self.kind, "stopped": set(self.stopped)}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        self.metric_mode = (metric, mode)
        return True

    def child(self, trial):
        job = _search_job(trial)
        if job is None:
            return None, None
        if job.stream not in self.children:
            c = self.make_child()
            if c is not None:
                c.set_search_properties(*self.metric_mode)
            self.children[job.stream] = c
        return self.children[job.stream], job

    def on_trial_add(self, tune_controller, trial) -> None:
        c, _ = self.child(trial)
        if c is not None:
            c.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result) -> str:
        c, job = self.child(trial)
        if c is None:
            return TrialScheduler.CONTINUE
        decision = c.on_trial_result(tune_controller, trial, result)
        if job.baseline:
            return TrialScheduler.CONTINUE
        if decision == TrialScheduler.STOP and not result.get("finished"):
            self.stopped.add(trial.trial_id)
        return decision

    def on_trial_complete(self, tune_controller, trial, result) -> None:
        c, _ = self.child(trial)
        if c is not None:
            c.on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        c, _ = self.child(trial)
        if c is not None:
            c.on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        c, _ = self.child(trial)
        if c is not None:
            c.on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return (f"paragrid StreamScheduler ({self.kind}, grace {self.grace} epochs, "
                f"{len(self.children)} stream(s), {len(self.stopped)} stopped early)")


def _cap_of(trial) -> int:
    job = trial.config.get("job") if isinstance(trial.config, dict) else None
    return int(getattr(job, "max_epochs", 0) or 0)


class ProgressCallback(Callback):
    """Feeds a paragrid.grid.tune._progress.TuningProgress from Tune's hooks; prints its line on
    the StatusLine's beat."""

    def __init__(self, progress, status) -> None:
        self.progress, self.status = progress, status

    def __getstate__(self) -> dict:
        return {}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.progress.started(trial.trial_id, _cap_of(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "epoch" in result:
            self.progress.result(trial.trial_id, int(result["epoch"]), _cap_of(trial))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.progress.finished(trial.trial_id, _cap_of(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.progress.finished(trial.trial_id, _cap_of(trial))

    def on_step_end(self, iteration, trials, **info):
        if self.status.due():
            self.status.status(self.progress.line())

    def on_experiment_end(self, trials, **info):
        self.status.status(self.progress.line())


def study_searcher(streams: list[Stream], *, on_search: OnSearch, on_outer: OnOuter,
                  stopped: set[str] | frozenset = frozenset()):
    """The ray.tune.search.Searcher over `streams` (grid/tune_plugins.StudySearcher).

    `stopped`: the Tune trial ids the scheduler stopped (StreamScheduler.stopped, read when a
    trial completes), recorded as the PRUNED trial's `stopped_early` attribute.
    """
    return StudySearcher(streams, on_search=on_search, on_outer=on_outer, stopped=stopped)

