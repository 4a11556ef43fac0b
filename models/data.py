"""The data a training run sees, checked once: features, labels and the (F, N) fold masks.

FoldData is what callers build (from paragrid.grid.data masks); `prepare` turns it into device
tensors after checking everything a user can get wrong (shapes, label range, empty or
overlapping splits, non-finite features), so that no deep torch error escapes for bad input.
The helpers below put host arrays and row selections on the device (`upload`, `padded_rows`,
`gather`) for the trainer, the evaluation and the probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paragrid.errors import UserError


@dataclass
class FoldData:
    """One task's data for the F steps of a repeat. Masks are FoldSteps fields (F, N) bool."""

    x: torch.Tensor | np.ndarray      # (F, N, D) per-step normalised, or (N, D) shared by all folds
    y: torch.Tensor | np.ndarray      # (N,) int64 labels of THIS task, 0..C-1
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    n_classes: int
    # (F,) training rows fold f would have at the FULL budget (TrainSettings.updates = "matched"
    # trains fold f for as many updates as that size would get); None = each fold's own size.
    n_full_train: np.ndarray | None = None

    @property
    def n_folds(self) -> int:
        return int(np.asarray(self.train).shape[0])


def resolve_device(device: torch.device | str | None) -> torch.device:
    """None -> cuda if available, else cpu."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"device {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available here; use 'cpu' or leave it unset")
    return dev


@dataclass
class Data:
    """FoldData after `prepare`: checked, on the training device."""

    x: torch.Tensor     # (N, D) or (F, N, D) float32 on the device
    y: torch.Tensor     # (N,) int64 on the device
    train: np.ndarray   # (F, N) bool
    val: np.ndarray
    test: np.ndarray
    n_classes: int
    n_full_train: np.ndarray   # (F,) int64, the fold's own training size where FoldData gave None

    @property
    def n_folds(self) -> int:
        return self.train.shape[0]

    @property
    def n_in(self) -> int:
        return self.x.shape[-1]

    def x_of(self, f: int) -> torch.Tensor:
        return self.x if self.x.dim() == 2 else self.x[f]


def prepare(data: FoldData, device: torch.device) -> Data:
    """Check FoldData and move it to the device. Labels outside every mask may be anything
    (e.g. -1 for unlabelled rows): they are never read, and set to 0 here."""
    masks = {}
    for name in ("train", "val", "test"):
        m = np.asarray(getattr(data, name))
        if m.ndim != 2 or m.dtype != bool:
            raise UserError(f"FoldData.{name} must be an (F, N) bool mask, got {m.dtype} {m.shape}")
        masks[name] = m
    n_folds, n = masks["train"].shape
    if masks["val"].shape != (n_folds, n) or masks["test"].shape != (n_folds, n):
        raise UserError("FoldData.train, .val and .test must have the same (F, N) shape")
    x = torch.as_tensor(data.x, dtype=torch.float32).to(device)
    if not (x.dim() == 2 and x.shape[0] == n) and not (x.dim() == 3 and x.shape[:2] == (n_folds, n)):
        raise UserError(f"FoldData.x must be (N, D) or (F, N, D) with F={n_folds}, N={n}; got {tuple(x.shape)}")
    y_np = np.asarray(data.y.cpu() if isinstance(data.y, torch.Tensor) else data.y)
    if y_np.shape != (n,):
        raise UserError(f"FoldData.y must have shape ({n},), got {y_np.shape}")
    if not np.issubdtype(y_np.dtype, np.integer):
        raise UserError(f"FoldData.y must hold integer class ids, got {y_np.dtype}")
    c = int(data.n_classes)
    if c < 2:
        raise UserError(f"FoldData.n_classes must be >= 2, got {c}")
    used = masks["train"].any(0) | masks["val"].any(0) | masks["test"].any(0)
    bad = used & ((y_np < 0) | (y_np >= c))
    if bad.any():
        raise UserError(f"{int(bad.sum())} labelled utterances have class ids outside 0..{c - 1}")
    if not torch.isfinite(x).all():
        raise UserError("FoldData.x holds NaN or infinite features; check the feature table / normalisation")
    for name, m in masks.items():
        empty = np.flatnonzero(m.sum(1) == 0)
        if empty.size:
            raise UserError(f"FoldData.{name} is empty for fold(s) {empty.tolist()}; every step needs "
                            "training, validation and test utterances")
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
        both = np.flatnonzero((masks[a] & masks[b]).any(1))
        if both.size:
            raise UserError(f"FoldData.{a} and .{b} overlap in fold(s) {both.tolist()}; they must be disjoint")
    n_train = masks["train"].sum(1)
    if data.n_full_train is None:
        n_full = n_train.copy()
    else:
        n_full = np.asarray(data.n_full_train)
        if n_full.shape != (n_folds,) or not np.issubdtype(n_full.dtype, np.integer):
            raise UserError(f"FoldData.n_full_train must be ({n_folds},) integers, got {n_full.dtype} {n_full.shape}")
        short = np.flatnonzero(n_full < n_train)
        if short.size:
            raise UserError(f"FoldData.n_full_train is below the fold's own training size in fold(s) "
                            f"{short.tolist()}; give the training rows at the FULL budget")
    y = torch.as_tensor(np.where(used, y_np, 0), dtype=torch.long).to(device)
    return Data(x, y, masks["train"], masks["val"], masks["test"], c, n_full.astype(np.int64))


def padded_rows(mask: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(F, N) mask -> row indices (F, R) padded with row 0 and their validity (F, R), R = max count."""
    counts = mask.sum(1)
    r = max(int(counts.max()), 1)
    idx = np.zeros((mask.shape[0], r), dtype=np.int64)
    for f in range(mask.shape[0]):
        rows = np.flatnonzero(mask[f])
        idx[f, : rows.size] = rows
    valid = np.arange(r)[None, :] < counts[:, None]
    return torch.as_tensor(idx, device=device), torch.as_tensor(valid, device=device)


def gather(x: torch.Tensor, folds: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows idx (F, R) of each fold's features -> (F, R, D)."""
    return x[idx] if x.dim() == 2 else x[folds.unsqueeze(1), idx]


def upload(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on the device without a host-device synchronisation: on CUDA through pinned
    memory with non_blocking=True (the caching host allocator keeps the pinned block until the
    copy is done); on the CPU a copy."""
    t = torch.from_numpy(np.ascontiguousarray(a).copy())
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
