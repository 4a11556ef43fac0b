"""`paragrid tune SPEC`: re-tune the shared architecture per target corpus with Optuna in Ray Tune.

The paper chose its Table 1 architecture "with a plain DNN on the target task". This module
does the same search automatically, once per target corpus of the spec:

  * objective: validation UAR of a plain DNN (method dnn), averaged over the inner folds and
    the tuning repeats, each fold's UAR taken at its best epoch (the paper's early stopping);
  * nested, so no test utterance can leak into the choice: for tuning repeat r the grid's own
    fold split of repeat r is taken and its fold 0 -- the test fold of the grid's step 0 -- is
    held out entirely: its rows are never read, not even for normalisation. The other k-1
    folds each validate once while the remaining k-2 train (as many training folds as a grid
    step has). train_folds insists on a test row per step, so it gets one synthetic all-zero
    row that belongs to no utterance; no corpus utterance is ever a test row here;
  * search: Optuna's TPE sampler (seeded) through ray.tune.search.optuna.OptunaSearch, the
    paper's architecture evaluated first, and ASHA (or median stopping) ending poor trials
    early on their per-epoch validation UAR;
  * storage: the Optuna study lives in <storage>/<spec name>/tune/<corpus>/optuna.db (SQLite,
    written by the driver only, so a multi-node cluster needs nothing shared for it). A re-run
    resumes the study: finished trials are kept, `num_samples` is the number of finished
    trials the study should hold, so a larger number tops it up;
  * outputs next to it: best.yaml (a fragment `paragrid run SPEC --architecture best.yaml`
    accepts) and trials.csv; RUNDIR/tune/trials.csv merges every corpus for the dashboard.

A trial stopped by the scheduler (or by the time budget) is recorded as PRUNED with its last
per-epoch value; only fully trained (COMPLETE) trials can become best.yaml.
"""
from __future__ import annotations

import inspect
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

from paragrid.errors import UserError
from paragrid.grid.search_space import (
    ARCHITECTURE_KEYS, SPACE_KEYS, TRAINING_KEYS, TuneSettings, baseline_point, optuna_distributions,
    parse_tune_block,
)

METRIC = "val_uar"
HELD_OUT_FOLD = 0          # the grid's step-0 test fold of each tuning repeat is never read
PAPER_ARCHITECTURE = {"layers": 4, "width": 256, "activation": "sigmoid", "dropout": 0.5}
PAPER_LR = 5e-4
STUDY_VERSION = 1          # bump when the objective's meaning changes: old studies are refused


# ----------------------------------------------------------------------------- the spec

def load_tuning_spec(spec: str | Path, features_dir: str | Path | None = None):
    """(Spec, raw `tune:` block) of a spec file or built-in name.

    The `tune:` block is taken off before the grid's validator sees the rest, so the grid spec
    and the tuning block are each checked by their own owner.
    """
    from paragrid.grid import spec as gspec

    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            gspec.load_spec(spec)  # raises its one-line UserError
        text, origin, base = path.read_text(), str(path), path.resolve().parent
    elif str(spec) in gspec.builtin_names():
        text = (resources.files("paragrid.grid") / "specs" / f"{spec}.yaml").read_text()
        origin, base = f"built-in {spec}", Path.cwd()
    else:
        gspec.load_spec(spec)  # raises: neither a file nor a built-in spec
        raise AssertionError("unreachable")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        gspec.load_spec(spec)  # raises the grid's own YAML / mapping error
    tune_raw = doc.pop("tune", None)
    parsed = gspec.validate(doc, origin=origin, base=base,
                            features_dir=Path(features_dir) if features_dir else None)
    return parsed, tune_raw


def tuning_targets(spec) -> list[str]:
    """Every target corpus of the spec's experiments, in order of first appearance."""
    out: list[str] = []
    for exp in spec.experiments:
        out += [t for t in exp.targets if t not in out]
    return out


# ----------------------------------------------------------------------------- the data

@dataclass
class TuningData:
    """What every trial of one corpus's study trains on (identical for every trial)."""

    data: Any                  # paragrid.models.train.FoldData, F = repeats x (k-1) inner steps
    classes: list[str]
    n_utterances: int          # corpus size
    held_out: list[int]        # utterances held out (never read) per tuning repeat
    inner_steps: int           # k-1 per repeat
    repeats: int


