"""Which device a unit trains on, and the one-line stop when a GPU cannot be used.

Ray hands a worker GPU ids when the unit asked for `resources.gpu`; torch must then see CUDA.
A node whose Ray advertises GPUs (`ray start --num-gpus N`, or auto-detected) while its torch is a
CPU build, or was built for a newer driver, is a common install mistake: without this check the
unit would fail deep inside torch. `choose_device` finds it and `DeviceChoice.check` stops the
unit before any training with one line naming the node and the fix.

Tests declare on purpose that Ray's *logical* GPUs stand in for real ones (a CPU machine can
start Ray with `num_gpus=2` to test fractional-GPU scheduling): with LOGICAL_GPUS_ENV=1 in the
worker's environment a unit given a GPU id trains on the CPU, and its rows still record the id.
This is for tests and drills only; it is never set by paragrid itself.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from paragrid.errors import UserError

LOGICAL_GPUS_ENV = "PARAGRID_LOGICAL_GPUS"

CUDA_FIX = ("install a CUDA build of torch that matches the node's NVIDIA driver "
            "(https://pytorch.org/get-started/locally/; `nvidia-smi` shows the driver's CUDA version), "
            "or run without resources.gpu")


@dataclass(frozen=True)
class DeviceChoice:
    """The device a unit trains on; `gpu_id` the GPU(s) Ray assigned ("0", "0,1"; None on the CPU)."""

    device: str
    gpu_id: str | None
    node: str
    problem: str | None = None    # set when the GPU Ray gave cannot be used: check() raises it

    def check(self) -> None:
        if self.problem:
            raise UserError(self.problem)


def choose_device(gpu_ids, node: str, cuda_available: bool | None = None) -> DeviceChoice:
    """`gpu_ids`: what Ray assigned this worker (ray.get_gpu_ids(); empty: the CPU).
    `cuda_available` None asks torch (tests inject False to stand for a CPU build of torch)."""
    ids = [str(g) for g in gpu_ids or ()]
    if not ids:
        return DeviceChoice("cpu", None, node)
    gpu_id = ",".join(ids)
    if os.environ.get(LOGICAL_GPUS_ENV) == "1":
        return DeviceChoice("cpu", gpu_id, node)   # test-only: logical GPUs stand in (module doc)
    import torch  # heavy: torch

    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_available:
        return DeviceChoice("cuda", gpu_id, node)   # Ray set CUDA_VISIBLE_DEVICES to ours: cuda:0 is it
    build = "a CPU build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    return DeviceChoice("cpu", gpu_id, node, problem=(
        f"node {node} (host {socket.gethostname()}): Ray gave this unit GPU {gpu_id} but torch {torch.__version__} ({build}) cannot use CUDA "
        f"there; {CUDA_FIX}"))
