"""The units of work a grid hands to Ray Tune, as typed values.

A *unit* is what one Tune trial runs: either source models (stage 1: one, or a pack of source
models of the same task, corpus and settings, e.g. every repeat's), or a *pack* of target
trials whose networks have the same shape (same target corpus, method and source set) trained
together as one stacked model along the fold axis (k folds x trials in the pack). Results stay
one row per (trial, fold): a pack is only a way to fill the hardware, never a change in the
science (tests/test_grid_pack.py checks packed == unpacked per trial and fold).

Units are frozen dataclasses so that Tune can pickle them into a trial's config and the
console can read `trial.config["unit"]` without knowing how it was built.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from paragrid.grid.plan._sources import SourceJob
from paragrid.grid.spec import Trial
from paragrid.models.config import Architecture, TrainSettings

SOURCE_STAGE = "source models"
TRANSFER_STAGE = "transfer trials"
DNN_STAGE = "dnn baselines"
STAGES = (SOURCE_STAGE, TRANSFER_STAGE, DNN_STAGE)  # the order they are scheduled in


@dataclass(frozen=True)
class PackedTrial:
    """One target trial inside a pack, with the keys of the source models it needs."""

    trial: Trial
    source_keys: tuple[str, ...] = ()

    @property
    def trial_id(self) -> str:
        return self.trial.trial_id


@dataclass(frozen=True)
class Unit:
    """One Tune trial: a source model to train, or a pack of target trials (see module doc)."""

    id: str
    stage: str
    jobs: tuple[SourceJob, ...] = ()           # set for a source unit: the models it trains
    members: tuple[PackedTrial, ...] = ()      # set for a pack
    cost: float | None = field(default=None, compare=False)  # estimated seconds on one slot

    @property
    def is_source(self) -> bool:
        return bool(self.jobs)

    @property
    def provides(self) -> frozenset[str]:
        """Source-model keys the unit stores when it succeeds."""
        return frozenset(j.key for j in self.jobs)

    @property
    def n_trials(self) -> int:
        """Result-producing trials in the unit (0 for a source model)."""
        return len(self.members)

    @property
    def trial_ids(self) -> tuple[str, ...]:
        return tuple(m.trial_id for m in self.members)

    @property
    def needs(self) -> frozenset[str]:
        """Source-model keys that must exist before the unit can start."""
        return frozenset(k for m in self.members for k in m.source_keys)

    @property
    def columns(self) -> int:
        """Network columns per fold-model: a prognet's new column plus its frozen sources."""
        if self.members and self.members[0].trial.method == "prognet":
            return 1 + len(self.members[0].trial.sources)
        return 1


def source_unit(jobs: SourceJob | list[SourceJob], cost: float | None = None) -> Unit:
    """One source model, or a pack of them (see source_pack_key); its id is the first model's
    job id, plus how many more it holds."""
    jobs = (jobs,) if isinstance(jobs, SourceJob) else tuple(jobs)
    uid = jobs[0].job_id if len(jobs) == 1 else f"{jobs[0].job_id}+{len(jobs) - 1}"
    return Unit(id=uid, stage=SOURCE_STAGE, jobs=jobs, cost=cost)


def pack_unit(members: list[PackedTrial], cost: float | None = None) -> Unit:
    """A pack; its id is the first trial's id, plus how many more it holds."""
    first = members[0].trial
    stage = DNN_STAGE if first.method == "dnn" else TRANSFER_STAGE
    uid = members[0].trial_id if len(members) == 1 else f"{members[0].trial_id}+{len(members) - 1}"
    return Unit(id=uid, stage=stage, members=tuple(members), cost=cost)


def source_pack_key(job: SourceJob, architecture: Architecture, training: TrainSettings) -> tuple:
    """Source models with equal keys have the same shape and rows and may share a pack: same
    task on the same corpus, trained with the same architecture and settings (those of the
    target they serve); repeats and budgets may differ."""
    return (job.task, job.corpus, job.features, architecture, training)


def pack_key(t: Trial) -> tuple:
    """Trials with equal keys have networks of the same shape and may share a pack: same target
    (so the same rows and features), method and source set; repeats and budgets may differ."""
    return (t.target, t.method, t.sources, t.features)


@dataclass(frozen=True)
class StageCount:
    """What one stage of a plan holds: its work (source models, or trials) and its units."""

    work: int
    units: int


def stage_counts(units: list[Unit]) -> dict[str, StageCount]:
    """Per stage, in STAGES order: source models (stage 1) or trials, and the units they fill;
    what `paragrid run` prints before it starts and `--dry-run` reports."""
    out = {}
    for stage in STAGES:
        mine = [u for u in units if u.stage == stage]
        work = sum(len(u.jobs) for u in mine) if stage == SOURCE_STAGE else sum(u.n_trials for u in mine)
        out[stage] = StageCount(work, len(mine))
    return out


def wall_estimate(units: list[Unit], slots: int) -> float | None:
    """Seconds to run `units` with `slots` at a time: their total cost spread over the slots, or
    the longest unit if that is longer; None when a cost is unknown (no calibration)."""
    costs = [u.cost for u in units]
    if not costs or any(c is None for c in costs):
        return None
    return max(sum(costs) / max(1, slots), max(costs))
