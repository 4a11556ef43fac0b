"""How long a grid has left, from what its finished units really took (pure: no Ray, injected clock).

Why not the old estimator: it divided the time since the first finished trial by the estimated
cost finished since, so every minute without a completion (long transfer trials running) added
that minute times remaining/finished to the ETA: 38s -> 7m38s -> 14m38s -> 21m38s -> 28m38s on
a 12-minute EmoDB run. Nor one calibration on the driver: it was 2.65x optimistic there.

The model, each piece measured rather than assumed:
- work w of a unit: its estimated seconds on one slot (`cost`), or its trials when the grid has
  no estimate; `prior_rate` is then 1.0 (estimated seconds are seconds) or None (no prior).
- rate r, wall seconds one slot spends per unit of work: the finished units' sum(wall) / sum(w),
  recent ones weighted more (a weight halves per `half_life` of the grid's work finished after
  it), so a machine that slows down is seen within a fraction of the grid. A running unit already
  longer than r w counts as if it finished now (a lower bound on its wall time): a grid where
  nothing finishes cannot keep an optimistic rate. The prior is blended in as `prior_strength`
  average units of evidence: r = (n0 r0 + n r_obs) / (n0 + n), n the decayed finished work in
  average units, so a few quick units move the ETA a little, many move it all the way. With
  `groups` (the stages), each group's rate is its own evidence blended the same way into the
  grid's rate: the cost model errs differently for a source model and a transfer trial.
- slots busy p: the time-average of running units over the last `busy_window_s`, at least those
  running now, at most `slots` (a lost node or a dependency wait shows up here).
- time left: the remaining units list-scheduled on p slots in queue order, running ones first
  with r w - elapsed still to go (an overdue one: `overdue_left` x its elapsed time); the ETA is
  when the last slot frees (so the tail of one long unit is counted, not averaged away).
- what is shown: a forecast is at most F x the previous one + C (F = `max_climb`, C =
  `climb_floor_s`) and at least the previous one counted down by the time since, / F (scaled
  by the share of work still left, so skipped units lower it at once). A surprise moves the ETA
  by at most F per status line; a steady rate hardly moves it.
"""
from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Protocol


