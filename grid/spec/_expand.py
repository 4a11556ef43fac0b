"""A spec's grid expanded into its target trials, each exactly once, in a stable order."""
from __future__ import annotations

from dataclasses import dataclass

from paragrid.grid.spec._model import Spec, Trial, parse_source


@dataclass(frozen=True)
class Expansion:
    trials: list[Trial]
    notes: list[str]  # combinations left out and why (printed with the plan)


def resolve_source(source: str, target: str, corpora) -> str:
    """'emotion@other' -> 'emotion@<the other corpus>'; 'speaker@<target>' -> 'speaker'."""
    task, corpus = parse_source(source)
    if corpus == "other":
        corpus = next(c for c in corpora if c != target)
    if corpus is None or corpus == target:
        return task
    return f"{task}@{corpus}"


def expand_trials(spec: Spec) -> Expansion:
    """Every target trial of the spec, each exactly once, in a stable order.

    Every trial is repeated per feature-set label of the spec's axis (none: once).
    dnn runs once per (target, budget, repeat) with sources 'none'; ptft once per single-source
    set; prognet once per non-empty source set. A source set that collapses onto the target
    task on the target corpus itself (e.g. 'emotion@iemocap' for target iemocap) is not a
    transfer and is left out, as are ptft runs on multi-source sets; both are noted.
    """
    trials: dict[Trial, list[str]] = {}
    notes: list[str] = []

    def add(t: Trial, exp: str) -> None:
        trials.setdefault(t, [])
        if exp not in trials[t]:
            trials[t].append(exp)

    for exp in spec.experiments:
        for target in exp.targets:
            sets = []
            for s in exp.sources:
                resolved = tuple(resolve_source(x, target, spec.corpora) for x in s)
                if any(x == spec.task for x in resolved):
                    notes.append(f"{exp.name}: source set {'+'.join(s)} left out for target {target} "
                                 f"(it is the target task on {target} itself)")
                    continue
                if len(set(resolved)) != len(resolved):
                    notes.append(f"{exp.name}: source set {'+'.join(s)} left out for target {target} "
                                 "(names the same source twice)")
                    continue
                if resolved and resolved not in sets:
                    sets.append(resolved)
            for fs in spec.features or ("",):
                for budget in exp.budgets:
                    for repeat in range(spec.repeats):
                        if "dnn" in exp.methods:
                            add(Trial("dnn", (), target, budget, repeat, features=fs), exp.name)
                        for s in sets:
                            for method in exp.methods:
                                if method == "ptft" and len(s) != 1:
                                    continue
                                if method != "dnn":
                                    add(Trial(method, s, target, budget, repeat, features=fs), exp.name)
            if "ptft" in exp.methods:
                multi = [s for s in sets if len(s) > 1]
                if multi:
                    notes.append(f"{exp.name}: ptft left out for {', '.join('+'.join(s) for s in multi)} "
                                 "(PT/FT transfers exactly one source)")
    out = [Trial(t.method, t.sources, t.target, t.budget, t.repeat, tuple(e), t.features)
           for t, e in trials.items()]
    return Expansion(trials=out, notes=list(dict.fromkeys(notes)))
