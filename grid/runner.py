"""`paragrid run`: a grid spec -> Ray Tune trials -> <storage>/<spec name>/results.parquet.

Two stages, run as ONE Ray Tune run so that no stage boundary idles the cluster:
  1. every source model the unfinished transfer trials need (unless already stored) and the
     DNN baselines (they need no source, so they fill the cluster while sources train);
  2. the transfer trials (ptft, prognet), which load their source models from the store; a
     searcher hands each one to Tune as soon as its own source models exist.
One Tune trial = one (method, source set, target, budget, repeat) with its k folds trained
fold-vectorised, or one source model. Each trial writes its own files (atomically) before it
reports to Tune; the driver merges them into the run's tables as trials finish. A re-run skips
every trial whose files exist with the same spec hash, so an interrupted run resumes and a
finished one does no training. Failed trials are retried (`max_failures`), then reported in one
line each; the rest of the grid still runs.

The driver reads the feature tables once and ships them to the workers through Ray's object
store, so workers need no access to the features folder; they do need to reach the storage
(a shared filesystem or a URI such as s3://...) where results and source models live.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import socket
import threading
import time
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from paragrid.errors import UserError
from paragrid.grid.sources import Corpus, ModelStore, SourceJob, load_corpora, plan_sources
from paragrid.grid.spec import Spec, Trial, expand_trials, load_spec, parse_source
from paragrid.grid.store import RunDir, RunLock, Storage

# Fault injection for tests and drills: trials whose id matches this glob fail on their first
# attempt (a marker file in the trial folder remembers it), to exercise retries end to end.
FAULT_ENV = "PARAGRID_FAULT_ONCE"
MERGE_EVERY_S = 10.0


class TrialsFailed(UserError):
    """Some trials failed after their retries; the others' results were written."""


def _say(line: str) -> None:
    print(line, flush=True)


# ----------------------------------------------------------------------------- public entry

