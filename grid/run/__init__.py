"""`paragrid run`: the planned units on Ray Tune. A trainable (run_unit) trains one unit on a
worker; a dependency searcher releases transfer packs once their source models are stored; the
driver merges each finished unit's files into the run's tables and shows progress with an ETA.

Exports: run_grid, TrialsFailed; dry_run, DryRun (`--dry-run`: the plan and estimate, nothing
run); the worker side (run_unit, Ray's wrapper of
paragrid.grid.work.execute_unit; WorkerContext, run_pack, train_source, train_sources, TARGET_ROLE
re-exported from paragrid.grid.work); GridProgress, Merger; dependency_searcher, unit_config;
FAULT_ENV, USER_FAULT_ENV (fault injection for the resume tests).
"""

from paragrid.grid.run._dryrun import DryRun, dry_run
from paragrid.grid.run._merge import Merger
from paragrid.grid.run._progress import GridProgress, ProgressHooks
from paragrid.grid.run._runner import TrialsFailed, run_grid
from paragrid.grid.run._schedule import dependency_searcher, unit_config
from paragrid.grid.run._trainable import run_unit
from paragrid.grid.work import FAULT_ENV, TARGET_ROLE, USER_FAULT_ENV, WorkerContext, run_pack, train_source, train_sources

__all__ = [
    "DryRun", "dry_run",
    "Merger", "GridProgress", "ProgressHooks", "TrialsFailed", "run_grid", "dependency_searcher", "unit_config",
    "TARGET_ROLE", "run_pack", "train_source", "train_sources", "FAULT_ENV", "USER_FAULT_ENV",
    "WorkerContext", "run_unit"
]
