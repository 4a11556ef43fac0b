"""Ray holds the science: Tune's ResultGrid, MLflow (through Ray's MLflow callback) and
TensorBoard show each unit's summary, and it agrees with paragrid's own per-(trial, fold) rows."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from grid_helpers import tiny_spec, write_corpora, write_spec

mlflow = pytest.importorskip("mlflow", reason="the optional extra paragrid[mlflow] (./run test installs it)")


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    import ray

    import paragrid

    work = tmp_path_factory.mktemp("tracked")
    write_corpora(work)
    spec = write_spec(work, tiny_spec(repeats=2, methods=["dnn", "ptft"], sources=[["gender"]],
                                      resources={"cpu": 1, "gpu": 0, "pack": 2}))
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        run = paragrid.run(str(spec), storage=str(work / "runs"), track=["mlflow", "tensorboard"], quiet=True)
    finally:
        ray.shutdown()
    return run


@pytest.mark.slow
def test_result_grid_holds_each_units_summary_and_agrees_with_the_results(tracked_run):
    df = tracked_run.result_grid.get_dataframe()
    res = tracked_run.results()
    packs = df[df["config/kind"] == "pack"]
    sources = df[df["config/kind"] == "source"]
    assert len(df) == 3 and len(packs) == 2  # a pack of 2 source models, a ptft pack and a dnn pack
    assert sources["config/n_models"].tolist() == [2] and sources["config/repeats"].tolist() == ["0,1"]
    assert sources["folds"].tolist() == [2 * 4]    # both models' folds summarised
    for _, row in packs.iterrows():
        rows = res[res.pack_id == row["unit_id"]]
        assert len(rows) == row["folds"] == 2 * 4 and row["n_trials"] == 2
        assert np.isclose(row["test_uar_mean"], rows.test_uar.mean())
        assert np.isclose(row["test_uar_std"], rows.test_uar.std(ddof=0))
        assert np.isclose(row["val_uar_mean"], rows.val_uar.mean())
        assert np.isclose(row["epochs_run_mean"], rows.epochs_run.mean())
        assert row["device"] == "cpu" and row["pack_size"] == 2


@pytest.mark.slow
def test_mlflow_has_one_run_per_unit_with_coordinates_metrics_and_the_spec(tracked_run):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tracked_run.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    # artifacts next to the run, not in whatever folder the user started from
    assert experiment.artifact_location == (tracked_run.path / "mlartifacts").resolve().as_uri()
    runs = client.search_runs([experiment.experiment_id])
    grid = tracked_run.result_grid.get_dataframe().set_index("unit_id")
    assert sorted(r.data.tags["paragrid.unit_id"] for r in runs) == sorted(grid.index)
    for r in runs:
        unit = r.data.tags["paragrid.unit_id"]
        assert r.data.tags["paragrid.stage"] == grid.loc[unit, "stage"]
        assert np.isclose(r.data.metrics["test_uar_mean"], grid.loc[unit, "test_uar_mean"])
        if r.data.tags["paragrid.kind"] == "pack":
            assert r.data.tags["paragrid.target"] == "ca" and r.data.tags["paragrid.repeats"] == "0,1"
        assert "spec.yaml" in [a.path for a in client.list_artifacts(r.info.run_id)]
        assert r.info.status == "FINISHED"


@pytest.mark.slow
def test_tensorboard_and_csv_loggers_wrote_every_unit(tracked_run):
    logs = tracked_run.path / "logs"
    units = len(tracked_run.result_grid)  # a source pack, a ptft pack and a dnn pack
    assert units == 3
    assert len(list(logs.glob("grid-*/*/events.out.tfevents.*"))) == units
    assert len(list(logs.glob("grid-*/*/progress.csv"))) == units
