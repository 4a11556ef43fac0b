"""The three networks of the paper as stacked columns: dnn, ptft and the progressive network.

A `StackedModel` is F independent networks (one per cross-validation fold) whose weights carry a
leading fold axis. Its own column is an MLP; a progressive network also holds frozen source
columns whose hidden layers feed the new column sideways:

    h_1        = act(x W_1 + b_1)                                       (input only, no laterals)
    h_{k+1}    = act(h_k W_{k+1} + sum_s h^(s)_k U^(s)_{k+1} + b_{k+1})  (k = 1 .. L-1)
    logits     = h_L W_out + sum_s h^(s)_L U^(s)_out + b_out              (softmax only in the loss)

where h^(s)_k is hidden layer k of frozen source column s (run in eval mode, no dropout, no
gradient). There are no adapter layers: U maps one layer to the next directly.

`dnn` is the same with no sources; `ptft` is a dnn whose hidden layers start as a copy of its
single source's and whose output layer is new (everything is fine-tuned, nothing is frozen).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from paragrid.errors import UserError
from paragrid.models.columns import INIT_STREAM, generator, init_bias, init_weight, linear
from paragrid.models.config import METHODS, Architecture

FORMAT = "paragrid.StackedModel/1"

# The hidden-layer non-linearity each name of config.ACTIVATIONS stands for (same names, same order).
ACTIVATION_FNS = {
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "elu": torch.nn.functional.elu,
}


def hidden_name(k: int, part: str) -> str:
    """Name of a parameter of hidden layer k (0-based): 'weight', 'bias' or 'lateral.<s>'."""
    return f"hidden.{k}.{part}"


class StackedModel:
    """F networks, one per fold, stored as stacked tensors (see the module docstring).

    `params` are the model's own weights (all trainable when it is trained); `sources` are the
    frozen columns of a progressive network (empty otherwise). `uid` identifies the trained
    model across save/load so that a prognet can find its stored copy of a source column."""

    def __init__(
        self,
        method: str,
        arch: Architecture,
        n_in: int,
        n_classes: int,
        params: dict[str, torch.Tensor],
        sources: Sequence["StackedModel"] = (),
        class_names: Sequence[str] | None = None,
        uid: str | None = None,
        meta: dict | None = None,
    ) -> None:
        if method not in METHODS:
            raise UserError(f"method {method!r} is unknown; use one of {list(METHODS)}")
        self.method = method
        self.arch = arch
        self.n_in = int(n_in)
        self.n_classes = int(n_classes)
        self.params = dict(params)
        self.sources = tuple(sources)
        self.class_names = list(class_names) if class_names is not None else None
        self.uid = uid or uuid.uuid4().hex
        self.meta = dict(meta or {})

    # ---- shape and placement ---------------------------------------------------------------
    @property
    def n_folds(self) -> int:
        return int(self.params["out.weight"].shape[0])

    @property
    def device(self) -> torch.device:
        return self.params["out.weight"].device

    def _replace(self, params: dict[str, torch.Tensor], sources: Sequence["StackedModel"]) -> "StackedModel":
        return StackedModel(self.method, self.arch, self.n_in, self.n_classes, params, sources,
                            self.class_names, self.uid, self.meta)

    def to(self, device: torch.device | str) -> "StackedModel":
        return self._replace({n: p.detach().to(device) for n, p in self.params.items()},
                             [s.to(device) for s in self.sources])

    def clone(self) -> "StackedModel":
        """A true copy: no tensor is shared with `self` (a later in-place update cannot leak in)."""
        return self._replace({n: p.detach().clone() for n, p in self.params.items()},
                             [s.clone() for s in self.sources])

    def select(self, folds: Sequence[int] | torch.Tensor) -> "StackedModel":
        """The networks of the given folds (in that order), sources included."""
        idx = torch.as_tensor(list(folds) if not isinstance(folds, torch.Tensor) else folds,
                              dtype=torch.long, device=self.device)
        return self._replace({n: p.detach().index_select(0, idx) for n, p in self.params.items()},
                             [s.select(idx) for s in self.sources])

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "method": self.method,
            "arch": self.arch.to_dict(),
            "n_in": self.n_in,
            "n_classes": self.n_classes,
            "class_names": self.class_names,
            "uid": self.uid,
            "meta": self.meta,
            "params": {n: p.detach().cpu().contiguous().clone() for n, p in self.params.items()},
            "sources": [s.to_dict() for s in self.sources],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "StackedModel":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise UserError(f"not a saved paragrid model (expected format {FORMAT!r})")
        return cls(d["method"], Architecture(**d["arch"]), d["n_in"], d["n_classes"], d["params"],
                   [cls.from_dict(s) for s in d["sources"]], d["class_names"], d["uid"], d["meta"])

    def save(self, path: str | Path) -> None:
        """torch.save of a plain dict (tensors on the CPU): loadable with weights_only=True."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.to_dict(), tmp)
        tmp.replace(path)  # a model file that exists is complete

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "StackedModel":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"model file {path} does not exist; train the source model first")
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file
            raise UserError(f"model file {path} cannot be read ({type(e).__name__}); delete it and retrain") from e
        return cls.from_dict(d).to(device)

    def __repr__(self) -> str:
        return (f"StackedModel({self.method}, folds={self.n_folds}, n_in={self.n_in}, classes={self.n_classes}, "
                f"{self.arch}, sources={len(self.sources)})")