def fmt_duration(seconds: float | None) -> str:
    """'45s', '2m05s', '3h02m': rounded to the shown unit first, so 59.6 s is '1m00s' and
    3599.6 s is '1h00m' (never '1m60s' or '59m60s')."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(max(0.0, float(seconds)) + 0.5)  # round half up, in whole seconds
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    minutes = int(max(0.0, float(seconds)) / 60 + 0.5)
    return f"{minutes // 60}h{minutes % 60:02d}m"


class UnitLike(Protocol):
    """What the estimator reads of a `paragrid.grid.plan._units.Unit`."""
    id: str
    n_trials: int
    cost: float | None


def unit_work(units: Iterable[UnitLike]) -> tuple[dict[str, float], float | None]:
    """(work per unit id in queue order, prior rate): estimated seconds with prior rate 1.0 when
    every unit has a cost; otherwise trials per unit (a source model counts one) and no prior,
    since a mix of seconds and trials would not add up."""
    units = list(units)
    if units and all(u.cost is not None and u.cost > 0 for u in units):
        return {u.id: float(u.cost) for u in units}, 1.0
    return {u.id: float(max(1, u.n_trials)) for u in units}, None


@dataclass(frozen=True)
class Forecast:
    """One ETA as printed, with what it rests on."""
    eta_s: float | None  # seconds left as shown (bounded against the previous forecast); None: no basis
    raw_s: float | None  # seconds left the evidence alone says now
    rate: float | None   # wall seconds per unit of work on one slot
    evidence: float      # finished work behind the rate, in average units (after the recency decay)
    busy: float          # slots assumed busy from now on
    finished: int        # units finished (not failed) so far

    @property
    def basis(self) -> str:
        """A few words for the status line: what the number rests on."""
        if self.eta_s is None:
            return "no estimate yet"
        if self.finished == 0:
            return "estimate"
        return f"from {self.finished} finished"


@dataclass(frozen=True)
class Rates:
    """Wall seconds per unit of work on one slot: the grid's, and each group's that has evidence."""
    grid: float | None
    evidence: float  # finished work behind `grid`, in average units, after the recency decay
    groups: dict[str, float]

    def of(self, group: str) -> float:
        return self.groups.get(group, self.grid or 0.0)


@dataclass(frozen=True)
class EtaSettings:
    """The model's constants (module doc): how much the prior counts, how fast old evidence fades,
    how far one status line may move the ETA, and the busy-slots window."""

    prior_strength: float = 2.0     # the prior, in average units of evidence
    half_life: float = 0.15         # share of the grid's work after which a finished unit weighs half
    max_climb: float = 1.5          # F: a forecast is at most F x the previous one + C ...
    climb_floor_s: float = 15.0     # ... C
    busy_window_s: float = 300.0    # slots busy: the time-average over this window
    overdue_left: float = 0.25      # an overdue running unit still has this share of its elapsed time


class EtaEstimator:
    """Time left for a grid of units; every method takes `now` (default: the injected clock)."""

    def __init__(self, work: Mapping[str, float], slots: int, *, prior_rate: float | None = None,
                 groups: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic,
                 settings: EtaSettings = EtaSettings()):
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.work = {k: max(float(w), 1e-9) for k, w in work.items()}
        self.group = dict(groups or {})  # unit id -> its group (stage); none: one group
        self.slots, self.prior_rate, self.clock = int(slots), prior_rate, clock
        s = settings
        self.prior_strength, self.max_climb, self.climb_floor_s = s.prior_strength, s.max_climb, s.climb_floor_s
        self.busy_window_s, self.overdue_left = s.busy_window_s, s.overdue_left
        total = sum(self.work.values())
        self.mean_w = total / len(self.work) if self.work else 1.0
        # Half-life in work units: a share of the grid, but never under two rounds of all slots.
        self.half_life_w = max(s.half_life * total, 2 * self.slots * self.mean_w, 1e-9)
        self.pending: dict[str, None] = dict.fromkeys(self.work)  # an ordered set: queue order
        self.running: dict[str, float] = {}  # unit id -> start time
        self.done: list[tuple[float, float, str]] = []  # (work, wall s, group) in completion order
        self.dropped = 0
        self._busy_log: deque[tuple[float, int]] = deque()  # (time, units running from then on)
        self._first_start: float | None = None
        self._shown: tuple[float, float, float] | None = None  # (when, eta shown, work left then)

    # -- events
    def _now(self, now: float | None) -> float:
        return self.clock() if now is None else float(now)

    def _log_busy(self, now: float) -> None:
        self._busy_log.append((now, len(self.running)))
        while len(self._busy_log) >= 2 and self._busy_log[1][0] <= now - self.busy_window_s:
            self._busy_log.popleft()

    def start(self, uid: str, now: float | None = None) -> None:
        now = self._now(now)
        self.pending.pop(uid, None)
        self.running[uid] = now
        if self._first_start is None:
            self._first_start = now
        self._log_busy(now)

    def finish(self, uid: str, wall_s: float | None = None, work_done: float | None = None,
               now: float | None = None) -> None:
        """A unit finished: its wall time (default: since its start) per its work is evidence.
        `work_done` is the work it really did when less than planned (an early-stopped trial)."""
        now = self._now(now)
        started = self.running.pop(uid, None)
        self.pending.pop(uid, None)
        if wall_s is None:
            wall_s = now - started if started is not None else None
        w = self.work.get(uid, self.mean_w) if work_done is None else max(float(work_done), 1e-9)
        if wall_s is not None and wall_s >= 0:
            self.done.append((w, float(wall_s), self.group.get(uid, "")))
        self._log_busy(now)

    def drop(self, uid: str, now: float | None = None) -> None:
        """A unit that will not run (failed for good, or skipped): no work left, no evidence."""
        now = self._now(now)
        if uid in self.pending or uid in self.running:
            self.dropped += 1
        self.pending.pop(uid, None)
        self.running.pop(uid, None)
        self._log_busy(now)

    def retry(self, uid: str, now: float | None = None) -> None:
        """A unit whose attempt failed and that Tune will run again: back in the queue, first."""
        now = self._now(now)
        if self.running.pop(uid, None) is not None:
            self.pending = {uid: None, **self.pending}
        self._log_busy(now)

    # -- the estimate
    def left(self) -> int:
        return len(self.pending) + len(self.running)

    def work_left(self) -> float:
        return sum(self.work[u] for u in self.pending) + sum(self.work.get(u, 0.0) for u in self.running)

    def _blend(self, num: float, den: float, prior: float | None, strength: float) -> tuple[float | None, float]:
        """(rate, evidence in average units): measured num/den shrunk towards `prior`."""
        n = den / self.mean_w
        r_obs = num / den if den > 0 else None
        if prior is None:
            return r_obs, n
        if r_obs is None:
            return prior, 0.0
        return (strength * prior + n * r_obs) / (strength + n), n

    def rates(self, now: float | None = None) -> Rates:
        """The grid's rate and each group's, from finished units (recent ones weighted more) and
        overdue running ones. A group's rate is its own evidence shrunk towards the grid's: the
        cost model errs differently per stage (a transfer trial's columns, a source model's data)."""
        now = self._now(now)
        num, den = 0.0, 0.0
        by_group: dict[str, list[float]] = {}
        cum = 0.0
        for w, wall, g in reversed(self.done):
            d = 0.5 ** (cum / self.half_life_w)
            num, den, cum = num + d * wall, den + d * w, cum + w
            acc = by_group.setdefault(g, [0.0, 0.0])
            acc[0] += d * wall
            acc[1] += d * w

        def solve() -> Rates:
            r, n = self._blend(num, den, self.prior_rate, self.prior_strength)
            if r is None:
                return Rates(None, 0.0, {})
            per = {g: self._blend(a[0], a[1], r, self.prior_strength)[0] for g, a in by_group.items()} \
                if len(set(self.group.values())) > 1 else {}
            return Rates(r, n, per)

        rates = solve()
        if rates.grid is None:
            return rates
        overdue = False
        for u, t0 in self.running.items():  # censored: these take at least as long as they have run
            w, e, g = self.work.get(u, self.mean_w), now - t0, self.group.get(u, "")
            if e > rates.of(g) * w:
                num, den, overdue = num + e, den + w, True
                acc = by_group.setdefault(g, [0.0, 0.0])
                acc[0] += e
                acc[1] += w
        return solve() if overdue else rates

    def busy(self, now: float | None = None) -> float:
        """Slots assumed busy from now on: the recent time-average, at least those running now."""
        now = self._now(now)
        running = len(self.running)
        if self._first_start is None:
            return float(self.slots)  # nothing started yet: the cluster's slots
        avg = float(running)
        if self._first_start is not None and self._busy_log:
            lo = max(self._first_start, now - self.busy_window_s)
            if now > lo:
                area, t_prev, c_prev = 0.0, lo, self._busy_log[0][1]
                for t, c in self._busy_log:
                    if t <= lo:
                        c_prev = c
                        continue
                    area += c_prev * (t - t_prev)
                    t_prev, c_prev = t, c
                area += c_prev * (now - t_prev)
                avg = area / (now - lo)
        return float(min(max(avg, running, 1.0), max(self.slots, running)))

    def raw(self, now: float | None = None) -> tuple[float | None, float | None, float, float]:
        """(seconds left, rate, evidence, slots busy) from the evidence alone, unbounded."""
        now = self._now(now)
        rates = self.rates(now)
        r, n, p = rates.grid, rates.evidence, self.busy(now)
        if self.left() == 0:
            return 0.0, r, n, p
        if r is None:
            return None, r, n, p
        free = []
        for u, t0 in self.running.items():
            expected = rates.of(self.group.get(u, "")) * self.work.get(u, self.mean_w)
            elapsed = now - t0
            free.append(expected - elapsed if elapsed < expected else self.overdue_left * elapsed)
        free += [0.0] * max(0, int(round(p)) - len(free))
        heapq.heapify(free)
        for u in self.pending:
            heapq.heapreplace(free, free[0] + rates.of(self.group.get(u, "")) * self.work[u])
        return max(free), r, n, p

    def forecast(self, now: float | None = None) -> Forecast:
        """The ETA to print now; the bound is against the previous forecast (call once per line)."""
        now = self._now(now)
        raw, r, n, p = self.raw(now)
        left_w = self.work_left()
        shown = raw
        if raw is not None and self.left() > 0 and self._shown is not None:
            t_prev, eta_prev, left_prev = self._shown
            share = min(1.0, left_w / left_prev) if left_prev > 0 else 1.0
            floor = max(0.0, eta_prev - (now - t_prev)) * share / self.max_climb
            shown = min(max(raw, floor), self.max_climb * eta_prev + self.climb_floor_s)
        if shown is not None:
            self._shown = (now, shown, left_w)
        return Forecast(eta_s=shown, raw_s=raw, rate=r, evidence=n, busy=p, finished=len(self.done))
