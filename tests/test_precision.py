"""training.precision (fp32 | tf32): validated with one line, in the spec hash only when it is
not the default (so every earlier spec keeps its hash), recorded in every results row, and applied
to CUDA matmuls for the trainer's call only."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from grid_helpers import tiny_spec, write_corpora, write_spec
from paragrid.errors import UserError
from paragrid.grid.spec import load_spec
from paragrid.models.config import TrainSettings


def test_precision_is_validated_in_one_line_naming_the_file(tmp_path):
    write_corpora(tmp_path)
    doc = tiny_spec("p")
    doc["training"] = {**doc["training"], "precision": "bf16"}
    with pytest.raises(UserError) as err:
        load_spec(write_spec(tmp_path, doc))
    line = str(err.value)
    assert "\n" not in line and "training.precision" in line and "tf32" in line and "p.yaml" in line
    with pytest.raises(UserError, match="training.precision"):
        TrainSettings(precision="fp16")


def test_default_precision_keeps_the_hash_and_tf32_changes_it(tmp_path):
    write_corpora(tmp_path)
    plain = load_spec(write_spec(tmp_path, tiny_spec("p")))
    doc = tiny_spec("p")
    doc["training"] = {**doc["training"], "precision": "fp32"}
    explicit = load_spec(write_spec(tmp_path, doc, "p2.yaml"))
    doc["training"]["precision"] = "tf32"
    tf32 = load_spec(write_spec(tmp_path, doc, "p3.yaml"))
    fp = {"ca": "x", "cb": "y"}
    assert plain.hash(fp) == explicit.hash(fp) != tf32.hash(fp)
    assert "precision" not in TrainSettings().to_dict()          # as before the setting existed
    assert TrainSettings(precision="tf32").to_dict()["precision"] == "tf32"


def test_every_row_records_the_precision(tmp_path):
    from paragrid.grid.plan import plan_grid
    from paragrid.grid.work import run_pack

    write_corpora(tmp_path)
    doc = tiny_spec("p", methods=["dnn"])
    doc["training"] = {**doc["training"], "precision": "tf32", "max_epochs": 2}
    s = load_spec(write_spec(tmp_path, doc))
    plan = plan_grid(s, str(tmp_path / "runs"), say=lambda *_: None)
    trial = next(t for t in plan.trials if t.method == "dnn")
    results, _ = run_pack([trial], s, plan.spec_hash, plan.corpora, [[]], "cpu", "node", gpu_id=None)
    assert set(results["precision"]) == {"tf32"} and results["gpu_id"].isna().all()
    assert len(results) == s.k and isinstance(results, pd.DataFrame)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: TF32 applies to CUDA matmuls only")
def test_tf32_applies_for_the_call_only():
    from paragrid.models.train import _matmul_precision

    before = torch.get_float32_matmul_precision()
    with _matmul_precision("tf32", torch.device("cuda")):
        assert torch.get_float32_matmul_precision() == "high"
    with _matmul_precision("fp32", torch.device("cuda")):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == before
