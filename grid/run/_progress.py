"""What the console shows while a grid runs: its trials counted by stage, a status line on a
steady beat (paragrid.grid.console.StatusLine), one line per event.

Why this shape: a line per finished trial buried the console on big grids and said nothing
during long trials; a status every beat and at each stage change reads as a clock. The ETA comes
from paragrid.grid.console's EtaEstimator (measured throughput, bounded change per line) and is
labelled with what it rests on. Errors are one line naming the unit, its error and its log.

Units come from the runner (`paragrid.grid.plan._units.Unit`, found by `trial.config["unit_id"]`): `.id`,
`.stage` ("source models", "transfer trials", "dnn baselines"), `.n_trials` (0 for a source
model, which counts as one model), `.cost` (estimated seconds on one slot, or None).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from ray import tune

from paragrid.grid.console import EtaEstimator, Forecast, StatusLine, fmt_duration, unit_work
from paragrid.grid.plan import STAGES as STAGE_ORDER  # the order stages run in; DNN baselines last


@dataclass
class ProgressHooks:
    """What the runner does as units move (each optional; all run on the driver)."""

    on_done: Callable[[object], None] | None = None        # a unit finished: merge its files
    error_of: Callable[[str, object], tuple[str, str]] | None = None  # (one-line error, log) of a unit
    on_tick: Callable[[], None] | None = None              # every Tune step


class Failure(NamedTuple):
    """A unit that produced no results: its id, its one-line error, where the traceback is."""
    unit_id: str
    error: str
    log: str


def _count(unit) -> int:
    """What a unit adds to its stage's count: its trials, or its source models."""
    return unit.n_trials if unit.n_trials > 0 else max(1, len(getattr(unit, "jobs", ())))


def _noun(unit) -> str:
    if unit.stage == "source models":
        n = len(getattr(unit, "jobs", ()))
        return "source model" if n <= 1 else f"pack of {n} source models"
    return "trial" if unit.n_trials <= 1 else f"pack of {unit.n_trials} trials"