def tuning_data(corpus, spec, repeats: int) -> TuningData:
    """Stack the inner validation steps of `repeats` tuning repeats into one FoldData.

    Rows of the held-out fold keep all-zero features and label 0 in the stacked arrays: they
    are placeholders whose corpus values are never copied in (they are in no mask, and the
    z-score statistics come from the kept rows only).
    """
    from paragrid.grid.folds import FoldSteps
    from paragrid.grid.normalise import zscore
    from paragrid.grid.sources import classes_of, encode, fold_of
    from paragrid.models.train import FoldData

    k = spec.k
    labels = corpus.labels[spec.task]
    n, d = corpus.x.shape
    splits = [np.asarray(fold_of(corpus, spec, r)) for r in range(repeats)]
    kept = [folds != HELD_OUT_FOLD for folds in splits]
    used = np.logical_or.reduce(kept)
    classes = classes_of(labels[used])
    if len(classes) < 2:
        raise UserError(f"corpus '{corpus.name}': fewer than two '{spec.task}' classes; nothing to tune")
    y = np.zeros(n + 1, dtype=np.int64)             # + 1: the synthetic test row
    y[:n][used] = encode(labels[used], classes, f"corpus '{corpus.name}' task '{spec.task}'")

    steps_per = k - 1
    f_total = repeats * steps_per
    x = np.zeros((f_total, n + 1, d), dtype=np.float32)
    train = np.zeros((f_total, n + 1), dtype=bool)
    val = np.zeros((f_total, n + 1), dtype=bool)
    test = np.zeros((f_total, n + 1), dtype=bool)
    test[:, n] = True
    for r, (folds, keep) in enumerate(zip(splits, kept)):
        rows = np.flatnonzero(keep)
        sub = folds[rows]
        inner = [v for v in range(k) if v != HELD_OUT_FOLD]
        tr = np.stack([(sub != v) for v in inner])            # every kept fold but v trains
        va = np.stack([(sub == v) for v in inner])
        steps = FoldSteps(train=tr, val=va, test=np.zeros_like(tr), val_fold=np.asarray(inner),
                          train_folds=[tuple(f for f in inner if f != v) for v in inner])
        z = zscore(corpus.x[rows], steps, spec.normalisation)  # statistics from kept rows only
        block = slice(r * steps_per, (r + 1) * steps_per)
        x[block][:, rows] = z
        train[block][:, rows] = tr
        val[block][:, rows] = va
    data = FoldData(x=x, y=y, train=train, val=val, test=test, n_classes=len(classes))
    return TuningData(data=data, classes=classes, n_utterances=n,
                      held_out=[int((~keep).sum()) for keep in kept], inner_steps=steps_per,
                      repeats=repeats)


# ----------------------------------------------------------------------------- one trial

def trial_settings(config: dict, spec, settings: TuneSettings):
    """(Architecture, TrainSettings) of a trial: its sampled values over the spec's."""
    from paragrid.models.config import Architecture, TrainSettings

    values = {**spec.architecture, **spec.training, **settings.fixed, **config}
    arch = Architecture(**{k: values[k] for k in ARCHITECTURE_KEYS})
    training = {**spec.training, **{k: values[k] for k in TRAINING_KEYS}}
    training["max_epochs"] = settings.max_epochs or spec.training["max_epochs"]
    training["curve_stride"] = training["max_epochs"]  # curves are not kept: record as little as possible
    return arch, TrainSettings(**training)


def evaluate_config(data, arch, train_settings, seed: int,
                    report: Callable[[dict], None] | None = None, device: str | None = None) -> dict:
    """Train the DNN of one configuration on the tuning folds; return its objective.

    With `report`, the running objective (mean over folds of the best validation UAR so far)
    is reported after every epoch -- one epoch late, so that the last report can carry
    `finished: True` and the scheduler can tell a fully trained trial from one it stopped.
    """
    from paragrid.models.train import SingleClassWarning, train_folds

    kwargs: dict[str, Any] = {}
    pending: dict = {}
    best = np.full(data.n_folds, -np.inf)
    if report is not None and "epoch_callback" in inspect.signature(train_folds).parameters:
        def on_epoch(epoch: int, val_uar: np.ndarray) -> bool:
            nonlocal pending
            # fmax: a fold not trained yet reports nan, which must not poison the mean.
            np.fmax(best, np.asarray(val_uar, dtype=float), out=best)
            if pending:
                report(pending)
            pending = {METRIC: float(best.mean()), "epoch": int(epoch), "finished": False}
            return False
        kwargs["epoch_callback"] = on_epoch
    # The synthetic test row makes every fold "predict one class on its test fold": not news.
    train_log = logging.getLogger("paragrid.models")
    level = train_log.level
    train_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingleClassWarning)
            out = train_folds(data, arch, train_settings, method="dnn", seed=seed, device=device, **kwargs)
    finally:
        train_log.setLevel(level)
    result = {METRIC: float(np.mean(out.val_uar)), "epoch": int(np.max(out.epochs_run)),
              "finished": True, "val_uar_folds": [float(v) for v in out.val_uar],
              "best_epochs": [int(v) for v in out.best_epoch], "device": out.device}
    if report is not None:
        report(result)
    return result


