"""`paragrid tune`: Optuna re-tuning of the shared architecture in Ray Tune, per target corpus
(same-corpus mode, on folds the grid never tests on) or nested (one search per outer step, the
leakage-free estimate).

Exports: run_tuning, tune_corpus, tune_nested, TuningRun (what one call's studies share);
load_tuning_spec, tuning_settings, tune_root;
the studies (Job, Stream, open_study, n_finished, study_searcher), the trial (TrialContext,
Reporter, evaluate_config, run_outer_job), the inner data (tuning_data, step_data,
HELD_OUT_FOLD), the scheduler (build_scheduler), progress (TuningProgress, make_callback, cost_line,
estimate_s).
"""

from paragrid.grid.tune._data import HELD_OUT_FOLD, step_data, tuning_data
from paragrid.grid.tune._nested import tune_nested
from paragrid.grid.tune._outer import run_outer_job
from paragrid.grid.tune._plugins import study_searcher
from paragrid.grid.tune._progress import (START_S, TRIAL_OVERHEAD_S, TuningProgress, cost_line, estimate_s,
                                          make_callback)
from paragrid.grid.tune._schedule import build_scheduler
from paragrid.grid.tune._spec import TuningRun, load_tuning_spec, tune_root, tuning_settings
from paragrid.grid.tune._study import Job, Stream, n_finished, open_study
from paragrid.grid.tune._trial import Reporter, TrialContext, evaluate_config
from paragrid.grid.tune._tune import run_tuning, tune_corpus

__all__ = [
    "HELD_OUT_FOLD", "step_data", "tuning_data", "tune_nested", "run_outer_job",
    "study_searcher", "TuningProgress", "START_S", "TRIAL_OVERHEAD_S", "cost_line", "estimate_s",
    "make_callback", "build_scheduler", "TuningRun", "load_tuning_spec",
    "tune_root", "tuning_settings", "Job", "Stream", "n_finished", "open_study", "Reporter",
    "TrialContext", "evaluate_config", "run_tuning", "tune_corpus"
]
