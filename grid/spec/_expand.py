"""A spec's grid expanded into its target trials, each exactly once, in a stable order."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

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


def expand_set(sources: tuple[str, ...], target: str, corpora) -> list[tuple[str, ...]]:
    """One written source set -> the resolved sets it stands for on `target`.

    `task@all-others` becomes `task@c` for every other corpus c (spec order) inside the same set;
    `task@each-other` makes one set per other corpus (a row of the transfer matrix); the rest
    resolve as `resolve_source` says.
    """
    others = [c for c in corpora if c != target]
    choices: list[list[tuple[str, ...]]] = []
    for x in sources:
        task, corpus = parse_source(x)
        if corpus == "all-others":
            choices.append([tuple(f"{task}@{c}" for c in others)])
        elif corpus == "each-other":
            choices.append([(f"{task}@{c}",) for c in others])
        else:
            choices.append([(resolve_source(x, target, corpora),)])
    return [tuple(name for part in combo for name in part) for combo in product(*choices)]


def pooled(sources: tuple[str, ...], target: str) -> bool:
    """PT/FT on several sources: one model trained on their pooled corpora, which needs every
    source to be the same task on another corpus than the target (`emotion@all-others`)."""
    parsed = [parse_source(x) for x in sources]
    return (len(sources) > 1 and len({t for t, _ in parsed}) == 1
            and all(c is not None and c != target for _, c in parsed))


def expand_trials(spec: Spec) -> Expansion:
    """Every target trial of the spec, each exactly once, in a stable order.

    Every trial is repeated per feature-set label of the spec's axis (none: once).
    dnn runs once per (target, budget, repeat) with sources 'none'; ptft once per single-source
    set and per set of one task on several other corpora (pooled, see `pooled`); prognet once per
    non-empty source set (one frozen column per source). `@each-other` and `@all-others` are
    expanded per target (`expand_set`). A source set that collapses onto the target
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
            for s, resolved in ((s, r) for s in exp.sources for r in expand_set(s, target, spec.corpora)):
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
                                if method == "ptft" and len(s) != 1 and not pooled(s, target):
                                    continue
                                if method != "dnn":
                                    add(Trial(method, s, target, budget, repeat, features=fs), exp.name)
            if "ptft" in exp.methods:
                multi = [s for s in sets if len(s) > 1 and not pooled(s, target)]
                if multi:
                    notes.append(f"{exp.name}: ptft left out for {', '.join('+'.join(s) for s in multi)} "
                                 "(PT/FT transfers one source, or one task pooled over other corpora)")
    out = [Trial(t.method, t.sources, t.target, t.budget, t.repeat, tuple(e), t.features)
           for t, e in trials.items()]
    return Expansion(trials=out, notes=list(dict.fromkeys(notes)))
