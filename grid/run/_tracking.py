"""Experiment tracking through Ray Tune's own logger callbacks (`paragrid run --track ...`).

  * always: Tune's JSON and CSV loggers (result.json / progress.csv in each Tune trial folder
    under <run>/logs/), which hold every unit's reported summary (mean/std of UAR, epochs, ...);
  * `--track tensorboard`: Tune's TensorBoardX logger (event files next to them);
  * `--track mlflow[:URI]`: Ray's MLflowLoggerCallback, one MLflow run per Tune trial (a unit:
    a source model or a pack of trials) with its coordinates (method, target, sources, budgets,
    repeats, stage) as tags and params, its summary as metrics, and the resolved spec as an
    artifact. URI defaults to a local SQLite store next to the run (RUNDIR/mlflow.db, artifacts in
    RUNDIR/mlartifacts/): no server needed; `mlflow ui --backend-store-uri sqlite:///RUNDIR/mlflow.db`
    shows it. (MLflow 3 refuses its old `mlruns/` file store unless MLFLOW_ALLOW_FILE_STORE=true,
    so SQLite is the local default.) Needs the optional extra: `pip install paragrid[mlflow]`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from paragrid.errors import UserError


@dataclass(frozen=True)
class Tracking:
    """The parsed `--track` options of one run."""

    mlflow_uri: str | None = None
    tensorboard: bool = False
    artifacts: str | None = None  # artifact location of a new experiment in the default store


def parse_track(values: list[str] | None, run_folder: str) -> Tracking:
    """`--track mlflow`, `--track mlflow:URI`, `--track tensorboard` (repeatable)."""
    mlflow_uri, tensorboard, artifacts = None, False, None
    for value in values or []:
        name, _, uri = value.partition(":")
        if name == "mlflow":
            mlflow_uri = uri or f"sqlite:///{Path(run_folder, 'mlflow.db').resolve()}"
            artifacts = None if uri else Path(run_folder, "mlartifacts").resolve().as_uri()
        elif name == "tensorboard" and not uri:
            tensorboard = True
        else:
            raise UserError(f"--track {value!r}: use 'mlflow', 'mlflow:URI' or 'tensorboard'")
    if mlflow_uri is not None:
        try:
            import mlflow  # noqa: F401  # optional: mlflow (only checks that the extra is installed)
        except ImportError:
            raise UserError("--track mlflow needs MLflow: pip install 'paragrid[mlflow]'") from None
    return Tracking(mlflow_uri=mlflow_uri, tensorboard=tensorboard, artifacts=artifacts)


def callbacks(tracking: Tracking, experiment: str, spec_yaml: str) -> list:
    """Tune callbacks for the run's loggers and trackers."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback  # heavy: ray

    out = [JsonLoggerCallback(), CSVLoggerCallback()]
    if tracking.tensorboard:
        out.append(TBXLoggerCallback())
    if tracking.mlflow_uri is not None:
        if tracking.artifacts is not None:
            _ensure_experiment(tracking.mlflow_uri, experiment, tracking.artifacts)
        out.append(_mlflow_callback(tracking.mlflow_uri, experiment, spec_yaml))
    return out


def _ensure_experiment(uri: str, name: str, artifacts: str) -> None:
    """Create the experiment with its artifacts next to the run (not in the current folder)."""
    import mlflow  # optional: mlflow

    for logger in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..." is noise here
        logging.getLogger(logger).setLevel(logging.WARNING)
    client = mlflow.MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=artifacts)


def _mlflow_callback(uri: str, experiment: str, spec_yaml: str):
    from ray.air.integrations.mlflow import MLflowLoggerCallback  # heavy: ray

    class ParagridMLflow(MLflowLoggerCallback):
        """Ray's MLflow logger with each trial's coordinates as tags and the spec as artifact."""

        def __init__(self):
            super().__init__(tracking_uri=uri, experiment_name=experiment, tags={"paragrid.spec": experiment},
                             save_artifact=True)
            self.base_tags = dict(self.tags or {})

        def log_trial_start(self, trial):
            # `tags` is the public attribute the parent copies into each new run's tags.
            self.tags = {**self.base_tags, **{f"paragrid.{k}": str(v) for k, v in trial.config.items()}}
            os.makedirs(trial.local_path, exist_ok=True)  # uploaded with the trial's folder at its end
            Path(trial.local_path, "spec.yaml").write_text(spec_yaml)
            super().log_trial_start(trial)

    return ParagridMLflow()
