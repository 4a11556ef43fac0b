"""`paragrid run SPEC --dry-run`: the plan and its cost, without Ray and without training.

A matrix over many corpora multiplies trials quickly (N corpora: N(N-1) ordered pairs per
method, budget and repeat), so a user sees what a spec costs before pressing enter: the trials
per stage, per method, per target and per source set, the units of work they pack into, what
is already finished, and the estimate from this machine's calibrated trainer. Nothing is
written: no run folder, no lock, no source model.

The estimate assumes this machine's cores (one unit per `resources.cpu` CPUs), as a local run
would use them; on a cluster, divide by its slots.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field

from paragrid.grid.console import fmt_duration
from paragrid.grid.plan import (SOURCE_STAGE, CalibrationThread, CostModel, PackPolicy, find_finished, make_units,
                                plan_grid, sources_to_train, stage_counts, wall_estimate)


@dataclass
class DryRun:
    """What `paragrid run` would do; `to_json` is the `--json` output."""

    spec: str
    spec_hash: str
    run_folder: str
    trials: int                   # every trial of the grid
    trials_todo: int              # not finished yet
    units: int                    # units of work (packs) to run, source packs included
    source_models: int            # to train (not stored yet)
    source_models_stored: int
    slots: int                    # units at a time assumed for the estimate
    estimate_s: float | None      # None: no calibration
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)   # stage -> {trials, units}
    by_method: dict[str, int] = field(default_factory=dict)
    by_target: dict[str, int] = field(default_factory=dict)
    by_sources: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)

    def lines(self) -> list[str]:
        out = [f"dry run of '{self.spec}' (spec_hash {self.spec_hash}) -> {self.run_folder}: nothing is run",
               f"  {self.trials} trials ({self.trials_todo} to run), {self.units} units of work, "
               f"{self.source_models} source models to train ({self.source_models_stored} stored)"]
        for stage, v in self.by_stage.items():
            what = "model(s)" if stage == SOURCE_STAGE else "trial(s)"
            out.append(f"  {stage}: {v['trials']} {what} in {v['units']} unit(s)")
        for what, counts in (("method", self.by_method), ("target", self.by_target),
                             ("source set", self.by_sources)):
            out.append(f"  per {what}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
        out += [f"  note: {n}" for n in self.notes]
        if self.estimate_s is None:
            out.append("  estimate: none (the trainer could not be calibrated)")
        else:
            out.append(f"  estimate: ~{fmt_duration(self.estimate_s)} with {self.slots} unit(s) at a time "
                       f"(this machine's cores; an estimate from a calibration, not a measurement)")
        return out


def dry_run(s, storage: str | None = None) -> DryRun:
    """Plan `s` (a loaded Spec) as `run_grid` would, calibrate the cost model, and describe it."""
    quiet = lambda line: None  # noqa: E731 - plan_grid's own lines are summarised in DryRun
    plan = plan_grid(s, storage, quiet)
    find_finished(plan)
    to_train, stored = sources_to_train(plan)
    calibration = CalibrationThread(s, plan.corpora)
    calibration.start()
    cal = calibration.get(quiet)
    slots = max(1, int((os.cpu_count() or 1) // max(1.0, float(s.resources.cpu))))
    units = make_units(plan, to_train, CostModel(s, plan.corpora, cal),
                       PackPolicy(setting=s.resources.pack, gpu=0, slots=slots))
    estimate = wall_estimate(units, slots)
    by_stage = {stage: {"trials": c.work, "units": c.units} for stage, c in stage_counts(units).items()}
    todo = plan.todo
    return DryRun(spec=s.name, spec_hash=plan.spec_hash, run_folder=plan.run.uri, trials=len(plan.trials),
                  trials_todo=len(todo), units=len(units), source_models=len(to_train),
                  source_models_stored=len(stored), slots=slots, estimate_s=estimate, by_stage=by_stage,
                  by_method=dict(Counter(t.method for t in todo)), by_target=dict(Counter(t.target for t in todo)),
                  by_sources=dict(Counter(t.sources_label for t in todo)), notes=list(plan.notes))
