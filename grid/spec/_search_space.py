"""The `tune:` block of a grid spec: budget, scheduler and the architecture search space.

Why a module of its own: the block is user input, so every key is validated here with a
one-line UserError naming it, before Ray or Optuna is imported; and the space is turned into
Optuna distributions (not Ray Tune domains) so that the study in the run's storage holds the
exact distributions and can be resumed with them.

A spec may omit the block (the defaults below apply) or give any subset of keys. In `space`,
each hyper-parameter takes one of:
    [low, high]                    a range (int or float by parameter; width and lr log-scaled)
    {low: a, high: b, log: true}   a range with the scale spelled out
    [a, b, c]                      choices (activation, batch_size, optimizer)
    a single value                 fixed: not searched
Parameters the block leaves out keep the default range; optimizer is fixed to the spec's
unless the block lists choices for it. `grace_period` (epochs before the scheduler may stop
a trial) defaults to the slow-start horizon max(150, max_epochs // 4); see slow_start_horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from paragrid.errors import UserError
from paragrid.models.config import ACTIVATIONS, OPTIMIZERS

# Kind of each searchable hyper-parameter: ranged ints, ranged floats or categorical choices,
# with the default range/choices and whether a range is log-scaled by default.
RANGED_INT = {"layers": ([1, 6], False), "width": ([32, 512], True)}
RANGED_FLOAT = {"dropout": ([0.0, 0.7], False), "lr": ([1e-4, 1e-2], True)}
CATEGORICAL = {
    "activation": ["sigmoid", "relu", "tanh"],
    "batch_size": [32, 64, 128, 256, 512],
    "optimizer": None,  # None: fixed to the spec's optimiser unless the block names choices
}
# Architecture first, then training: the order of trials.csv columns and of progress lines.
SPACE_KEYS = ["layers", "width", "activation", "dropout", "lr", "batch_size", "optimizer"]
ARCHITECTURE_KEYS = ("layers", "width", "activation", "dropout")
TRAINING_KEYS = ("lr", "batch_size", "optimizer")

SCHEDULERS = ("asha", "median", "none")
TUNE_DEFAULTS: dict[str, Any] = {
    "num_samples": 30,        # finished trials the study should hold (a re-run tops it up)
    "time_budget_s": None,    # wall-clock limit of one `paragrid tune` call, per corpus
    "scheduler": "asha",      # early stopping of bad trials on validation UAR
    "grace_period": None,     # None: the slow-start horizon, max(150, max_epochs // 4) epochs
    "reduction_factor": 3,    # ASHA: keep the top 1/3 at each rung
    "max_epochs": None,       # None: the spec's training.max_epochs
    "repeats": 1,             # fold splits the objective averages over
    "max_concurrent": None,   # None: as many trials as the cluster's resources allow
    "seed": None,             # TPE sampler seed; None: the spec's seed
    "space": None,
}


SLOW_START_EPOCHS = 150     # PROTOCOL.md: a DNN can sit at chance for over 100 epochs


def slow_start_horizon(max_epochs: int) -> int:
    """The default grace period: max(150, max_epochs // 4) epochs (capped at max_epochs).

    Why: a DNN can sit at chance level for over 100 epochs before it starts learning, most of
    all at small fold budgets (PROTOCOL.md). A scheduler that ranks trials earlier than that
    (ASHA's old 20 epochs) ranks fast starters, not good architectures, and TPE then learns to
    propose fast starters. 150 epochs covers the horizon seen in practice; a quarter of
    max_epochs keeps the first rung proportionate when a spec trains much longer.
    """
    return min(max_epochs, max(SLOW_START_EPOCHS, max_epochs // 4))


@dataclass(frozen=True)
class Param:
    """One searched (or fixed) hyper-parameter."""

    name: str
    kind: str                  # "int" | "float" | "categorical" | "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    value: Any = None          # the fixed value

    def contains(self, value: Any) -> bool:
        if self.kind == "fixed":
            return value == self.value
        if self.kind == "categorical":
            return value in self.choices
        return self.low <= value <= self.high

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"{self.value!r} (fixed)"
        if self.kind == "categorical":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        return f"[{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


@dataclass(frozen=True)
class TuneSettings:
    num_samples: int
    time_budget_s: float | None
    scheduler: str
    grace_period: int | None   # None: slow_start_horizon(max_epochs), see grace_epochs
    reduction_factor: int
    max_epochs: int | None
    repeats: int
    max_concurrent: int | None
    seed: int | None
    space: dict[str, Param] = field(default_factory=dict)

    def grace_epochs(self, max_epochs: int) -> int:
        """Epochs every trial runs before the scheduler may stop it (see slow_start_horizon)."""
        grace = self.grace_period if self.grace_period is not None else slow_start_horizon(max_epochs)
        return max(1, min(grace, max_epochs))

    @property
    def searched(self) -> dict[str, Param]:
        return {k: p for k, p in self.space.items() if p.kind != "fixed"}

    @property
    def fixed(self) -> dict[str, Any]:
        return {k: p.value for k, p in self.space.items() if p.kind == "fixed"}


def _err(where: str, key: str, message: str) -> UserError:
    return UserError(f"{where}: tune.{key} {message}")


def _int(where: str, key: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        none = " or null" if allow_none else ""
        raise _err(where, key, f"must be an integer >= {minimum}{none}, got {value!r}")
    return int(value)


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _parse_param(where: str, name: str, raw: Any) -> Param:
    key = f"space.{name}"
    if name in CATEGORICAL:
        if isinstance(raw, list):
            if not raw:
                raise _err(where, key, "lists no choices; give at least one or a single value")
            if name == "batch_size" and not all(isinstance(v, Integral) and not isinstance(v, bool)
                                                and v >= 1 for v in raw):
                raise _err(where, key, f"choices must be integers >= 1, got {raw!r}")
            if name != "batch_size" and not all(isinstance(v, str) for v in raw):
                raise _err(where, key, f"choices must be names, got {raw!r}")
            if len(set(raw)) != len(raw):
                raise _err(where, key, f"lists a choice twice: {raw!r}")
            _check_names(where, key, name, raw)
            return Param(name, "categorical", choices=tuple(raw))
        if isinstance(raw, dict):
            raise _err(where, key, "takes a list of choices or one value, not a mapping")
        if name == "batch_size" and (isinstance(raw, bool) or not isinstance(raw, Integral) or raw < 1):
            raise _err(where, key, f"must be an integer >= 1 or a list of them, got {raw!r}")
        _check_names(where, key, name, [raw])
        return Param(name, "fixed", value=raw)

    is_int = name in RANGED_INT
    default_log = (RANGED_INT | RANGED_FLOAT)[name][1]
    log = default_log
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"low", "high", "log"})
        if unknown:
            raise _err(where, f"{key}.{unknown[0]}", "is unknown; use low, high, log")
        if "low" not in raw or "high" not in raw:
            raise _err(where, key, "needs both low and high")
        low, high, log = raw["low"], raw["high"], raw.get("log", default_log)
        if not isinstance(log, bool):
            raise _err(where, f"{key}.log", f"must be true or false, got {log!r}")
    elif isinstance(raw, list):
        if len(raw) != 2:
            raise _err(where, key, f"takes [low, high], got {raw!r}")
        low, high = raw
    else:
        if not _number(raw):
            raise _err(where, key, f"must be a number, [low, high] or {{low, high, log}}, got {raw!r}")
        return Param(name, "fixed", value=int(raw) if is_int and float(raw).is_integer() else raw)

    if is_int:
        if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in (low, high)):
            raise _err(where, key, f"bounds must be integers, got [{low!r}, {high!r}]")
        low, high = int(low), int(high)
    else:
        if not (_number(low) and _number(high)):
            raise _err(where, key, f"bounds must be numbers, got [{low!r}, {high!r}]")
        low, high = float(low), float(high)
    if not low < high:
        raise _err(where, key, f"needs low < high, got [{low!r}, {high!r}] (give one value to fix it)")
    if log and low <= 0:
        raise _err(where, key, f"is log-scaled, so low must be > 0, got {low!r} (or set log: false)")
    if name in ("layers", "width") and low < 1:
        raise _err(where, key, f"low must be >= 1, got {low!r}")
    if name == "dropout" and not (0.0 <= low and high < 1.0):
        raise _err(where, key, f"must lie in [0, 1), got [{low!r}, {high!r}]")
    return Param(name, "int" if is_int else "float", low=low, high=high, log=log)


def _check_names(where: str, key: str, name: str, values: list) -> None:
    """Activation and optimiser names must be ones the models stage implements."""
    known = {"activation": list(ACTIVATIONS), "optimizer": list(OPTIMIZERS)}.get(name)
    if known is None:
        return
    for v in values:
        if v not in known:
            raise _err(where, key, f"names {v!r}, which is unknown; use {', '.join(known)}")


def _space(where: str, raw: Any, optimizer: str) -> dict[str, Param]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _err(where, "space", f"must be a mapping of hyper-parameters, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in SPACE_KEYS]
    if unknown:
        raise _err(where, f"space.{unknown[0]}", f"is unknown; searchable: {', '.join(SPACE_KEYS)}")
    merged: dict[str, Any] = {name: list(r) for name, (r, _) in (RANGED_INT | RANGED_FLOAT).items()}
    merged |= {name: c for name, c in CATEGORICAL.items() if c is not None}
    merged["optimizer"] = optimizer
    merged |= raw
    return {name: _parse_param(where, name, merged[name]) for name in SPACE_KEYS}


def parse_tune_block(raw: Any, where: str, *, optimizer: str = "adam") -> TuneSettings:
    """Validate a spec's `tune:` block (None = absent) into TuneSettings.

    `where` names the spec in error messages; `optimizer` is the spec's, the fixed value of
    the optimizer unless the block searches it.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: tune must be a mapping of settings, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in TUNE_DEFAULTS]
    if unknown:
        raise _err(where, unknown[0], f"is unknown; use one of {', '.join(TUNE_DEFAULTS)}")
    block = TUNE_DEFAULTS | raw

    budget = block["time_budget_s"]
    if budget is not None and not (_number(budget) and budget > 0):
        raise _err(where, "time_budget_s", f"must be a number of seconds > 0 or null, got {budget!r}")
    if block["scheduler"] not in SCHEDULERS:
        raise _err(where, "scheduler", f"must be one of {', '.join(SCHEDULERS)}, got {block['scheduler']!r}")
    seed = block["seed"]
    if seed is not None:
        seed = _int(where, "seed", seed, 0)
    return TuneSettings(
        num_samples=_int(where, "num_samples", block["num_samples"], 1),
        time_budget_s=None if budget is None else float(budget),
        scheduler=block["scheduler"],
        grace_period=_int(where, "grace_period", block["grace_period"], 1, allow_none=True),
        reduction_factor=_int(where, "reduction_factor", block["reduction_factor"], 2),
        max_epochs=_int(where, "max_epochs", block["max_epochs"], 1, allow_none=True),
        repeats=_int(where, "repeats", block["repeats"], 1),
        max_concurrent=_int(where, "max_concurrent", block["max_concurrent"], 1, allow_none=True),
        seed=seed,
        space=_space(where, block["space"], optimizer),
    )


def optuna_distributions(settings: TuneSettings) -> dict:
    """The searched parameters as Optuna distributions (what the study stores)."""
    import optuna.distributions as od  # heavy: optuna

    out = {}
    for name, p in settings.searched.items():
        if p.kind == "int":
            out[name] = od.IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.kind == "float":
            out[name] = od.FloatDistribution(p.low, p.high, log=p.log)
        else:
            out[name] = od.CategoricalDistribution(list(p.choices))
    return out


def baseline_point(settings: TuneSettings, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The searched part of `values` (the paper's architecture), and the names it falls outside.

    The study evaluates this point first so that every tuned result has the paper's
    architecture, on the same folds and seed, as its reference.
    """
    point = {k: values[k] for k in settings.searched}
    outside = [k for k, p in settings.searched.items() if not p.contains(point[k])]
    return point, outside