def _ray_trial(config: dict, *, data, spec, settings: TuneSettings, seed: int) -> None:
    """The Ray Tune trainable: one configuration, reported per epoch to the scheduler."""
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(spec.resources["cpu"])))  # as the grid's trials do
    device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES to ours
    arch, train_settings = trial_settings(config, spec, settings)
    data = replace(data, x=np.array(data.x))  # the object store's copy is read-only; torch wants to own it
    evaluate_config(data, arch, train_settings, seed, report=tune.report, device=device)


# ----------------------------------------------------------------------------- the study

def study_key(spec, corpus, settings: TuneSettings) -> dict:
    """Everything that decides a trial's value besides its sampled parameters.

    Stored with the study; a re-run with another key would mix incomparable values into one
    study, so it is refused instead.
    """
    max_epochs = settings.max_epochs or spec.training["max_epochs"]
    return {
        "version": STUDY_VERSION, "corpus": corpus.fingerprint, "task": spec.task, "k": spec.k,
        "seed": spec.seed, "fold_scheme": spec.fold_scheme, "normalisation": spec.normalisation,
        "repeats": settings.repeats, "held_out_fold": HELD_OUT_FOLD, "max_epochs": max_epochs,
        "patience": spec.training["patience"], "weight_decay": spec.training["weight_decay"],
        "fixed": {k: v for k, v in sorted(_fixed_values(spec, settings).items())},
    }


def _fixed_values(spec, settings: TuneSettings) -> dict:
    """Values of the parameters that are not searched (the spec's, or the block's fixed ones)."""
    base = {**spec.architecture, **{k: spec.training[k] for k in TRAINING_KEYS}}
    return {k: settings.fixed.get(k, base[k]) for k in SPACE_KEYS if k not in settings.searched}


def _open_study(db: Path, name: str, key: dict, where: str):
    """Create or load the study; refuse one made with other settings; fail stale RUNNING trials."""
    import optuna
    from optuna.trial import TrialState

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
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return storage, study


def _make_searcher(space, points, sampler, name, storage, say, total: int, n_before: int):
    """OptunaSearch that tells a scheduler-stopped trial from a finished one, and reports."""
    from ray.tune.search.optuna import OptunaSearch

    class _Search(OptunaSearch):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.done = n_before

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
            ot_trial = self._ot_trials.get(trial_id)
            finished = bool(result and result.get("finished"))
            if ot_trial is not None and result:
                ot_trial.set_user_attr("epochs", int(result.get("epoch", 0)))
                if finished:
                    ot_trial.set_user_attr("val_uar_folds", result.get("val_uar_folds"))
                    ot_trial.set_user_attr("device", result.get("device"))
            last = result.get(METRIC) if result else None
            if ot_trial is not None and not finished and last is not None:
                # The result that made the scheduler stop the trial reaches only this hook, not
                # on_trial_result: record it, so the PRUNED trial's last value is the true last.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a step reported already is ignored by Optuna
                    ot_trial.report(last, int(result.get("training_iteration", result.get("epoch", 0))))
            # No value -> OptunaSearch records PRUNED (stopped early) or FAIL (error).
            super().on_trial_complete(trial_id, result=result if finished else None, error=error)
            if ot_trial is not None:
                self.done += 1
                say(_trial_line(ot_trial.number, self.done, total, ot_trial.params, finished, error,
                                last, result.get("epoch") if result else None))

    return _Search(space=space, metric=METRIC, mode="max", points_to_evaluate=points,
                   sampler=sampler, study_name=name, storage=storage)


