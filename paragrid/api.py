"""paragrid's Python API: the CLI's commands as functions, results as pandas and Plotly.

For notebooks and scripts (README, "Python API"):

    import paragrid

    spec = paragrid.load_spec("demo", features_dir="paragrid-work/features")
    run = paragrid.run(spec, storage="runs")            # or address="auto" on a cluster
    run.results()                                       # one row per (trial, fold)
    run.summary()                                       # one row per cell: mean +- std of UAR
    run.significance()                                  # every comparison, both tests
    run.figures()["table2"].show()                      # the dashboard's figures

Each call is the same public function the CLI runs (the CLI is a thin layer over this module),
so a notebook run and `paragrid run` write the same files and resume each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paragrid.errors import UserError
from paragrid.grid.spec import load_spec as load_grid_spec

__all__ = ["load_spec", "run", "open_run", "RunResults"]


def load_spec(spec: str | Path | dict[str, Any], *, architecture=None, features_dir: str | Path | None = None):
    """A validated Spec from a YAML path, a built-in name (`paragrid.grid.spec.builtin_names()`)
    or a dict with the YAML's keys (relative corpus paths then resolve against features_dir or the
    current folder)."""
    if hasattr(spec, "experiments"):  # already a Spec
        return spec
    return load_grid_spec(spec, architecture=architecture, features_dir=features_dir)


def run(spec, *, storage: str | Path | None = None, address: str | None = None, architecture=None,
        features_dir: str | Path | None = None, track: list[str] | None = None, verbose: bool = False,
        quiet: bool = False, replace: bool = False) -> "RunResults":
    """Run (or resume) a grid and return its results. `spec` as in `load_spec` (or a Spec).
    `address`: None starts a local Ray instance; "auto" or "host:port" attaches to a cluster.
    `track`: e.g. ["mlflow"] or ["tensorboard"]. `quiet` prints nothing (errors still raise).
    A changed spec under an existing name runs in `<name>-<hash8>/` (the earlier run is kept)
    unless `replace`, which overwrites `<name>/`."""
    from paragrid.grid.run import run_grid  # heavy: ray

    parsed = load_spec(spec, architecture=architecture, features_dir=features_dir)
    grids: list = []
    extra = {"say": lambda line: None} if quiet else {}  # default: the terminal, also while Ray runs
    path = run_grid(parsed, storage=str(storage) if storage is not None else None, address=address,
                    verbose=verbose, track=track, on_results=grids.append, replace=replace, **extra)
    return RunResults(Path(str(path)), result_grid=grids[0] if grids else None)


def open_run(path: str | Path) -> "RunResults":
    """The results of a run folder written earlier (`<storage>/<spec name>/`)."""
    path = Path(path)
    if not (path / "results.parquet").exists():
        raise UserError(f"{path}: no results.parquet; is this a run folder (<storage>/<spec name>/)?")
    return RunResults(path)


@dataclass(frozen=True)
class RunResults:
    """A run folder, read on demand (docs/FORMATS.md sections 4 and 5)."""

    path: Path
    # Ray Tune's ResultGrid of the call that produced this object (None when opened from disk or
    # when nothing was left to run): one row per unit with its reported summary.
    result_grid: Any = None

    def results(self):
        """One row per (trial, fold): pandas.DataFrame."""
        from paragrid.analysis.stats import load_results  # heavy: pandas, scipy

        return load_results(self.path / "results.parquet")

    def curves(self):
        """Learning curves, one row per (trial, fold, recorded epoch), or None."""
        from paragrid.analysis.stats import load_curves  # heavy: pandas, scipy

        return load_curves(self.path / "curves.parquet", self.results())

    def summary(self):
        """One row per cell (method, sources, target, budget, architecture origin): mean and
        within-repeat std of UAR, the paper's "mean +- mean within-repeat std"."""
        from paragrid.analysis.stats import summarise  # heavy: pandas, scipy

        return summarise(self.results())

    def significance(self, test: str = "auto", alpha: float = 0.05, holm: bool = False):
        """Every comparison of the run under both repeated-CV tests (and the labelled naive one)."""
        from paragrid.analysis.stats import significance_table  # heavy: pandas, scipy

        return significance_table(self.results(), test=test, alpha=alpha, use_holm=holm,
                                  source_name=str(self.path / "results.parquet"))

    def figures(self, test: str = "auto", alpha: float = 0.05, holm: bool = False) -> dict:
        """The dashboard's Plotly figures by name (plotly.graph_objects.Figure each)."""
        from paragrid.analysis.report import report_figures  # heavy: pandas, scipy, plotly

        return report_figures(self.results(), self.curves(), test=test, alpha=alpha, holm=holm)

    def report(self, compare_paper: bool = False, **kwargs) -> Path:
        """Write the dashboard and tables (as `paragrid report`); return index.html's path."""
        from paragrid.analysis.report import write_report  # heavy: pandas, scipy, plotly

        return write_report(self.path, compare_paper=compare_paper, quiet=True, **kwargs)
