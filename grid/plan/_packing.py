"""How many trials go into one pack (`resources.pack: auto | N`).

Why packs: one Tune trial costs the driver and Ray a roughly fixed amount (bench/RESULTS.md:
~0.4 slot-seconds, and ~60 ms of driver wall time per trial at 4,000 trials), so a grid of many
tiny trials is dominated by scheduling; and on a GPU one trial's F = 10 fold-models leave the
device idle. A pack trains several trials as one stacked model, so both costs are paid per pack.

`auto` decides from the estimated cost of each trial:
  * on the CPU, where packing trials that already fill a core was measured not to speed up
    training (bench/RESULTS.md, train_throughput), only trials shorter than MIN_UNIT_S are
    packed, as many as make one unit of at least MIN_UNIT_S (never above MAX_CPU_PACK), and
    never more than fit HOST_MEMORY_SHARE of the machine's memory split over its slots (wide
    feature sets: a ComParE trial with per-step normalisation holds k copies of N x 6,373);
  * on a GPU, as many fold-models as fit GPU_MEMORY_SHARE of the trial's share of the device,
    from bytes_per_fold_model (an analytic count of weights, optimiser state, best-weight copy,
    features and activations), corrected by a measurement where one exists: bench/gpu.py
    writes a GPU calibration file (torch.cuda.max_memory_allocated per fold-model of a large
    pack against this formula at the same shape); with GPU_CALIBRATION_ENV naming it, the
    measured/analytic ratio scales every estimate (read_gpu_calibration).
Either way, packs never starve the cluster: there are at least 2 units per slot when the grid
is large enough.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from paragrid.errors import UserError

# aim: every Tune trial at least this much work. A unit costs ~0.4 slot-seconds beyond its
# trials (Tune's trial start, loading sources, writing files: 414 more units cost 174 more
# slot-seconds in two 10,032-trial runs, bench/RESULTS.md), so 10 s keeps that near 4%.
MIN_UNIT_S = 10.0
MAX_CPU_PACK = 256        # trials per pack on the CPU, at most
GPU_MEMORY_SHARE = 0.5    # of the device memory a trial's GPU share grants
DEFAULT_GPU_BYTES = 16 << 30  # assumed device memory when the driver cannot see the GPU
GPU_CALIBRATION_ENV = "PARAGRID_GPU_CALIBRATION"  # path of bench/gpu.py's calibration JSON
HOST_MEMORY_SHARE = 0.5   # of this machine's memory that the units running at once may fill


def host_memory_bytes() -> int:
    """This machine's physical memory (the driver's view; 16 GiB when the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 16 << 30


@dataclass(frozen=True)
class PackPolicy:
    """The resolved `resources.pack` setting for one run."""

    setting: str | int      # "auto" or N
    gpu: float              # the GPU share per unit (0 on the CPU)
    slots: int              # units that run at once
    device_bytes: int = DEFAULT_GPU_BYTES
    fold_bytes_scale: float = 1.0   # measured / analytic bytes per fold-model (GpuCalibration)
    host_bytes: int = field(default_factory=host_memory_bytes)


@dataclass(frozen=True)
class GpuCalibration:
    """Device memory per fold-model measured on a GPU (bench/gpu.py) next to bytes_per_fold_model
    at the same shape: their ratio corrects the analytic estimate for every other shape."""

    device_name: str
    measured_bytes: float
    analytic_bytes: float
    path: str

    @property
    def scale(self) -> float:
        return self.measured_bytes / self.analytic_bytes


def read_gpu_calibration(path: str | Path | None = None) -> GpuCalibration | None:
    """The calibration file named by `path` (None: $PARAGRID_GPU_CALIBRATION; unset: None)."""
    path = path or os.environ.get(GPU_CALIBRATION_ENV)
    if not path:
        return None
    try:
        doc = json.loads(Path(path).read_text())
        cal = GpuCalibration(str(doc["device_name"]), float(doc["measured_bytes_per_fold_model"]),
                             float(doc["analytic_bytes_per_fold_model"]), str(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{GPU_CALIBRATION_ENV}={path}: not a GPU calibration file of bench/gpu.py ({err}); "
                        f"run `python bench/gpu.py --out gpu.json` on the GPU machine again or unset it") from None
    if not (cal.measured_bytes > 0 and cal.analytic_bytes > 0):
        raise UserError(f"{GPU_CALIBRATION_ENV}={path}: bytes per fold-model must be > 0; run bench/gpu.py again")
    return cal


def bytes_per_fold_model(*, n_rows: int, n_in: int, width: int, layers: int, n_classes: int,
                         batch_size: int, columns: int = 1, shared_x: bool = False) -> int:
    """Device bytes one fold-model needs while training (float32), an analytic estimate:
    weights x 5 (weights, gradient, two Adam moments, best copy), features (N x D unless shared
    by every fold), the epoch's training rows gathered at once (up to N x D more: the trainer
    draws a whole epoch's batches in one gather; what dominates at ComParE's 6,373 inputs,
    bench/RESULTS.md "feature_widths"), and activations of one batch per column."""
    params = (n_in * width + (layers - 1) * width * width + width * n_classes + layers * width + n_classes)
    params *= columns
    weights = 5 * params
    features = (0 if shared_x else n_rows * n_in) + n_rows * n_in
    activations = 4 * batch_size * width * layers * columns + n_rows * (width + n_classes) // 4
    return 4 * (weights + features + activations)


def pack_size(policy: PackPolicy, group_size: int, n_units_total_if_single: int,
              trial_cost_s: float | None, fold_models_per_trial: int, fold_model_bytes: int) -> int:
    """Trials per pack for one group of same-shape trials."""
    if isinstance(policy.setting, int):
        return max(1, min(policy.setting, group_size))
    if policy.gpu > 0:
        budget = GPU_MEMORY_SHARE * policy.gpu * policy.device_bytes
        fit = int(budget // max(1, fold_model_bytes * policy.fold_bytes_scale * fold_models_per_trial))
        size = max(1, min(group_size, fit))
    else:
        if trial_cost_s is None or trial_cost_s >= MIN_UNIT_S:
            return 1
        size = min(group_size, MAX_CPU_PACK, math.ceil(MIN_UNIT_S / max(trial_cost_s, 1e-3)))
        # wide features (ComParE's 6,373 columns, per-step normalised copies) must fit in memory
        # with every slot's unit at once: a pack of 256 such trials would not
        budget = HOST_MEMORY_SHARE * policy.host_bytes / max(1, policy.slots)
        size = min(size, max(1, int(budget // max(1, fold_model_bytes * fold_models_per_trial))))
    # Keep at least 2 units per slot when the grid has that many trials.
    if n_units_total_if_single >= 2 * policy.slots:
        cap = max(1, n_units_total_if_single // (2 * policy.slots))
        size = min(size, cap)
    return max(1, size)


def split(items: list, size: int) -> list[list]:
    """`items` cut into consecutive packs of (nearly) equal sizes <= size."""
    if not items:
        return []
    n_packs = math.ceil(len(items) / size)
    base, extra = divmod(len(items), n_packs)
    out, start = [], 0
    for i in range(n_packs):
        end = start + base + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out
