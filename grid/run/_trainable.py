"""The function every Ray Tune trial runs on a worker: Ray's GPU ids and node -> the device
(paragrid.grid.work.choose_device), then the unit executed by paragrid.grid.work.execute_unit
(the same function bench/gpu.py calls without Ray), then its summary reported to Tune.

What Tune receives is the science, not a token: mean and std of the validation and test UAR over
the unit's folds, epochs run, best epochs, wall time, pack size, device and GPU id, so ResultGrid,
Tune's loggers and the Ray dashboard show it (paragrid's own per-(trial, fold) files stay the
source of truth; tests/test_grid_tracking.py checks the two agree).
"""
from __future__ import annotations

from paragrid.grid.work import WorkerContext, choose_device, execute_unit


def run_unit(config: dict, ctx: WorkerContext) -> None:
    """Tune's trainable: run config["unit_id"], write its files, report its summary."""
    import ray  # heavy: ray
    from ray import tune  # heavy: ray

    node = f"{ray.util.get_node_ip_address()}:{ray.get_runtime_context().get_node_id()[:12]}"
    choice = choose_device(ray.get_gpu_ids(), node)
    tune.report(execute_unit(config["unit_id"], ctx, choice))