def _trial_line(number, done, total, params, finished, error, value, epoch) -> str:
    shown = " ".join(f"{k}={_fmt(v)}" for k, v in params.items())
    if error:
        what = "FAILED (see Ray's log)"
    elif finished:
        what = f"val UAR {value:.4f}"
    else:
        what = f"stopped early at epoch {epoch} (val UAR {value:.4f})" if value is not None else "stopped"
    return f"   trial {number} [{done}/{total}] {what}  {shown}"


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _scheduler(settings: TuneSettings, max_epochs: int, protect: dict | None = None):
    """ASHA, median stopping or none, on per-epoch validation UAR (time = epochs reported).

    The trial whose config is `protect` (the paper's architecture) is never stopped early:
    it is the reference every tuned value is compared with, and a slow starter (sigmoid,
    lr 5e-4) would otherwise be cut at chance level, the trap PROTOCOL.md describes.
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    grace = min(settings.grace_period, max_epochs)
    if settings.scheduler == "none":
        return FIFOScheduler()
    if settings.scheduler == "asha":
        base, kwargs = ASHAScheduler, dict(max_t=max_epochs, grace_period=grace,
                                           reduction_factor=settings.reduction_factor)
    else:
        base, kwargs = MedianStoppingRule, dict(grace_period=grace, min_samples_required=3)

    class Protecting(base):
        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            if protect and all(trial.config.get(k) == v for k, v in protect.items()):
                return self.CONTINUE
            return decision

    return Protecting(time_attr="training_iteration", **kwargs)


# ----------------------------------------------------------------------------- outputs

def trials_frame(study, settings: TuneSettings, fixed: dict) -> pd.DataFrame:
    """One row per Optuna trial: number, value, state, params_*, duration_s, epochs, ..."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        params = {**fixed, **t.params}
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else math.nan
        complete = t.state.name == "COMPLETE"
        # `value` is the objective of a fully trained trial only (Optuna gives a PRUNED trial its
        # last report as value); `last_val_uar` is what the trial last told the scheduler.
        last = t.value if complete else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else math.nan)
        rows.append({"number": t.number, "value": t.value if complete else math.nan,
                     "state": t.state.name,
                     **{f"params_{k}": params.get(k) for k in SPACE_KEYS},
                     "duration_s": duration, "epochs": t.user_attrs.get("epochs"),
                     "last_val_uar": last, "baseline": "fixed_params" in t.system_attrs})
    columns = ["number", "value", "state", *[f"params_{k}" for k in SPACE_KEYS], "duration_s",
               "epochs", "last_val_uar", "baseline"]
    return pd.DataFrame(rows, columns=columns)


def best_fragment(best: dict, *, corpus: str, spec_name: str, value: float, n_complete: int,
                  n_trials: int, baseline: float | None, objective: str) -> str:
    """best.yaml: the `architecture:`/`training:` fragment `paragrid run --architecture` takes."""
    arch = {k: best[k] for k in ARCHITECTURE_KEYS}
    training = {k: best[k] for k in TRAINING_KEYS}
    base = f"{baseline:.4f}" if baseline is not None else "n/a (not completed)"
    head = [
        f"# architecture tuned by `paragrid tune` for target corpus '{corpus}' (spec '{spec_name}')",
        f"# best validation UAR {value:.4f} over {n_complete} completed trials ({n_trials} in the study);",
        f"# the paper's Table 1 architecture (trial 0) scored {base} on the same folds.",
        f"# objective: {objective}",
        f"# use: paragrid run SPEC --architecture {Path('tune', corpus, 'best.yaml')}",
    ]
    body = yaml.safe_dump({"architecture": arch, "training": training}, sort_keys=False)
    return "\n".join(head) + "\n" + body


def merge_trials_csv(tune_root: Path) -> Path | None:
    """RUNDIR/tune/trials.csv: every corpus's trials.csv with a `corpus` column (for the report)."""
    if not tune_root.is_dir():
        return None
    parts = []
    for sub in sorted(p for p in tune_root.iterdir() if p.is_dir()):
        csv = sub / "trials.csv"
        if csv.is_file() and (sub / "optuna.db").is_file():
            df = pd.read_csv(csv)
            df.insert(0, "corpus", sub.name)
            parts.append(df)
    if not parts:
        return None
    out = tune_root / "trials.csv"
    _write_text(out, pd.concat(parts, ignore_index=True).to_csv(index=False))
    return out