class GridProgress(tune.Callback):
    """Counts the grid's trials by stage and prints its status on a beat (a ray.tune Callback).

    `hooks` are the runner's (ProgressHooks); `status` is where lines go (a StatusLine: its
    clock is injectable for tests); `max_failures` is the retries a unit gets.
    """

    def __init__(self, name: str, units: Sequence, slots: int, verbose: bool = False, *,
                 status: StatusLine | None = None, hooks: ProgressHooks | None = None, max_failures: int = 0):
        self.name, self.verbose, self.slots = name, verbose, max(1, int(slots))
        self.hooks, self.max_failures = hooks or ProgressHooks(), max_failures
        self.console = status or StatusLine()
        self.clock = clock = self.console.clock
        self.units = {u.id: u for u in units}
        present = {u.stage for u in units}
        self.stages = [s for s in STAGE_ORDER if s in present] + \
            sorted(present - set(STAGE_ORDER), key=[u.stage for u in units].index)
        self.total = {s: sum(_count(u) for u in units if u.stage == s) for s in self.stages}
        self.done = dict.fromkeys(self.stages, 0)
        self.failed = dict.fromkeys(self.stages, 0)
        self.state: dict[str, str] = dict.fromkeys(self.units, "pending")  # running/done/failed
        self.open = {s: sum(u.stage == s for u in units) for s in self.stages}  # units pending or running
        self._running = 0
        work, prior = unit_work(units)
        self.eta = EtaEstimator(work, self.slots, prior_rate=prior, clock=clock,
                                groups={u.id: u.stage for u in units})
        self.failures: list[Failure] = []
        self.retried = 0
        self.attempts: dict[str, int] = {}
        self.wall: dict[str, float] = {}  # the unit's own wall_s, from its Tune result
        self.t0 = clock()
        self._stage: str | None = self.current_stage()  # the stage last announced
        self._forecast: tuple[float, Forecast] | None = None

    def __getstate__(self):  # Tune pickles its run config; the runner's hooks stay here
        return {**self.__dict__, "hooks": ProgressHooks()}

    # -- counts
    def _set(self, uid: str, new: str) -> None:
        old, stage = self.state[uid], self.units[uid].stage
        self.state[uid] = new
        self._running += (new == "running") - (old == "running")
        self.open[stage] += (new in ("pending", "running")) - (old in ("pending", "running"))

    def left(self) -> int:
        return sum(self.open.values())

    def running(self) -> int:
        return self._running

    def current_stage(self) -> str | None:
        """The first stage (in run order) with units still to finish; None when all are."""
        return next((s for s in self.stages if self.open[s] > 0), None)

    def _unit(self, trial):
        """The trial's unit: `config["unit"]` (a Unit), or the plan's unit of `config["unit_id"]`
        (a flat config whose values Tune's loggers can show)."""
        config = trial.config
        unit = config.get("unit")
        if unit is None:
            return self.units[config["unit_id"]]
        if unit.id not in self.units:  # not in the plan (should not happen): count it anyway
            self.units[unit.id] = unit
            self.state[unit.id] = "pending"
            if unit.stage not in self.stages:
                self.stages.append(unit.stage)
                self.total[unit.stage] = self.done[unit.stage] = self.failed[unit.stage] = 0
                self.open[unit.stage] = 0
            self.total[unit.stage] += _count(unit)
            self.open[unit.stage] += 1
        return unit

    # -- Tune hooks (all run on the driver)
    def on_trial_start(self, iteration, trials, trial, **info):
        unit = self._unit(trial)
        self._set(unit.id, "running")
        self.attempts[unit.id] = self.attempts.get(unit.id, 0) + 1
        self.eta.start(unit.id)
        if self.verbose:
            self.note(f"start {unit.id}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if isinstance(result, dict) and result.get("wall_s") is not None:
            self.wall[self._unit(trial).id] = float(result["wall_s"])

    def on_trial_complete(self, iteration, trials, trial, **info):
        unit = self._unit(trial)
        if self.state.get(unit.id) in ("done", "failed"):
            return
        if (getattr(trial, "last_result", None) or {}).get("user_error"):
            # a deterministic error (paragrid.grid.run): failed at once, never retried
            err, log = self._error(trial)
            self.fail(unit.id, err, log, "FAILED (not retried: the same input fails the same way)")
            return
        self._set(unit.id, "done")
        self.done[unit.stage] += _count(unit)
        self.eta.finish(unit.id)  # the slot's wall time, as the driver saw it
        if self.hooks.on_done is not None:
            self.hooks.on_done(unit)
        if self.verbose:
            wall = self.wall.get(unit.id)
            self.note(f"done {unit.id}" + (f" ({fmt_duration(wall)})" if wall is not None else ""))
        self._after_change()

    def on_trial_recover(self, iteration, trials, trial, **info):
        unit = self._unit(trial)
        self._set(unit.id, "pending")
        self.retried += 1
        self.eta.retry(unit.id)
        err, log = self._error(trial)
        self.note(f"{_noun(unit)} {unit.id} failed (attempt {self.attempts.get(unit.id, 1)} of "
                  f"{self.max_failures + 1}), retrying: {err} [log: {log}]")

    def on_trial_error(self, iteration, trials, trial, **info):
        unit = self._unit(trial)
        err, log = self._error(trial)
        self.fail(unit.id, err, log, "FAILED")

    def on_step_end(self, iteration, trials, **info):
        if self.hooks.on_tick is not None:
            self.hooks.on_tick()
        self.tick()

    def on_experiment_end(self, trials, **info):
        self.close()

    # -- for the runner
    def fail(self, unit, err: str, log: str, verb: str = "skipped") -> None:
        """A unit (or its id) that will produce no results: failed after its retries, or skipped
        because a source model it needs failed."""
        unit_id = unit if isinstance(unit, str) else unit.id
        unit = self.units[unit_id]
        if self.state.get(unit_id) in ("done", "failed"):
            return
        self._set(unit_id, "failed")
        self.failed[unit.stage] += _count(unit)
        self.eta.drop(unit_id)
        self.failures.append(Failure(unit_id, err, log))
        self.note(f"{_noun(unit)} {unit_id} {verb}: {err}" + (f" [log: {log}]" if log else ""))
        self._after_change()

    def show(self) -> None:
        """Print the status now (the runner calls it once before Tune starts)."""
        self._status_line()

    def tick(self) -> None:
        """The beat: a status line when the beat has passed; the live line's clock otherwise."""
        if self.console.closed:
            return
        if self.console.due():
            self._status_line(permanent=not self.console.is_live())
        elif self.console.live_due():
            self._refresh_live(self.clock())

    def note(self, event: str) -> None:
        """One event line (kept above the live line when there is one)."""
        self.console.emit(f"  {event}")

    def close(self) -> None:
        """End the live line (after the final status); safe to call twice."""
        if self.console.closed:
            return
        self._after_change()  # the final status, if the last unit's own line has not given it
        self.console.close()

    # -- output
    def _error(self, trial) -> tuple[str, str]:
        if self.hooks.error_of is not None:
            return self.hooks.error_of(self._unit(trial).id, trial)
        return "error", str(getattr(trial, "error_file", "") or "")

    def _after_change(self) -> None:
        """A stage change (or the end) gets its own line and a status line at once."""
        stage = self.current_stage()
        if stage == self._stage:
            return
        prev, self._stage = self._stage, stage
        elapsed = fmt_duration(self.clock() - self.t0)
        if prev is not None:
            failed = f", {self.failed[prev]} failed" if self.failed[prev] else ""
            self.note(f"{prev} finished: {self.done[prev]}/{self.total[prev]}{failed} at {elapsed}")
        if stage is not None:
            self.note(f"stage {self.stages.index(stage) + 1}/{len(self.stages)}: {stage}")
        self._status_line()

    def forecast(self) -> Forecast:
        now = self.clock()
        f = self.eta.forecast(now)
        self._forecast = (now, f)
        return f

    def _eta_text(self, now: float) -> str:
        if self.left() == 0:
            return f"finished in {fmt_duration(now - self.t0)}"
        if self._forecast is None or self._forecast[1].eta_s is None:
            return f"{fmt_duration(now - self.t0)} elapsed, ETA ? (no unit finished yet)"
        t, f = self._forecast
        eta = max(0.0, f.eta_s - (now - t))  # counted down between forecasts
        return f"{fmt_duration(now - self.t0)} elapsed, ETA ~{fmt_duration(eta)} ({f.basis})"

    def _extra(self) -> str:
        failed = sum(self.failed.values())
        return (f", {failed} failed" if failed else "") + (f", {self.retried} retried" if self.retried else "")

    def _stage_label(self) -> str:
        stage = self.current_stage()
        return "done" if stage is None else f"stage {self.stages.index(stage) + 1}/{len(self.stages)}: {stage}"

    def status(self) -> str:
        """The status line from the last forecast (call `forecast()` first for a fresh ETA)."""
        counts = ", ".join(f"{s} {self.done[s]}/{self.total[s]}" for s in self.stages)
        return (f"[{self.name} {self._stage_label()}] {counts} | {self.running()} running"
                f"{self._extra()} | {self._eta_text(self.clock())}")

    def _status_line(self, permanent: bool = True) -> None:
        self.forecast()
        self.console.status(self.status(), permanent)
        self._refresh_live(self.clock())

    def _refresh_live(self, now: float) -> None:
        finished = sum(self.done.values()) + sum(self.failed.values())
        self.console.live(f"[{self.name} {self._stage_label()}]",
                          f"{self.running()} running{self._extra()} | {self._eta_text(now)}",
                          finished, sum(self.total.values()))
