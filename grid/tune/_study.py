"""The Optuna studies and the Ray Tune searcher that feeds them (public APIs only).

One study per stream: per target corpus in same-corpus mode, per outer step (repeat, test
fold) in nested mode. Studies live in SQLite, written by the driver only, so a multi-node
cluster needs nothing shared for them, and a re-run resumes them: `target` is the number of
finished (COMPLETE or PRUNED) trials a study should hold, so a larger number tops it up.

`StudySearcher` is a ray.tune.search.Searcher over Optuna's documented ask-and-tell interface
(`Study.ask` / `Trial.report` / `Trial.set_user_attr` / `Study.tell`), not a subclass of
OptunaSearch: paragrid needs to tell a trial the scheduler stopped (PRUNED, with its last
value) from one that trained to the end (COMPLETE), and to keep per-fold values with each
trial, which OptunaSearch offers no public way to do. In nested mode a stream whose search is
done then yields one `outer` job: the outer test fold evaluated with the step's choice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from paragrid.errors import UserError
from paragrid.grid.spec import ARCHITECTURE_KEYS, SPACE_KEYS, TRAINING_KEYS, TuneSettings, baseline_point
from paragrid.grid.tune._data import HELD_OUT_FOLD
from paragrid.grid.tune._spec import max_epochs_of

METRIC = "val_uar"
STUDY_VERSION = 2          # bump when the objective's meaning changes: old studies are refused


@dataclass(frozen=True)
class Job:
    """What one Ray Tune trial runs (its `config["job"]`): a search trial or an outer evaluation."""

    kind: str                       # "search" | "outer"
    stream: str                     # the study's key: "<corpus>" or "<corpus>/r<r>-f<i>"
    corpus: str
    repeat: int | None = None       # nested: the outer step; None: same-corpus mode
    test_fold: int | None = None
    params: dict = field(default_factory=dict)   # sampled values (search) / the choice (outer)
    number: int = -1                # Optuna trial number (search) / the chosen trial (outer)
    baseline: bool = False          # the paper's architecture: never stopped early
    max_epochs: int = 0             # epoch cap of this training
    seed: int = 0                   # train_folds seed (the repeat's seed, as the grid's trials)
    value: float | None = None      # outer: the choice's inner objective


def fixed_values(spec, settings: TuneSettings) -> dict:
    """Values of the parameters that are not searched (the spec's, or the block's fixed ones)."""
    base = {**spec.architecture.to_dict(), **{k: getattr(spec.training, k) for k in TRAINING_KEYS}}
    return {k: settings.fixed.get(k, base[k]) for k in SPACE_KEYS if k not in settings.searched}


def study_key(spec, corpus, settings: TuneSettings, *, mode: str = "same-corpus",
              repeat: int | None = None, test_fold: int | None = None) -> dict:
    """Everything that decides a trial's value besides its sampled parameters.

    Stored with the study; a re-run with another key would mix incomparable values into one
    study, so it is refused instead.
    """

    key = {
        "version": STUDY_VERSION, "mode": mode, "corpus": corpus.fingerprint, "task": spec.task,
        "k": spec.k, "seed": spec.seed, "fold_scheme": spec.fold_scheme,
        "normalisation": spec.normalisation, "max_epochs": max_epochs_of(spec, settings),
        "patience": spec.training.patience, "weight_decay": spec.training.weight_decay,
        "fixed": {k: v for k, v in sorted(fixed_values(spec, settings).items())},
        "architecture": {k: v for k, v in sorted(spec.architecture.to_dict().items()) if k not in ARCHITECTURE_KEYS},
        "training": {k: v for k, v in sorted(spec.training.to_dict().items())
                     if k in ("updates",)},
    }
    if mode == "nested":
        key.update(repeat=repeat, test_fold=test_fold)
    else:
        key.update(repeats=settings.repeats, held_out_fold=HELD_OUT_FOLD)
    return key


def open_study(db: Path, name: str, key: dict, where: str):
    """Create or load the study; refuse one made with other settings; fail stale RUNNING trials."""
    import optuna  # heavy: optuna
    from optuna.trial import TrialState  # heavy: optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                load_if_exists=True)
    stored = study.user_attrs.get("paragrid_key")
    if stored is None:
        study.set_user_attr("paragrid_key", key)
    elif stored != key:
        diff = sorted(k for k in set(stored) | set(key) if stored.get(k) != key.get(k))
        raise UserError(f"{where}: the study in {db} was made with other settings ({', '.join(diff)} "
                        "changed), so its values are not comparable; delete that folder to start "
                        "afresh, or tune into another --storage")
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # Left RUNNING by an interrupted call (only one `paragrid tune` writes a study: the lock).
        study.tell(t.number, state=TrialState.FAIL)
    return study


def n_finished(study) -> int:
    from optuna.trial import TrialState  # heavy: optuna

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


@dataclass(eq=False)
class Stream:
    """One study the searcher fills, and (nested) the outer evaluation that follows it."""

    study: Any
    distributions: dict
    target: int                     # finished trials the study should hold
    job: Job                        # template: stream, corpus, repeat, test fold, max_epochs
    fixed: dict                     # values of the parameters not searched
    concurrency: int | None = None  # live search trials at once (nested: 1, reproducible)
    outer: Job | None = None        # nested: the outer job's template (None: no outer step)
    outer_epochs: int = 0
    finished: int = 0               # COMPLETE + PRUNED in the study
    failed: int = 0                 # FAIL in this call (they count against `target`)
    live: int = 0
    outer_state: str = "todo"       # todo | running | done | failed | skipped
    key_hash: str = ""              # nested: hash of the study key, stored with the step's result

    @property
    def key(self) -> str:
        return self.job.stream

    def wants_trial(self) -> bool:
        room = self.concurrency is None or self.live < self.concurrency
        return room and self.finished + self.failed + self.live < self.target

    def search_done(self) -> bool:
        return self.live == 0 and self.finished + self.failed >= self.target

    def pending(self) -> bool:
        if not self.search_done():
            return True
        return self.outer is not None and self.outer_state in ("todo", "running")


OnSearch = Callable[[Stream, Any, dict | None, bool], None]
OnOuter = Callable[[Stream, Job, dict | None, bool], None]


def trials_frame(study, fixed: dict) -> pd.DataFrame:
    """One row per Optuna trial: number, value, state, params_*, duration_s, epochs, ...

    `value` is the objective of a fully trained (COMPLETE) trial only; `last_val_uar` is what
    a trial last told the scheduler; `stopped_early` marks PRUNED trials the scheduler stopped.
    """

    rows = []
    for t in study.get_trials(deepcopy=False):
        params = {**fixed, **t.params}
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else math.nan
        complete = t.state.name == "COMPLETE"
        last = t.value if complete else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else math.nan)
        rows.append({"number": t.number, "value": t.value if complete else math.nan,
                     "state": t.state.name,
                     **{f"params_{k}": params.get(k) for k in SPACE_KEYS},
                     "duration_s": duration, "epochs": t.user_attrs.get("epochs"),
                     "last_val_uar": last, "baseline": bool(t.user_attrs.get("baseline", False)),
                     "stopped_early": bool(t.user_attrs.get("stopped_early", False))})
    columns = ["number", "value", "state", *[f"params_{k}" for k in SPACE_KEYS], "duration_s",
               "epochs", "last_val_uar", "baseline", "stopped_early"]
    return pd.DataFrame(rows, columns=columns)


PAPER_ARCHITECTURE = {"layers": 4, "width": 256, "activation": "sigmoid", "dropout": 0.5}


PAPER_LR = 5e-4


def paper_point(spec, settings: TuneSettings, say) -> dict | None:
    """The searched part of the paper's Table 1 configuration, or None if outside the space."""
    paper = {**PAPER_ARCHITECTURE, "lr": PAPER_LR, "batch_size": spec.training.batch_size,
             "optimizer": spec.training.optimizer}
    point, outside = baseline_point(settings, paper)
    if outside:
        say(f"   note: the paper's architecture lies outside tune.space for {', '.join(outside)}; "
            "it is not evaluated first")
        return None
    return point or None


def timing_point(spec, settings: TuneSettings) -> dict:
    """The configuration the cost estimate times: the paper's (the search's trial 0, mid-sized
    in the default space), else the spec's own."""
    return paper_point(spec, settings, lambda _: None) or {}