# ---- the forward pass: the paper's equations ------------------------------------------------
def column_hidden(model: StackedModel, x: torch.Tensor, keep: torch.Tensor | None = None,
                  source_hidden: Sequence[list[torch.Tensor]] = ()) -> list[torch.Tensor]:
    """Hidden layers [h_1 .. h_L] of the model's own column for rows x (F, B, n_in).

    keep: dropout multipliers (F, L, B, width) while training, None in eval mode (no dropout).
    source_hidden: hidden layers of each frozen source column, for the lateral connections."""
    act = ACTIVATION_FNS[model.arch.activation]
    p = model.params

    def dropout(h: torch.Tensor, k: int) -> torch.Tensor:
        return h if keep is None else h * keep[:, k]

    # The first hidden layer sees only the input.
    h = [dropout(act(linear(x, p[hidden_name(0, "weight")], p[hidden_name(0, "bias")])), 0)]
    for k in range(model.arch.layers - 1):
        z = linear(h[k], p[hidden_name(k + 1, "weight")], p[hidden_name(k + 1, "bias")])
        for s, h_src in enumerate(source_hidden):
            # Lateral connection: layer k of frozen column s feeds layer k+1 of the new column.
            z = torch.baddbmm(z, h_src[k], p[hidden_name(k + 1, f"lateral.{s}")])
        h.append(dropout(act(z), k + 1))
    return h


def sources_hidden(model: StackedModel, x: torch.Tensor) -> list[list[torch.Tensor]]:
    """Hidden layers of every frozen source column: eval mode (no dropout) and no gradient."""
    with torch.no_grad():
        return [hidden_states(src, x) for src in model.sources]