def _write_text(path: Path, text: str) -> None:
    from paragrid.features.store import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(text))


# ----------------------------------------------------------------------------- one corpus

def tune_corpus(spec, corpus, settings: TuneSettings, out_dir: Path, *, resources: dict,
                say: Callable[[str], None] = print, verbose: bool = False) -> dict:
    """Run (or resume) the study of one target corpus; write best.yaml and trials.csv.

    Returns a summary (trials, best value and parameters, the paper architecture's value).
    Ray must already be initialised. The outputs are written even when the search is
    interrupted, so they always describe what the study holds.
    """
    from optuna.trial import TrialState

    out_dir.mkdir(parents=True, exist_ok=True)
    study_name = f"{spec.name}/{corpus.name}"
    storage, study = _open_study(out_dir / "optuna.db", study_name, study_key(spec, corpus, settings),
                                 f"tune {study_name}")
    n_before = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    remaining = settings.num_samples - n_before
    t0 = time.perf_counter()
    try:
        if remaining > 0:
            _search(spec, corpus, settings, study, storage, out_dir, remaining, n_before,
                    resources, say, verbose)
        else:
            say(f"== tuning {corpus.name}: the study already holds {n_before} finished trial(s), "
                f">= num_samples {settings.num_samples}; nothing to run (raise --num-samples to continue)")
    finally:
        summary = _write_outputs(spec, corpus, settings, study_name, storage, out_dir, say)
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def _search(spec, corpus, settings: TuneSettings, study, storage, out_dir: Path, remaining: int,
            n_before: int, resources: dict, say, verbose: bool) -> None:
    """One Ray Tune run adding `remaining` finished trials to the study."""
    import optuna
    from ray import tune

    from paragrid.grid.folds import repeat_seed

    tdata = tuning_data(corpus, spec, settings.repeats)
    max_epochs = settings.max_epochs or spec.training["max_epochs"]
    points = None
    if not study.trials:  # a fresh study: the paper's architecture is trial 0
        paper = {**PAPER_ARCHITECTURE, "lr": PAPER_LR, "batch_size": spec.training["batch_size"],
                 "optimizer": spec.training["optimizer"]}
        point, outside = baseline_point(settings, paper)
        if outside:
            say(f"   note: the paper's architecture lies outside tune.space for {', '.join(outside)}; "
                "it is not evaluated first")
        elif point:
            points = [point]
    say(f"== tuning {corpus.name}: {remaining} trial(s) to run ({n_before} already in the study); "
        f"{tdata.inner_steps} inner folds x {tdata.repeats} repeat(s), {tdata.held_out[0]} of "
        f"{tdata.n_utterances} utterances held out; <= {max_epochs} epochs; scheduler {settings.scheduler}")

    # A fresh sampler seed per call: a resumed study must not replay the first call's draws.
    seed = (settings.seed if settings.seed is not None else spec.seed) + len(study.trials)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=10)
    searcher = _make_searcher(optuna_distributions(settings), points, sampler, study.study_name,
                              storage, say, settings.num_samples, n_before)
    trainable = tune.with_parameters(_ray_trial, data=tdata.data, spec=spec, settings=settings,
                                     seed=repeat_seed(spec.seed, 0))
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", search_alg=searcher,
            scheduler=_scheduler(settings, max_epochs, points[0] if points else None),
            num_samples=remaining, time_budget_s=settings.time_budget_s,
            max_concurrent_trials=settings.max_concurrent, reuse_actors=True,
            trial_dirname_creator=lambda trial: f"trial-{trial.trial_id}"),
        # Ray's own experiment folder (logs, error files) sits next to the study.
        run_config=tune.RunConfig(name=time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}",
                                  storage_path=str(out_dir / "ray"), verbose=1 if verbose else 0),
    )
    tuner.fit()


