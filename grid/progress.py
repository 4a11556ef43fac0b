"""What the console shows while a grid runs: a status line on a steady beat, one line per event.

Why this shape: a line per finished trial buried the console on big grids and said nothing
during long trials; a status every `beat_s` (30-60 s) and at each stage change reads as a clock.
With a terminal the status is one live line updated in place (tqdm); piped or logged, plain
lines. The ETA comes from `grid.eta` (measured throughput, bounded change per line) and is
labelled with what it rests on. Errors are one line naming the unit, its error and its log.

Units come from the runner (`paragrid.grid.work.Unit`, found by `trial.config["unit_id"]`): `.id`,
`.stage` ("source models", "transfer trials", "dnn baselines"), `.n_trials` (0 for a source
model, which counts as one model), `.cost` (estimated seconds on one slot, or None).
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, NamedTuple, Sequence, TextIO

from ray import tune

from paragrid.grid.calibration import Calibration, calibrate  # noqa: F401 - re-exported for the runner
from paragrid.grid.eta import EtaEstimator, Forecast, fmt_duration, unit_work  # noqa: F401
from paragrid.grid.work import STAGES as STAGE_ORDER  # the order stages run in; DNN baselines last
LIVE_REFRESH_S = 1.0  # the live line's elapsed time ticks at most this often


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


class Progress(tune.Callback):
    """Counts the grid's trials by stage and prints its status on a beat (a ray.tune Callback).

    `on_done(unit)` runs on the driver as each unit finishes (the runner merges its files);
    `error_of(unit_id, trial)` returns (one-line error, log location); `on_tick()` runs on every
    Tune step. `out` (a line sink) forces plain lines; otherwise lines go to `stream` (default
    stdout), live in place when it is a terminal (or `live=True`). `clock` is injectable for tests.
    """

    def __init__(self, name: str, units: Sequence, slots: int, verbose: bool = False, *,
                 on_done: Callable[[object], None] | None = None,
                 error_of: Callable[[str, object], tuple[str, str]] | None = None,
                 max_failures: int = 0, out: Callable[[str], None] | None = None,
                 stream: TextIO | None = None, live: bool | None = None, beat_s: float = 30.0,
                 on_tick: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.verbose, self.slots, self.beat_s = name, verbose, max(1, int(slots)), beat_s
        self.on_done, self.error_of, self.on_tick = on_done, error_of, on_tick
        self.max_failures, self.out, self.stream, self.clock = max_failures, out, stream, clock
        self._live_wanted = live
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
        self._last_status: float | None = None
        self._forecast: tuple[float, Forecast] | None = None
        self._bar = None  # the live line (tqdm), made on first use
        self._last_live = 0.0
        self._closed = False

    def __getstate__(self):  # Tune pickles its run config; the live line and the sinks stay here
        state = self.__dict__.copy()
        state.update(_bar=None, stream=None, out=None, on_done=None, error_of=None, on_tick=None)
        return state

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
            # a deterministic error (paragrid.grid.trainable): failed at once, never retried
            err, log = self._error(trial)
            self.fail(unit.id, err, log, "FAILED (not retried: the same input fails the same way)")
            return
        self._set(unit.id, "done")
        self.done[unit.stage] += _count(unit)
        self.eta.finish(unit.id)  # the slot's wall time, as the driver saw it
        if self.on_done is not None:
            self.on_done(unit)
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
        if self.on_tick is not None:
            self.on_tick()
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
        """The beat: a status line when `beat_s` has passed; the live line's clock otherwise."""
        if self._closed:
            return
        now = self.clock()
        if self._last_status is None or now - self._last_status >= self.beat_s:
            self._status_line(permanent=not self._live())
        elif self._live() and now - self._last_live >= LIVE_REFRESH_S:
            self._refresh_live(now)

    def note(self, event: str) -> None:
        """One event line (kept above the live line when there is one)."""
        self._emit(f"  {event}")

    def close(self) -> None:
        """End the live line (after the final status); safe to call twice."""
        if self._closed:
            return
        self._after_change()  # the final status, if the last unit's own line has not given it
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- output
    def _error(self, trial) -> tuple[str, str]:
        if self.error_of is not None:
            return self.error_of(self._unit(trial).id, trial)
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
        self._last_status = self.clock()
        if permanent or not self._live():
            self._emit(self.status())
        self._refresh_live(self._last_status)

    # -- where lines go
    def _live(self) -> bool:
        if self.out is not None or self._closed:
            return False
        if self._live_wanted is not None:
            return self._live_wanted
        stream = self._stream()
        try:  # a terminal that reports no width (a bare pty) would show an empty live line
            return stream.isatty() and os.get_terminal_size(stream.fileno()).columns > 0
        except (AttributeError, OSError, ValueError):
            return False

    def _stream(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def _emit(self, line: str) -> None:
        if self.out is not None:
            self.out(line)
        elif self._bar is not None:
            self._bar.write(line, file=self._stream())
        else:
            stream = self._stream()
            stream.write(line + "\n")
            stream.flush()

    def _refresh_live(self, now: float) -> None:
        if not self._live():
            return
        desc = f"[{self.name} {self._stage_label()}]"
        postfix = f"{self.running()} running{self._extra()} | {self._eta_text(now)}"
        finished = sum(self.done.values()) + sum(self.failed.values())
        self._last_live = now
        if self._bar is None:  # leave=False: the permanent lines tell the story once it ends
            from tqdm import tqdm

            self._bar = tqdm(total=sum(self.total.values()), initial=finished, file=self._stream(),
                             dynamic_ncols=True, leave=False, desc=desc, postfix=postfix,
                             bar_format="{desc} {percentage:3.0f}%|{bar:12}| {n_fmt}/{total_fmt}{postfix}")
            return
        self._bar.n = finished
        self._bar.set_description_str(desc, refresh=False)
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()
