"""Hyper-parameters of one network and of its training (Table 1 of the paper as defaults).

Both are frozen dataclasses so that they can be hashed, recorded next to every result and
compared between a source and a target model. They validate themselves on construction: a
typo in a spec ("sigmiod", "adamw") fails at once with a UserError, not 600 epochs later.

This module imports no torch (a test checks it): checking a spec, which builds these
dataclasses, must not pay torch's start-up. What the names mean in torch lives where they are
applied (activations: nets.ACTIVATION_FNS; inits: columns.init_weight; optimisers: optim.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from paragrid.errors import UserError

# Hidden-layer non-linearities a spec may name. The output layer has none: it returns logits,
# and the softmax lives only inside the cross-entropy loss (applying it twice is a known pitfall).
ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu")
OPTIMIZERS = ("adam", "sgd")
METHODS = ("dnn", "ptft", "prognet")
# Weight initialisations (a scientific setting: the paper does not state it, and on a real corpus
# Glorot uniform scored 3.2 UAR points above torch's nn.Linear default; docs/PROTOCOL.md).
#   glorot-uniform  W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), biases 0 (Keras' default in 2017)
#   torch-default   what nn.Linear does: W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with
#                   a = sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
INITS = ("glorot-uniform", "torch-default")
# How long each fold trains (issue 12: updates per epoch fall with the fold budget):
#   per-epoch  max_epochs epochs whatever the budget (the paper's rule)
#   matched    as many optimiser updates as the fold would get at the FULL budget (see epoch_caps)
UPDATES = ("per-epoch", "matched")
# float32 matmuls on CUDA: exact fp32, or TF32 tensor cores (faster on Ampere and newer; numbers
# differ slightly, so it is opt-in and recorded). No effect on the CPU.
PRECISIONS = ("fp32", "tf32")
# The loss per row: "none" = the paper's unweighted cross-entropy (while UAR, the metric, weighs
# classes equally); "balanced" = each class weighted n_f / (C_f n_{f,c}) on fold f's training
# rows, so every class carries the same total weight (models/train.py: class_weights).
CLASS_WEIGHTS = ("none", "balanced")

# Dropout randomness: 16 random bits per unit (columns.draw_bits). One 64-bit word from the
# fold's generator gives four units' bits, a quarter of the generator calls of one float uniform
# per unit (the cost of the masks fell from ~15 % of a CPU training step to ~5 %,
# bench/RESULTS.md). A rate p is applied as q / 2^16 with q = round(p * 2^16): within 7.6e-6 of
# p, exact for 0.5, 0.25, ... Architecture checks that a rate is representable.
DROPOUT_LEVELS = 1 << 16


def dropout_levels(p: float) -> int:
    """q: how many of the 2^16 equally likely 16-bit values drop a unit at dropout rate p."""
    q = round(float(p) * DROPOUT_LEVELS)
    if p > 0 and not 0 < q < DROPOUT_LEVELS:
        raise ValueError(f"dropout {p!r} is below 1/65536 or rounds to 1; use 0 (no dropout) or a rate in "
                         f"[{1 / DROPOUT_LEVELS:.2g}, {1 - 1 / DROPOUT_LEVELS:.6f}]")
    return q


@dataclass(frozen=True)
class Architecture:
    """One MLP column: `layers` hidden layers of `width` units, dropout after each hidden layer.

    Every column of a progressive network has this shape (the paper's Table 1 by default)."""

    layers: int = 4
    width: int = 256
    activation: str = "sigmoid"
    dropout: float = 0.5
    init: str = "glorot-uniform"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise UserError(f"architecture.init {self.init!r} is unknown; use one of {list(INITS)}")
        if self.activation not in ACTIVATIONS:
            raise UserError(
                f"architecture.activation {self.activation!r} is unknown; use one of {sorted(ACTIVATIONS)}"
            )
        if not (isinstance(self.layers, int) and self.layers >= 1):
            raise UserError(f"architecture.layers must be an integer >= 1, got {self.layers!r}")
        if not (isinstance(self.width, int) and self.width >= 1):
            raise UserError(f"architecture.width must be an integer >= 1, got {self.width!r}")
        if not (0.0 <= float(self.dropout) < 1.0):
            raise UserError(f"architecture.dropout must be in [0, 1), got {self.dropout!r}")
        try:
            dropout_levels(self.dropout)  # masks are drawn at a resolution of 2^-16
        except ValueError as err:
            raise UserError(f"architecture.dropout: {err}") from None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainSettings:
    """How a column is trained. The paper gives lr and max_epochs; optimiser and batch size are
    ours (Adam, 256) and are recorded with every result.

    `patience` None means the paper's rule: train all `max_epochs` and keep the epoch with the
    best validation UAR. A patience is a scientific setting (it can stop a slow starter at
    chance level), not a speed knob; see PROTOCOL.md.

    `updates` "matched" lets a fold with fewer training rows than the full budget run more epochs,
    so that every budget gets the same number of optimiser updates (paragrid.models.train.epoch_caps)."""

    lr: float = 5e-4
    optimizer: str = "adam"
    batch_size: int = 256
    max_epochs: int = 600
    patience: int | None = None
    curve_stride: int = 10
    weight_decay: float = 0.0
    updates: str = "per-epoch"
    precision: str = "fp32"
    class_weights: str = "none"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UserError(f"training.precision {self.precision!r} is unknown; use one of {list(PRECISIONS)}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise UserError(f"training.class_weights {self.class_weights!r} is unknown; use one of {list(CLASS_WEIGHTS)}")
        if self.updates not in UPDATES:
            raise UserError(f"training.updates {self.updates!r} is unknown; use one of {list(UPDATES)}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(
                f"training.optimizer {self.optimizer!r} is unknown; use one of {list(OPTIMIZERS)}"
            )
        if not float(self.lr) > 0:
            raise UserError(f"training.lr must be > 0, got {self.lr!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise UserError(f"training.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not (isinstance(self.max_epochs, int) and self.max_epochs >= 1):
            raise UserError(f"training.max_epochs must be an integer >= 1, got {self.max_epochs!r}")
        if self.patience is not None and not (isinstance(self.patience, int) and self.patience >= 1):
            raise UserError(f"training.patience must be null or an integer >= 1, got {self.patience!r}")
        if not (isinstance(self.curve_stride, int) and self.curve_stride >= 1):
            raise UserError(f"training.curve_stride must be an integer >= 1, got {self.curve_stride!r}")
        if not float(self.weight_decay) >= 0:
            raise UserError(f"training.weight_decay must be >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict:
        """Every setting; `precision` only when it is not the default fp32, so the resolved spec
        and hash of every spec written before the setting existed stay as they were."""
        out = asdict(self)
        if out["precision"] == "fp32":
            del out["precision"]
        return out
