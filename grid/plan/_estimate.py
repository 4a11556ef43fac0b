"""Time estimates of the grid's work, before it runs: a calibration of the real trainer on this
machine (in a background thread while Ray starts) and a cost model per trial and source model.

The estimates order the work (longest first), size CPU packs (paragrid.grid.plan) and give
the first ETA; the console then corrects the ETA from the measured speed of finished units.
"""
from __future__ import annotations

import logging
import threading
import warnings
from contextlib import contextmanager

import numpy as np

from paragrid.grid.data import Corpus, classes_of, encode
from paragrid.grid.plan._calibration import calibrate
from paragrid.grid.plan._sources import SourceJob
from paragrid.grid.spec import Spec, Trial, corpus_key


@contextmanager
def silence_trainer_warnings():
    """A few epochs on a sample may predict one class per fold: the trainer then warns (log and
    warning), which is noise here. Only this thread's log records are dropped; the warning
    filter is removed afterwards (it is process-wide, but the driver trains nothing else)."""
    from paragrid.models.evaluate import SingleClassWarning  # heavy: torch

    me = threading.current_thread()
    drop = logging.Filter()
    drop.filter = lambda record: threading.current_thread() is not me  # type: ignore[method-assign]
    loggers = [lg for name, lg in logging.root.manager.loggerDict.items()
               if name.startswith("paragrid.models") and isinstance(lg, logging.Logger)]
    for lg in loggers:
        lg.addFilter(drop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SingleClassWarning)
        try:
            yield
        finally:
            for lg in loggers:
                lg.removeFilter(drop)


class CalibrationThread(threading.Thread):
    """Calibrates the cost model in the background while Ray starts (torch's import and a few
    epochs of the real trainer take seconds that would otherwise add to every run)."""

    def __init__(self, s: Spec, corpora: dict[str, Corpus]):
        super().__init__(daemon=True, name="paragrid-calibration")
        self.s, self.corpora = s, corpora
        self.result, self.error = None, None

    def run(self) -> None:
        try:
            s = self.s
            targets = {t for e in s.experiments for t in e.targets}
            # the largest target, at its widest feature set (the calibration is per input width)
            c = max((c for c in self.corpora.values() if c.name in targets), key=lambda c: (c.n, c.x.shape[1]))
            rows = np.random.default_rng(0).permutation(c.n)[:2000]
            x = c.x[rows]
            x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
            classes = classes_of(c.labels[s.task])
            y = encode(c.labels[s.task][rows], classes, c.name)
            with silence_trainer_warnings():
                self.result = calibrate(s.architecture, s.training, x, y, len(classes), s.k,
                                        threads=max(1, int(s.resources.cpu)))
        except Exception as err:  # noqa: BLE001 - an estimate must never stop a run
            self.error = err

    def get(self, say, timeout: float = 120.0):
        self.join(timeout)
        if self.result is None:
            why = f"{type(self.error).__name__}: {self.error}" if self.error else "calibration too slow"
            say(f"note: no time estimate ({why})")
        return self.result


class CostModel:
    """Seconds on one slot for a trial or a source model, from a calibration (or None)."""

    def __init__(self, s: Spec, corpora: dict[str, Corpus], calibration):
        self.s, self.corpora, self.cal = s, corpora, calibration

    def _seconds(self, corpus: Corpus, task: str, budget: int, columns: int, target: str) -> float | None:
        if self.cal is None:
            return None
        s = self.s
        training = s.training_for(target)
        n_classes = len(set(corpus.labels[task].tolist()))
        per_epoch = self.cal.epoch_seconds(k=s.k, n_train=corpus.n * budget / s.k, n_val=corpus.n / s.k,
                                           n_in=corpus.x.shape[1], n_classes=n_classes, arch=s.arch_for(target),
                                           batch_size=training.batch_size, columns=columns)
        return self.cal.trial_overhead_s + training.max_epochs * per_epoch

    def trial(self, t: Trial, jobs: list[SourceJob]) -> float | None:
        """A trial's seconds inside a pack: training, and a forgetting probe per source model
        (`jobs`: the trial's source models, plan.per_trial), fitted on that model's own corpus
        and split, as grid/work/_train.py fits it."""
        columns = 1 + len(t.sources) if t.method == "prognet" else 1
        train = self._seconds(self.corpora[corpus_key(t.target, t.features)], self.s.task, t.budget, columns,
                              t.target)
        if train is None or t.method == "dnn":
            return train
        s, probes = self.s, 0.0
        for j in jobs:
            c = self.corpora[j.corpus_key]
            probes += self.cal.probe_seconds(k=s.k, n_train=c.n * j.budget / s.k, width=s.arch_for(t.target).width,
                                             n_classes=len(set(c.labels[j.task].tolist())))
        return train + probes

    def unit_overhead(self) -> float:
        """Seconds a unit costs beyond its trials or source models (0 without a calibration)."""
        return 0.0 if self.cal is None else self.cal.unit_overhead_s

    def source(self, j: SourceJob) -> float | None:
        return self._seconds(self.corpora[j.corpus_key], j.task, j.budget, 1, j.for_target)

    def relative_trial(self, t: Trial) -> float:
        """A stand-in order when there is no calibration: columns x budget."""
        return (1 + len(t.sources) if t.method == "prognet" else 1) * float(t.budget)