def run_grid(spec: str, storage: str | None = None, address: str | None = None,
             verbose: bool = False, architecture: str | None = None,
             features_dir: str | None = None) -> Path | str:
    """Run (or resume) a grid spec; return the run folder (a Path, or the URI for remote storage).

    `storage` None uses the spec's `storage` key, else "runs". `address` None starts a local
    Ray instance (or reuses one already initialised in this process); "auto" or
    "host:port" / "ray://host:port" attaches to a running cluster.
    """
    say = _say
    s = load_spec(spec, architecture=architecture, features_dir=features_dir)
    expansion = expand_trials(s)
    trials = expansion.trials
    if not trials:
        raise UserError(f"spec {s.origin}: the grid is empty (no method/source/target combination left)")
    label_columns = {parse_source(x)[0] for t in trials for x in t.sources}
    corpora = load_corpora(s, label_columns)
    spec_hash = s.hash({n: c.fingerprint for n, c in corpora.items()})
    per_trial, _ = plan_sources(trials, s, corpora)

    root = Storage(storage or s.storage or "runs")
    run = RunDir(root, s.name)
    models = ModelStore(root)
    with RunLock(run, say) as lock:
        _write_run_files(run, s, spec_hash, corpora, say)
        finished = {t.trial_id for t in trials if _is_done(run, t.trial_id, spec_hash)}
        todo = [t for t in trials if t.trial_id not in finished]
        merger = _Merger(run, [t.trial_id for t in trials], spec_hash, finished)
        if not todo:
            merger.flush(force=True)
            say(f"nothing to do: all {len(trials)} trials of '{s.name}' are finished (spec_hash "
                f"{spec_hash}); no training was run. Results: {run.uri}/results.parquet")
            return _result_path(run)

        jobs: dict[str, SourceJob] = {}
        for t in todo:
            for j in per_trial[t.trial_id]:
                jobs.setdefault(j.key, j)
        stored = {k for k in jobs if models.has(k)}
        to_train = [j for k, j in jobs.items() if k not in stored]
        transfer = [t for t in todo if t.method != "dnn"]
        # Priority order: sources first (they unblock stage 2), then transfer trials as their
        # sources appear, with the DNN baselines filling free slots in between.
        items = ([_source_item(j) for j in to_train]
                 + [_trial_item(t, per_trial[t.trial_id]) for t in transfer]
                 + [_trial_item(t, []) for t in todo if t.method == "dnn"])
        _print_plan(s, spec_hash, run, trials, todo, to_train, stored, transfer, expansion.notes, say)

        ctx = {"spec": s, "spec_hash": spec_hash, "corpora": corpora, "storage": root.uri(),
               "run": s.name, "threads": max(1, int(s.resources["cpu"])),
               "fault": os.environ.get(FAULT_ENV) or None}
        t_start = time.time()
        calibration = _Calibration(s, corpora)
        calibration.start()
        try:
            with _ray_session(address, verbose, say) as cluster:
                resources, slots = _resources(s, cluster, say)
                estimates = _estimate(items, s, corpora, calibration.get(say))
                if estimates is not None:
                    stage1 = sum(v for k, v in estimates.items() if not k.startswith(("ptft.", "prognet.")))
                    total = sum(estimates.values())
                    say(f"estimate: ~{_fmt(max(total / slots, max(estimates.values())))} with {slots} "
                        f"trial(s) at a time (stage 1 ~{_fmt(stage1 / slots)}, stage 2 "
                        f"~{_fmt((total - stage1) / slots)}); an estimate from this machine's CPU, "
                        f"refined as trials finish{'; GPU trials may be faster' if resources['gpu'] else ''}")
                # Attached to a cluster (--address), queue beyond the free slots so an autoscaler
                # sees the demand; on this machine, decide each next trial only when a slot frees.
                queue = slots if address is None else max(4 * slots, 16)
                failed = _run_tune(_longest_first(items, estimates), stored, estimates, slots, queue, ctx,
                                   resources, s, run, verbose, merger, lock, say)
        finally:
            # Also on Ctrl-C: every trial whose files are durable is in the tables, including
            # those that finished after Tune's last report reached the driver.
            merger.collect([t.trial_id for t in todo if _is_done(run, t.trial_id, spec_hash)])
            merger.flush(force=True)

        n_done = len(merger.done)
        say(f"finished {n_done}/{len(trials)} trials in {_fmt(time.time() - t_start)}; "
            f"results: {run.uri}/results.parquet ({len(merger.results)} rows), curves.parquet")
        if failed or n_done < len(trials):
            first = failed[0] if failed else ("?", "not finished", "")
            n_src = sum(f[0].startswith("source.") for f in failed)
            raise TrialsFailed(
                f"{len(trials) - n_done} of {len(trials)} trials did not finish"
                f"{f' ({n_src} source model(s) failed)' if n_src else ''}; first failure: "
                f"{first[0]}: {first[1]}{' [log: ' + first[2] + ']' if first[2] else ''}; "
                f"the finished trials are in {run.uri}/results.parquet; re-run the same "
                "command to retry the rest")
    return _result_path(run)


# ----------------------------------------------------------------------------- driver helpers

def _result_path(run: RunDir) -> Path | str:
    return Path(run.storage.path(run.name)) if run.storage.is_local else run.uri


def _is_done(run: RunDir, trial_id: str, spec_hash: str) -> bool:
    done = run.trial_done(trial_id)
    return bool(done) and done.get("spec_hash") == spec_hash