def hidden_states(model: StackedModel, x: torch.Tensor, keep: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Hidden layers of the model's own column, its sources evaluated as they are (frozen)."""
    return column_hidden(model, x, keep, sources_hidden(model, x))


def forward(model: StackedModel, x: torch.Tensor, keep: torch.Tensor | None = None,
            src: Sequence[list[torch.Tensor]] | None = None) -> torch.Tensor:
    """Logits (F, B, n_classes) for rows x (F, B, n_in); keep=None is eval mode (no dropout).

    src: the frozen source columns' hidden layers for these rows, when the trainer has them
    precomputed (they never change during training); computed here otherwise."""
    if src is None:
        src = sources_hidden(model, x)
    h = column_hidden(model, x, keep, src)
    p = model.params
    logits = linear(h[-1], p["out.weight"], p["out.bias"])
    for s, h_src in enumerate(src):
        # The output layer also receives the last hidden layer of every frozen column.
        logits = torch.baddbmm(logits, h_src[-1], p[f"out.lateral.{s}"])
    return logits


# ---- construction ---------------------------------------------------------------------------
def check_sources(method: str, arch: Architecture, n_in: int, sources: Sequence[StackedModel],
                  n_folds: int | None = None) -> None:
    """UserError for every source/method combination the paper's networks cannot be built from."""
    if method not in METHODS:
        raise UserError(f"method {method!r} is unknown; use one of {list(METHODS)}")
    for s in sources:
        if not isinstance(s, StackedModel):
            raise UserError(f"sources must be trained StackedModels (a FoldOutcome's .model), got {type(s).__name__}")
    if method == "dnn" and sources:
        raise UserError(f"method 'dnn' takes no source models, got {len(sources)}; use ptft or prognet for transfer")
    if method == "ptft" and len(sources) != 1:
        raise UserError(f"method 'ptft' needs exactly one source model, got {len(sources)}; use prognet for several")
    if method == "prognet" and not sources:
        raise UserError("method 'prognet' needs at least one source model")
    for i, s in enumerate(sources):
        if n_folds is not None and s.n_folds != n_folds:
            raise UserError(f"source {i} has {s.n_folds} folds but the target data has {n_folds}; "
                            "train the source on the same fold steps")
        if s.n_in != n_in:
            raise UserError(f"source {i} takes {s.n_in} input features but the target data has {n_in}")
        if s.arch.layers != arch.layers:
            raise UserError(f"source {i} has {s.arch.layers} hidden layers but the target column {arch.layers}; "
                            "lateral/copied layers need the same depth")
        if method == "ptft":
            if s.sources:
                raise UserError("ptft copies a plain column; its source must be a dnn or ptft model, not a prognet")
            if (s.arch.width, s.arch.activation) != (arch.width, arch.activation):
                raise UserError(f"ptft copies the source's hidden layers, so the target architecture must match it: "
                                f"source width={s.arch.width} activation={s.arch.activation}, "
                                f"target width={arch.width} activation={arch.activation}")


def build_model(method: str, arch: Architecture, n_in: int, n_classes: int,
                sources: Sequence[StackedModel], seed: int | Sequence[int], folds: Sequence[int]) -> StackedModel:
    """A freshly initialised model for the given folds (CPU). Fold i's weights come from its own
    generator (seed, folds[i], INIT_STREAM), so they are the same whether it is built alone or
    with other folds. `seed`: one for every fold, or one per fold (a pack of several trials).
    `arch.init` picks the distribution (config.INITS); each lateral matrix is initialised like
    the weight of its own nn.Linear (fan_in = the source column's width).

    `sources` must already hold exactly these folds (see StackedModel.select)."""
    folds = list(folds)
    seeds = [int(seed)] * len(folds) if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    if len(seeds) != len(folds):
        raise UserError(f"build_model: {len(seeds)} seeds for {len(folds)} folds; give one seed per fold")
    check_sources(method, arch, n_in, sources, len(folds))
    lateral_widths = [s.arch.width for s in sources] if method == "prognet" else []
    per_fold: list[dict[str, torch.Tensor]] = []
    for fs, f in zip(seeds, folds):
        g = generator(fs, f, INIT_STREAM)
        w: dict[str, torch.Tensor] = {}
        fan_in = n_in
        for k in range(arch.layers):
            w[hidden_name(k, "weight")] = init_weight(arch.init, g, fan_in, arch.width)
            w[hidden_name(k, "bias")] = init_bias(arch.init, g, fan_in, arch.width)
            if k > 0:
                for s, ws in enumerate(lateral_widths):
                    w[hidden_name(k, f"lateral.{s}")] = init_weight(arch.init, g, ws, arch.width)
            fan_in = arch.width
        w["out.weight"] = init_weight(arch.init, g, arch.width, n_classes)
        w["out.bias"] = init_bias(arch.init, g, arch.width, n_classes)
        for s, ws in enumerate(lateral_widths):
            w[f"out.lateral.{s}"] = init_weight(arch.init, g, ws, n_classes)
        per_fold.append(w)
    params = {n: torch.stack([w[n] for w in per_fold]) for n in per_fold[0]}
    meta = {"source_uids": [s.uid for s in sources], "source_parts": [s.meta.get("parts") for s in sources]}
    if method == "ptft":
        # Pre-train / fine-tune: the hidden layers start as the source's; the output layer is new.
        src = sources[0]
        for n in params:
            if n.startswith("hidden."):
                params[n] = src.params[n].detach().cpu().clone()
    frozen = [s.clone().to("cpu") for s in sources] if method == "prognet" else []
    return StackedModel(method, arch, n_in, n_classes, params, frozen, meta=meta)