def _write_outputs(spec, corpus, settings: TuneSettings, study_name: str, storage, out_dir: Path,
                   say) -> dict:
    """trials.csv always; best.yaml once a trial has completed. Returns the summary."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    fixed = _fixed_values(spec, settings)
    frame = trials_frame(study, settings, fixed)
    _write_text(out_dir / "trials.csv", frame.to_csv(index=False))
    complete = frame[frame["state"] == "COMPLETE"]
    baseline_rows = complete[complete["baseline"]]
    baseline = float(baseline_rows["value"].iloc[0]) if len(baseline_rows) else None
    summary = {"corpus": corpus.name, "trials": int(len(frame)),
               "finished": int(frame["state"].isin(["COMPLETE", "PRUNED"]).sum()),
               "complete": int(len(complete)), "baseline_value": baseline, "best_value": None,
               "best": None, "best_number": None, "dir": str(out_dir)}
    if not len(complete):
        say(f"   no trial of {corpus.name} has completed yet; no best.yaml written")
        return summary
    bt = study.best_trial
    best = {**fixed, **bt.params}
    summary.update(best_value=float(bt.value), best=best, best_number=bt.number)
    max_epochs = settings.max_epochs or spec.training["max_epochs"]
    objective = (f"mean over {spec.k - 1} inner folds x {settings.repeats} repeat(s) of the best "
                 f"validation UAR of a DNN (<= {max_epochs} epochs, normalisation "
                 f"{spec.normalisation}); fold {HELD_OUT_FOLD} of each repeat's split held out")
    _write_text(out_dir / "best.yaml", best_fragment(
        best, corpus=corpus.name, spec_name=spec.name, value=float(bt.value),
        n_complete=len(complete), n_trials=len(frame), baseline=baseline, objective=objective))
    paper = "n/a" if baseline is None else f"{baseline:.4f}"
    say(f"   {corpus.name}: best val UAR {bt.value:.4f} (trial {bt.number}; {len(complete)} of "
        f"{len(frame)} trials completed, the rest stopped early or failed); paper architecture "
        f"{paper} -> {out_dir / 'best.yaml'}")
    return summary


# ----------------------------------------------------------------------------- entry point

def run_tuning(spec: str, storage: str = "runs", address: str | None = None, verbose: bool = False,
               *, num_samples: int | None = None, time_budget_s: float | None = None,
               targets: list[str] | None = None, features_dir: str | None = None,
               max_concurrent: int | None = None, say: Callable[[str], None] = print) -> Path:
    """Tune the architecture for every target corpus of `spec`; return RUNDIR/tune.

    Keyword overrides (CLI flags) win over the spec's `tune:` block.
    """
    import optuna

    from paragrid.grid.sources import load_corpora

    parsed, tune_raw = load_tuning_spec(spec, features_dir)
    where = f"spec {parsed.origin}"
    settings = parse_tune_block(tune_raw, where, optimizer=parsed.training["optimizer"])
    overrides = {"num_samples": num_samples, "time_budget_s": time_budget_s,
                 "max_concurrent": max_concurrent}
    if any(v is not None for v in overrides.values()):
        raw = dict(tune_raw or {})
        raw.update({k: v for k, v in overrides.items() if v is not None})
        settings = parse_tune_block(raw, where.replace("spec", "options for spec"),
                                    optimizer=parsed.training["optimizer"])
    # Catch a bad fixed value (e.g. activation: sigmiod) before Ray starts.
    trial_settings({}, parsed, settings)

    wanted = tuning_targets(parsed)
    if targets:
        unknown = [t for t in targets if t not in parsed.corpora]
        if unknown:
            raise UserError(f"--target {unknown[0]}: not a corpus of spec {parsed.name}; "
                            f"corpora: {', '.join(parsed.corpora)}")
        wanted = list(targets)

    location = storage or parsed.storage or "runs"
    if "://" in location:
        raise UserError(f"storage {location}: tuning keeps its Optuna study in SQLite and needs a "
                        "local or mounted folder, not a URI; pass --storage DIR")
    root = Path(location).expanduser().resolve()
    tune_root = root / parsed.name / "tune"
    corpora = load_corpora(parsed, set())
    if not verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    from paragrid.grid.runner import _ray_session, _resources
    from paragrid.grid.store import RunDir, RunLock, Storage

    with _ray_session(address, verbose, say) as cluster:
        resources, _ = _resources(parsed, cluster, say)
        for target in wanted:
            lock_dir = RunDir(Storage(str(root)), f"{parsed.name}/tune/{target}")
            try:
                with RunLock(lock_dir, say=say):
                    tune_corpus(parsed, corpora[target], settings, tune_root / target,
                                resources=resources, say=say, verbose=verbose)
            finally:
                merge_trials_csv(tune_root)
    return tune_root
