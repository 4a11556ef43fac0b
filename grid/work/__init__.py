"""What one unit of work computes, free of Ray: source models or a pack of trials trained, their
rows and files written, the unit's summary returned. A Ray worker runs it through the trainable in
paragrid.grid.run; bench/gpu.py runs it in process on a GPU box that has no Ray.

Exports: execute_unit, WorkerContext, error_parts, FAULT_ENV, USER_FAULT_ENV (fault injection);
run_pack, train_source, train_sources, summary, TARGET_ROLE; choose_device, DeviceChoice,
LOGICAL_GPUS_ENV, CUDA_FIX.
"""

from paragrid.grid.work._device import CUDA_FIX, LOGICAL_GPUS_ENV, DeviceChoice, choose_device
from paragrid.grid.work._train import TARGET_ROLE, run_pack, summary, train_source, train_sources
from paragrid.grid.work._unit import FAULT_ENV, USER_FAULT_ENV, WorkerContext, error_parts, execute_unit

__all__ = [
    "CUDA_FIX", "LOGICAL_GPUS_ENV", "DeviceChoice", "choose_device", "TARGET_ROLE", "run_pack", "summary",
    "train_source", "train_sources", "FAULT_ENV", "USER_FAULT_ENV", "WorkerContext", "error_parts",
    "execute_unit"
]
