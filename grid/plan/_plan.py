"""Planning a grid: from a spec to the units of work Tune will run, before Ray starts.

Everything a user can get wrong is checked here (the spec, the corpora against the task and the
fold scheme), so a mistake costs one line, not a cluster's worth of failed trials. What is
already finished (trials whose files exist with the same spec hash, stored source models) is
left out: a re-run resumes, and a finished grid does no training.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field

from paragrid.errors import UserError
from paragrid.grid.data import Corpus, FoldWarning, load_corpora, validate_corpora
from paragrid.grid.plan._estimate import CostModel
from paragrid.grid.plan._packing import PackPolicy, bytes_per_fold_model, pack_size, split
from paragrid.grid.plan._sources import SourceJob, plan_sources
from paragrid.grid.plan._units import (STAGES, PackedTrial, Unit, pack_key, pack_unit, source_pack_key,
                                       source_unit)
from paragrid.grid.spec import Spec, Trial, corpus_key, expand_trials, parse_source
from paragrid.grid.store import ModelStore, RunDir, Storage, run_dir_for


@dataclass
class Plan:
    """A grid resolved against its corpora and its storage; `todo` is what is left to run."""

    spec: Spec
    spec_hash: str
    corpora: dict[str, Corpus]
    trials: list[Trial]
    notes: list[str]
    per_trial: dict[str, list[SourceJob]]
    root: Storage
    run: RunDir
    models: ModelStore
    finished: set[str]
    finished_units: dict[str, tuple[str, ...]] = field(default_factory=dict)  # unit id -> its trial ids
    folder_note: str | None = None   # why the run folder is not `<name>/` as before (or is replaced)

    @property
    def todo(self) -> list[Trial]:
        return [t for t in self.trials if t.trial_id not in self.finished]


def plan_grid(s: Spec, storage: str | None, say=print, replace: bool = False) -> Plan:
    """Expand and check the grid; find what is finished. No Ray, no training. The run folder
    belongs to the spec hash (grid/store/_folder.py); `replace` overwrites `<name>/` instead."""

    expansion = expand_trials(s)
    trials = expansion.trials
    if not trials:
        raise UserError(f"spec {s.origin}: the grid is empty (no method/source/target combination left)")
    label_columns = {parse_source(x)[0] for t in trials for x in t.sources}
    corpora = load_corpora(s, label_columns)
    for name, c in corpora.items():  # the label set each corpus brings, before anything runs
        classes = sorted(set(c.labels[s.task].tolist()))
        say(f"corpus '{name}': {c.n} utterances, {len(set(c.labels['speaker'].tolist()))} speakers, "
            f"{s.task} classes {', '.join(classes)}" + (f"; {c.left_out}" if c.left_out else ""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FoldWarning)
        validate_corpora(s, corpora)
    for w in caught:
        if issubclass(w.category, FoldWarning):
            say(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    spec_hash = s.hash({n: c.fingerprint for n, c in corpora.items()})
    per_trial, _ = plan_sources(trials, s, corpora)
    root = Storage(storage or s.storage or "runs")
    run, folder_note = run_dir_for(root, s.name, spec_hash, replace)
    return Plan(spec=s, spec_hash=spec_hash, corpora=corpora, trials=trials, notes=expansion.notes,
                per_trial=per_trial, root=root, run=run, models=ModelStore(root), finished=set(),
                folder_note=folder_note)


def find_finished(plan: Plan) -> None:
    """Mark the trials of units whose done.json carries this spec hash (one small read per
    unit, whatever the packing of the run that wrote them)."""
    plan.finished_units = plan.run.finished_units(plan.spec_hash)
    ours = {t.trial_id for t in plan.trials}
    plan.finished = {t for ids in plan.finished_units.values() for t in ids if t in ours}


def sources_to_train(plan: Plan) -> tuple[list[SourceJob], set[str]]:
    """(source models the unfinished trials need that are not stored yet, keys already stored)."""
    jobs: dict[str, SourceJob] = {}
    for t in plan.todo:
        for j in plan.per_trial[t.trial_id]:
            jobs.setdefault(j.key, j)
    stored = {k for k in jobs if plan.models.has(k)}
    return [j for k, j in jobs.items() if k not in stored], stored


def make_units(plan: Plan, to_train: list[SourceJob], costs: CostModel, policy: PackPolicy) -> list[Unit]:
    """Source units, then packs of same-shape trials, in scheduling order: sources first (they
    unblock the transfer trials), then transfer packs, then DNN packs (they need nothing, so they
    fill slots whenever nothing else is ready); within each stage the longest first. With the
    short units last, a grid does not end with one long unit running while the other slots idle.
    """
    s = plan.spec
    n_single = len(plan.todo) + len(to_train)
    units = _source_units(plan, to_train, costs, policy, n_single)
    groups: dict[tuple, list[Trial]] = defaultdict(list)
    for t in plan.todo:
        groups[pack_key(t)].append(t)
    for key, trials in groups.items():
        trials.sort(key=lambda t: (t.budget, t.repeat))  # neighbours in a pack share budgets
        first = trials[0]
        columns = 1 + len(first.sources) if first.method == "prognet" else 1
        fold_bytes = _fold_bytes(plan, plan.corpora[corpus_key(first.target, first.features)], s.task,
                                 first.target, columns)
        for chunk, cost in _packs(trials, lambda t: costs.trial(t, plan.per_trial[t.trial_id]), costs, policy,
                                  n_single, s.k, fold_bytes):
            members = [PackedTrial(t, tuple(j.key for j in plan.per_trial[t.trial_id])) for t in chunk]
            units.append(pack_unit(members, cost))
    return order_units(units, costs)


def _packs(items: list, cost_of, costs: CostModel, policy: PackPolicy, n_single: int, k: int,
           fold_bytes: int) -> list[tuple[list, float | None]]:
    """One group of same-shape items (trials, or source models) cut into packs, each with its
    estimated seconds on one slot (None without a calibration): sizes from pack_size on the
    group's mean estimate, plus the unit's own cost once per pack."""
    est = [cost_of(x) for x in items]
    mean = None if None in est else sum(est) / len(est)
    out, start = [], 0
    for chunk in split(items, pack_size(policy, len(items), n_single, mean, k, fold_bytes)):
        cost = None if mean is None else sum(est[start:start + len(chunk)]) + costs.unit_overhead()
        out.append((chunk, cost))
        start += len(chunk)
    return out


def _fold_bytes(plan: Plan, corpus: Corpus, task: str, for_target: str, columns: int) -> int:
    s = plan.spec
    return bytes_per_fold_model(
        n_rows=corpus.n, n_in=corpus.x.shape[1], width=s.arch_for(for_target).width,
        layers=s.arch_for(for_target).layers, n_classes=len(set(corpus.labels[task].tolist())),
        batch_size=s.training_for(for_target).batch_size, columns=columns)


def _source_units(plan: Plan, to_train: list[SourceJob], costs: CostModel, policy: PackPolicy,
                  n_single: int) -> list[Unit]:
    """Source models packed like trials (same task, corpus and settings: one stacked model), so
    a grid of a thousand repeats does not pay a Tune trial per source model."""
    s = plan.spec
    groups: dict[tuple, list[SourceJob]] = defaultdict(list)
    for j in to_train:
        groups[source_pack_key(j, s.arch_for(j.for_target), s.training_for(j.for_target))].append(j)
    units = []
    for jobs in groups.values():
        jobs.sort(key=lambda j: (j.repeat, j.budget))  # repeat order: the transfer packs' order
        fold_bytes = _fold_bytes(plan, plan.corpora[jobs[0].corpus_key], jobs[0].task, jobs[0].for_target, 1)
        units += [source_unit(chunk, cost)
                  for chunk, cost in _packs(jobs, costs.source, costs, policy, n_single, s.k, fold_bytes)]
    return units


def order_units(units: list[Unit], costs: CostModel) -> list[Unit]:
    def cost(u: Unit) -> float:
        if u.cost is not None:
            return u.cost
        if u.is_source:
            return float(sum(j.budget for j in u.jobs))
        return sum(costs.relative_trial(m.trial) for m in u.members)

    rank = {stage: i for i, stage in enumerate(STAGES)}
    return sorted(units, key=lambda u: (rank[u.stage], -cost(u)))  # stable: ties keep grid order
