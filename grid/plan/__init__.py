"""Planning a grid before Ray starts: the source models it needs, the units of work (source
packs and packs of same-shape trials), their estimated cost, and what is already finished.

A plan is pure data: no training, no Ray. The runner hands its units to Ray Tune; a resumed run
plans again and finds its finished units on disk.

Exports: plan_grid, Plan, find_finished, sources_to_train, make_units; SourceJob, plan_sources;
Unit, PackedTrial, pack_unit, source_unit, pack_key, source_pack_key and the stages (StageCount,
stage_counts: work and units per stage; wall_estimate: the units' wall time on N slots); the cost
model (CostModel, CalibrationThread, Calibration, calibrate); packing (PackPolicy, pack_size,
bytes_per_fold_model, split, MIN_UNIT_S; GpuCalibration, read_gpu_calibration, GPU_CALIBRATION_ENV:
the measured device memory per fold-model that corrects the GPU estimate).
"""

from paragrid.grid.plan._calibration import Calibration, calibrate
from paragrid.grid.plan._estimate import CalibrationThread, CostModel
from paragrid.grid.plan._packing import (GPU_CALIBRATION_ENV, MIN_UNIT_S, GpuCalibration, PackPolicy,
                                         bytes_per_fold_model, pack_size, read_gpu_calibration, split)
from paragrid.grid.plan._plan import Plan, find_finished, make_units, plan_grid, sources_to_train
from paragrid.grid.plan._sources import SourceJob, plan_sources
from paragrid.grid.plan._units import (DNN_STAGE, SOURCE_STAGE, STAGES, TRANSFER_STAGE, PackedTrial, StageCount,
                                       Unit, pack_key, pack_unit, source_pack_key, source_unit, stage_counts,
                                       wall_estimate)

__all__ = [
    "Calibration", "calibrate", "CalibrationThread", "CostModel", "MIN_UNIT_S", "PackPolicy",
    "bytes_per_fold_model", "pack_size", "GpuCalibration", "read_gpu_calibration", "GPU_CALIBRATION_ENV", "split", "Plan", "find_finished", "make_units",
    "plan_grid", "sources_to_train", "SourceJob", "plan_sources", "DNN_STAGE", "PackedTrial",
    "SOURCE_STAGE", "STAGES", "TRANSFER_STAGE", "Unit", "pack_key", "pack_unit",
    "source_pack_key", "source_unit", "StageCount", "stage_counts", "wall_estimate"
]