def _write_run_files(run: RunDir, s: Spec, spec_hash: str, corpora: dict[str, Corpus], say) -> None:
    st = run.storage
    if st.exists(*run.at("run.json")):
        try:
            old = st.read_json(*run.at("run.json")).get("spec_hash")
        except (ValueError, OSError):
            old = None
        if old and old != spec_hash:
            say(f"note: {run.uri} holds trials of a different spec (spec_hash {old}, now {spec_hash}): "
                "they do not count for this one; its trials run (stored source models are reused)")
    st.write_text(s.to_yaml(spec_hash), *run.at("spec.yaml"))
    st.write_json({"spec_name": s.name, "spec_hash": spec_hash, "origin": s.origin,
                   "corpora": {n: {"path": c.path, "fingerprint": c.fingerprint, "utterances": c.n}
                               for n, c in corpora.items()},
                   "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                  *run.at("run.json"))


def _print_plan(s: Spec, spec_hash: str, run: RunDir, trials: list[Trial], todo: list[Trial],
                to_train: list[SourceJob], stored: set[str], stage2: list[Trial], notes, say) -> None:
    """Trial counts per stage, before anything runs."""
    def count(ts, method):
        return sum(t.method == method for t in ts)

    dnn = count(todo, "dnn")
    say(f"grid '{s.name}' (spec_hash {spec_hash}) -> {run.uri}")
    say(f"  stage 1: {len(to_train)} source model(s) to train"
        f"{f' ({len(stored)} already stored)' if stored else ''}, {dnn} dnn trial(s)")
    say(f"  stage 2: {len(stage2)} transfer trial(s) ({count(stage2, 'ptft')} ptft, "
        f"{count(stage2, 'prognet')} prognet)")
    if len(todo) < len(trials):
        say(f"  resuming: {len(trials) - len(todo)} of {len(trials)} trials already finished")
    for note in notes:
        say(f"  note: {note}")


class _Merger:
    """The run's merged tables, rebuilt from the trials' own files as they finish.

    Each finished trial's tables are read once and kept; a flush concatenates them in grid order
    and rewrites the two merged files (atomically), at most every MERGE_EVERY_S and at the end.
    """

    def __init__(self, run: RunDir, order: list[str], spec_hash: str, done: set[str]):
        self.run, self.order, self.spec_hash = run, order, spec_hash
        self.tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        for tid in order:
            if tid in done:
                self._read(tid)
        self.results = pd.DataFrame()
        self.dirty = True
        self.last = 0.0

    @property
    def done(self) -> set[str]:
        return set(self.tables)

    def _read(self, trial_id: str) -> None:
        res, cur, missing = self.run.merge([trial_id], self.spec_hash)
        if not missing:
            self.tables[trial_id] = (res, cur)

    def collect(self, trial_ids: list[str]) -> None:
        """Read the tables of finished trials not merged yet (files on disk are the truth)."""
        for tid in trial_ids:
            if tid not in self.tables:
                self._read(tid)
                self.dirty = True

    def add(self, trial_id: str) -> None:
        self._read(trial_id)
        self.dirty = True
        self.flush()

    def flush(self, force: bool = False) -> None:
        if not self.dirty or (not force and time.time() - self.last < MERGE_EVERY_S):
            return
        parts = [self.tables[t] for t in self.order if t in self.tables]
        results = pd.concat([p[0] for p in parts], ignore_index=True) if parts else pd.DataFrame()
        curves = pd.concat([p[1] for p in parts], ignore_index=True) if parts else pd.DataFrame()
        if len(results):
            self.run.write_merged(results, curves)
        else:  # nothing of this spec yet: no stale tables of another spec either
            for name in ("results.parquet", "curves.parquet"):
                self.run.storage.delete(*self.run.at(name))
        self.results, self.dirty, self.last = results, False, time.time()


def _source_item(j: SourceJob) -> dict:
    return {"kind": "source", "id": j.job_id, "task": j.task, "corpus": j.corpus, "repeat": j.repeat,
            "budget": j.budget, "cross": j.cross, "key": j.key}


def _trial_item(t: Trial, jobs: list[SourceJob]) -> dict:
    return {"kind": "trial", "id": t.trial_id, "method": t.method, "sources": list(t.sources),
            "target": t.target, "budget": t.budget, "repeat": t.repeat,
            "experiments": list(t.experiments), "source_keys": [j.key for j in jobs]}


# ----------------------------------------------------------------------------- Ray

def _quiet(verbose: bool) -> None:
    """Keep Ray's console output from drowning the progress lines (verbose lets it through)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")       # old reporter: silent at verbose=0
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C stops at once; we resume
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # only our JSON logger
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    level = logging.WARNING if verbose else logging.CRITICAL
    for name in ("ray.tune", "ray.train", "ray.air", "ray.data"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("ray").setLevel(logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")


@contextmanager
def _ray_session(address: str | None, verbose: bool, say):
    """A Ray connection for the run; started and shut down here unless one already exists."""
    _quiet(verbose)
    import ray

    if ray.is_initialized():
        yield ray
        return
    kwargs = dict(include_dashboard=False, log_to_driver=verbose, configure_logging=True,
                  logging_level=logging.WARNING if verbose else logging.ERROR)
    where = address or "a local Ray instance"
    if verbose:
        say(f"starting Ray ({where})")
    _probe(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as err:
        msg = " ".join(str(err).split())[:300]
        raise UserError(f"cannot start or reach Ray at {where}: {msg}; for --address use 'auto' "
                        "on a cluster node, 'HOST:6379' or 'ray://HOST:10001'") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _probe(address: str | None) -> None:
    """Fail in seconds, not minutes of Ray's retries, when nothing listens at HOST:PORT."""
    import socket as sock

    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT'")
    try:
        with sock.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as err:
        raise UserError(f"no Ray cluster answers at {address} ({err.strerror or err}); start one "
                        "with `ray start --head` (or `ray up cluster.yaml`) or check the address") from None


def _resources(s: Spec, ray, say) -> tuple[dict, int]:
    """The per-trial resource request, fitted to the cluster; and how many trials fit at once."""
    cpu, gpu = s.resources["cpu"], s.resources["gpu"]
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if gpu and not any(n.get("GPU", 0) for n in nodes):
        say(f"note: the spec asks for gpu: {gpu} per trial but the Ray cluster has no GPU; "
            "running on CPU instead")
        gpu = 0
    if not any(n.get("CPU", 0) >= cpu for n in nodes):
        raise UserError(f"spec {s.origin}: resources.cpu = {cpu} per trial, but no Ray node has that many "
                        f"CPUs (largest: {max((n.get('CPU', 0) for n in nodes), default=0):g}); lower it")
    if gpu and not any(n.get("GPU", 0) >= gpu for n in nodes):
        raise UserError(f"spec {s.origin}: resources.gpu = {gpu} per trial, but no Ray node has that "
                        "many GPUs; lower it")
    slots = 0
    for n in nodes:
        fit = int(n.get("CPU", 0) // cpu)
        if gpu:
            fit = min(fit, int(round(n.get("GPU", 0) / gpu, 6)))
        slots += fit
    return {"cpu": cpu, "gpu": gpu}, max(1, slots)


@contextmanager
def _silence_trainer_warnings():
    """A few epochs on a sample may predict one class per fold: the trainer then warns (log and
    warning), which is noise here. Only this thread's log records are dropped; the warning
    filter is removed afterwards (it is process-wide, but the driver trains nothing else)."""
    from paragrid.models.train import SingleClassWarning

    me = threading.current_thread()
    drop = logging.Filter()
    drop.filter = lambda record: threading.current_thread() is not me  # type: ignore[method-assign]
    loggers = [lg for name, lg in logging.root.manager.loggerDict.items()
               if name.startswith("paragrid.models") and isinstance(lg, logging.Logger)]
    for lg in loggers:
        lg.addFilter(drop)
    warnings.filterwarnings("ignore", category=SingleClassWarning)
    entry = warnings.filters[0]
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(drop)
        try:
            warnings.filters.remove(entry)
        except ValueError:
            pass


class _Calibration(threading.Thread):
    """Calibrates the time estimate in the background while Ray starts (torch's import and a
    few epochs of the real trainer take seconds that would otherwise add to every run)."""

    def __init__(self, s: Spec, corpora: dict[str, Corpus]):
        super().__init__(daemon=True, name="paragrid-calibration")
        self.s, self.corpora = s, corpora
        self.result, self.error = None, None

    def run(self) -> None:
        import numpy as np

        from paragrid.grid.progress import calibrate
        from paragrid.grid.sources import classes_of, encode

        try:
            s = self.s
            targets = {t for e in s.experiments for t in e.targets}
            c = max((self.corpora[t] for t in targets), key=lambda c: c.n)
            rows = np.random.default_rng(0).permutation(c.n)[:2000]
            x = c.x[rows]
            x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
            classes = classes_of(c.labels[s.task])
            y = encode(c.labels[s.task][rows], classes, c.name)
            with _silence_trainer_warnings():
                self.result = calibrate(s.architecture, s.training, x, y, len(classes), s.k,
                                        threads=max(1, int(s.resources["cpu"])))
        except Exception as err:  # noqa: BLE001 - an estimate must never stop a run
            self.error = err

    def get(self, say, timeout: float = 120.0):
        self.join(timeout)
        if self.result is None:
            why = f"{type(self.error).__name__}: {self.error}" if self.error else "calibration too slow"
            say(f"note: no time estimate ({why})")
        return self.result


def _columns(it: dict) -> int:
    """Columns an item trains or runs: a prognet's new column plus its frozen sources, else one."""
    return 1 + len(it["sources"]) if it.get("method") == "prognet" else 1


def _estimate(items: list[dict], s: Spec, corpora: dict[str, Corpus], cal) -> dict[str, float] | None:
    """Estimated seconds of each item on one trial slot (None without a calibration)."""
    if cal is None:
        return None
    out = {}
    for it in items:
        c, task = (corpora[it["corpus"]], it["task"]) if it["kind"] == "source" else (corpora[it["target"]], s.task)
        n_classes = len(set(c.labels[task].tolist()))
        per_epoch = cal.epoch_seconds(k=s.k, n_train=c.n * it["budget"] / s.k, n_val=c.n / s.k,
                                      n_in=c.x.shape[1], n_classes=n_classes, arch=s.architecture,
                                      batch_size=s.training["batch_size"], columns=_columns(it))
        out[it["id"]] = cal.trial_overhead_s + s.training["max_epochs"] * per_epoch
    return out


def _fmt(seconds: float) -> str:
    from paragrid.grid.progress import fmt_duration

    return fmt_duration(seconds)


def _error_of(run: RunDir):
    def error_of(item_id: str, trial) -> tuple[str, str]:
        parts = run.trial(item_id, "error.txt")
        try:
            first = run.storage.read_text(*parts).splitlines()[0]
            return first, run.storage.uri(*parts)
        except (FileNotFoundError, OSError, IndexError):
            pass
        # The worker died before it could write (killed, out of memory): Tune's record.
        err = None
        try:
            err = trial.get_error()
        except Exception:  # noqa: BLE001 - best effort only
            pass
        text = " ".join(str(err).split())[-200:] if err else "the trial's worker died"
        return text, str(getattr(trial, "error_file", None) or "the Ray worker logs (run with -v)")
    return error_of


class _DependencySearcher:
    """Hands Tune the grid's items in priority order, each only once its source models exist.

    A transfer trial waits (suggest returns None) until every source model it needs has been
    trained (or was already stored); if one of them failed for good, the trial is dropped and
    reported instead of waiting forever. Built lazily as a ray.tune Searcher subclass.
    """

    @staticmethod
    def make(items: list[dict], stored: set[str], on_drop):
        from ray.tune.search import Searcher

        class DependencySearcher(Searcher):
            def __init__(self):
                super().__init__()
                self.pending = list(items)
                self.ready = set(stored)
                self.lost: set[str] = set()
                self.by_trial: dict[str, dict] = {}
                self.interrupted = False  # set on Ctrl-C (a plain bool: Tune pickles searchers)

            def set_search_properties(self, metric, mode, config, **spec) -> bool:
                return True

            def save(self, checkpoint_path: str) -> None:  # resume is ours (trial files), not Tune's
                pass

            def restore(self, checkpoint_path: str) -> None:
                pass

            def suggest(self, trial_id: str):
                if self.interrupted:  # Ctrl-C: start nothing new
                    return Searcher.FINISHED
                keep = []
                for it in self.pending:
                    lost = [k for k in it.get("source_keys", ()) if k in self.lost]
                    if lost:
                        on_drop(it["id"], lost[0])
                    else:
                        keep.append(it)
                self.pending = keep
                for i, it in enumerate(self.pending):
                    if all(k in self.ready for k in it.get("source_keys", ())):
                        self.by_trial[trial_id] = self.pending.pop(i)
                        return {"item": self.by_trial[trial_id]}
                return Searcher.FINISHED if not self.pending else None

            def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
                it = self.by_trial.get(trial_id)
                if it is not None and it["kind"] == "source":
                    (self.lost if error else self.ready).add(it["key"])

        return DependencySearcher()


def _longest_first(items: list[dict], estimates: dict[str, float] | None) -> list[dict]:
    """Source models first (they unblock stage 2), then transfer trials, then the DNN baselines
    (they need nothing, so they fill slots whenever nothing else is ready); within each group the
    longest first. With the short trials last, the grid does not end with one long trial running
    while the other slots idle (one repeat of paper-table2 on 2 cores lost ~6% of its grid time
    that way, bench/RESULTS.md). Without a calibration, prognet columns x budget stand in."""
    from paragrid.grid.progress import kind_of  # "source", "transfer" or "dnn"

    def cost(it: dict) -> float:
        return estimates[it["id"]] if estimates is not None else _columns(it) * float(it["budget"])

    group = {"source": 0, "transfer": 1, "dnn": 2}
    return sorted(items, key=lambda it: (group[kind_of(it)], -cost(it)))  # stable: ties keep the grid order


def _run_tune(items: list[dict], stored: set[str], estimates, slots: int, queue: int, ctx: dict,
              resources: dict, s: Spec, run: RunDir, verbose: bool, merger: _Merger,
              lock: RunLock, say) -> list[tuple[str, str, str]]:
    """One Ray Tune run over every item; returns the failures (item id, error, log)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback
    from ray.tune.search import ConcurrencyLimiter

    from paragrid.grid.progress import Progress

    def on_done(item_id: str) -> None:
        if not item_id.startswith("source."):
            merger.add(item_id)

    def on_tick() -> None:  # every Tune step; both are rate-limited
        merger.flush()
        lock.heartbeat()

    progress = Progress(s.name, items, estimates, slots, verbose, on_done=on_done,
                        error_of=_error_of(run), max_failures=s.max_failures, out=say,
                        on_tick=on_tick)
    job_of = {it["key"]: it["id"] for it in items if it["kind"] == "source"}

    def on_drop(item_id: str, key: str) -> None:
        progress.fail(item_id, f"its source model {job_of.get(key, key)} failed", "")

    dependencies = _DependencySearcher.make(items, stored, on_drop)
    # Live trials (pending + running): `queue` (see run_grid); a 10,000-trial grid is never queued
    # at once. A trial Tune holds as pending runs before anything suggested later, so a deep queue
    # on one machine would let early fillers (DNN baselines) jump ahead of longer transfer trials.
    searcher = ConcurrencyLimiter(dependencies, max_concurrent=queue)
    trainable = tune.with_resources(tune.with_parameters(_trainable, ctx=ctx), resources)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, reuse_actors=True,
                                    trial_name_creator=_trial_name, trial_dirname_creator=_trial_name),
        run_config=tune.RunConfig(
            name=f"grid-{stamp}", storage_path=run.storage.uri(run.name, "logs"), verbose=0,
            callbacks=[progress, JsonLoggerCallback()],
            failure_config=tune.FailureConfig(max_failures=s.max_failures)),
    )
    progress.line(None, force=True)
    with _ctrl_c(lambda: setattr(dependencies, "interrupted", True)):
        tuner.fit()
    return progress.failures


@contextmanager
def _ctrl_c(on_interrupt):
    """Ctrl-C stops the grid for sure, whatever part of Tune's loop it lands in.

    The KeyboardInterrupt a SIGINT raises can be swallowed inside Tune's event loop (seen: the
    grid then ran to its end). So the handler also tells the searcher to hand out no further
    trial, and the interrupt is raised again once `fit` returns. Finished trials are already
    durable; the next run resumes from them."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        on_interrupt()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def _trial_name(trial) -> str:
    """Tune's name and folder for a trial: our id (shortened, still unique, if very long)."""
    import hashlib

    tid = trial.config["item"]["id"]
    return tid if len(tid) <= 100 else f"{tid[:90]}-{hashlib.sha1(tid.encode()).hexdigest()[:8]}"


# ----------------------------------------------------------------------------- the trainable

def _trainable(config: dict, ctx: dict) -> None:
    """Runs on a Ray worker: one source model or one target trial; files first, then report."""
    import ray
    import torch
    from ray import tune

    from paragrid.grid.trial import run_trial, train_source

    t_enter = time.time()
    item = config["item"]
    torch.set_num_threads(ctx["threads"])
    device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES to ours
    node = f"{ray.util.get_node_ip_address()}:{ray.get_runtime_context().get_node_id()[:12]}"
    storage = Storage(ctx["storage"])
    run = RunDir(storage, ctx["run"])
    s: Spec = ctx["spec"]
    timing = {}
    try:
        _maybe_fault(ctx.get("fault"), item, run)
        if item["kind"] == "source":
            models = ModelStore(storage)
            if not models.has(item["key"]):
                job = SourceJob(task=item["task"], corpus=item["corpus"], repeat=item["repeat"],
                                budget=item["budget"], cross=item["cross"], key=item["key"])
                timing["t_train0"] = time.time()
                model, meta = train_source(job, s, ctx["corpora"], device)
                timing["t_train1"] = time.time()
                meta.update(node=node, hostname=socket.gethostname(), t_enter=t_enter, **timing)  # stamps for bench/
                models.save(item["key"], model, meta)
        else:
            models = ModelStore(storage)
            sources = [models.load(k, device) for k in item["source_keys"]]
            trial = Trial(item["method"], tuple(item["sources"]), item["target"], item["budget"],
                          item["repeat"], tuple(item["experiments"]))
            timing["t_train0"] = time.time()
            results, curves = run_trial(trial, s, ctx["spec_hash"], ctx["corpora"], sources, device, node)
            timing["t_train1"] = time.time()
            run.write_trial(trial.trial_id, results, curves, {
                "spec_hash": ctx["spec_hash"], "trial_id": trial.trial_id, "node": node,
                "device": device, "rows": len(results), "t_enter": t_enter, **timing})  # + t_written
    except Exception as err:
        _write_error(run, item["id"], err)
        raise
    tune.report({"ok": 1, "node": node, "t_enter": t_enter, **timing, "t_exit": time.time()})


def _maybe_fault(pattern: str | None, item: dict, run: RunDir) -> None:
    if not pattern or not fnmatch.fnmatch(item["id"], pattern):
        return
    marker = run.trial(item["id"], "fault-injected")
    if not run.storage.exists(*marker):
        run.storage.write_text(f"{time.time()}\n", *marker)
        raise RuntimeError(f"injected fault ({FAULT_ENV}={pattern}): the first attempt fails on purpose")


def _write_error(run: RunDir, item_id: str, err: BaseException) -> None:
    """error.txt: the one-line summary first (the console shows it), then the traceback."""
    head = f"{type(err).__name__}: {' '.join(str(err).split())}"
    body = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        run.storage.write_text(f"{head}\n\n{body}", *run.trial(item_id, "error.txt"))
    except OSError:
        pass
