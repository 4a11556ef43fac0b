"""Grid specs: the YAML a user writes, validated and resolved into a `Spec`, and its trials.

A spec names feature parquets, the target task and the grid to run over them (methods x source
sets x targets x fold budgets x repeats), plus every setting that decides a number (folds,
normalisation, architecture, training). Everything is checked here, before Ray starts, so a
typo costs one line of error instead of a cluster's worth of failed trials. Unknown keys are
refused (with a did-you-mean), never ignored: an ignored `pateince: 20` would silently change
the science.

A spec may hold several `experiments` (e.g. the paper's Table 2 and its cross-corpus Figure 4
in one run); each overrides `targets`, `methods`, `sources`, `budgets`. Trials that two
experiments share (the DNN baseline at the full budget) run once.

The spec hash (recorded with every result row) covers everything that decides a number,
including the *content* of the feature tables, but not where files live, the resources, or the
storage: moving a features folder or adding GPUs keeps finished trials valid.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import yaml

from paragrid.errors import UserError

METHODS = ("dnn", "ptft", "prognet")
FOLD_SCHEMES = ("speaker-stratified", "speaker-independent")
NORMALISATIONS = ("train", "corpus")

DEFAULT_ARCHITECTURE = {"layers": 4, "width": 256, "activation": "sigmoid", "dropout": 0.5}
DEFAULT_TRAINING = {"lr": 5e-4, "optimizer": "adam", "batch_size": 256, "max_epochs": 600,
                    "patience": None, "curve_stride": 10, "weight_decay": 0.0}
DEFAULT_RESOURCES = {"cpu": 1, "gpu": 0}

# What paragrid.models implements (models/config.py owns these; a test keeps the copies equal).
# Copied rather than imported so that checking a spec does not import torch (seconds).
ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu")
OPTIMIZERS = ("adam", "sgd")

GRID_KEYS = ("targets", "methods", "sources", "budgets")
TOP_KEYS = ("name", "description", "corpora", "task", *GRID_KEYS, "experiments", "k", "repeats",
            "seed", "fold_scheme", "normalisation", "architecture", "training", "resources",
            "storage", "max_failures", "tune")
REQUIRED = ("name", "corpora")
# Keys that do not change any number: left out of the spec hash.
UNHASHED = ("description", "storage", "resources", "max_failures", "corpora", "tune")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ----------------------------------------------------------------------------- data classes

@dataclass(frozen=True)
class Experiment:
    """One block of the grid: its trials are targets x budgets x repeats x (methods, sources)."""

    name: str
    targets: tuple[str, ...]
    methods: tuple[str, ...]
    sources: tuple[tuple[str, ...], ...]  # as written; '@other' resolved per target later
    budgets: tuple[int, ...]


@dataclass(frozen=True)
class Spec:
    """A validated, fully resolved grid spec (defaults filled in, paths absolute)."""

    name: str
    origin: str  # the file it came from, or "built-in <name>"
    corpora: dict[str, str]  # corpus name -> absolute feature parquet path
    task: str
    experiments: tuple[Experiment, ...]
    k: int
    repeats: int
    seed: int
    fold_scheme: str
    normalisation: str
    architecture: dict[str, Any]
    training: dict[str, Any]
    resources: dict[str, float]
    storage: str | None
    max_failures: int
    description: str = ""

    def resolved(self) -> dict[str, Any]:
        """The spec as plain YAML-able data; loading it back gives an equal Spec."""
        doc: dict[str, Any] = {"name": self.name}
        if self.description:
            doc["description"] = self.description
        doc["corpora"] = dict(self.corpora)
        doc["task"] = self.task
        doc["experiments"] = {
            e.name: {"targets": list(e.targets), "methods": list(e.methods),
                     "sources": [list(s) for s in e.sources], "budgets": list(e.budgets)}
            for e in self.experiments}
        doc.update(k=self.k, repeats=self.repeats, seed=self.seed, fold_scheme=self.fold_scheme,
                   normalisation=self.normalisation, architecture=dict(self.architecture),
                   training=dict(self.training), resources=dict(self.resources),
                   max_failures=self.max_failures)
        if self.storage is not None:
            doc["storage"] = self.storage
        return doc

    def to_yaml(self, spec_hash: str | None = None) -> str:
        head = f"# resolved spec '{self.name}' (from {self.origin})"
        if spec_hash:
            head += f"; spec_hash {spec_hash}"
        return head + "\n" + yaml.safe_dump(self.resolved(), sort_keys=False)

    def hash(self, fingerprints: dict[str, str]) -> str:
        """16 hex digits over every setting that decides a number and the corpora's content."""
        doc = {k: v for k, v in self.resolved().items() if k not in UNHASHED}
        doc["corpora"] = {name: fingerprints[name] for name in sorted(self.corpora)}
        blob = json.dumps(doc, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Trial:
    """One target trial: (method, source set, target corpus, fold budget, repeat), all k folds."""

    method: str
    sources: tuple[str, ...]  # resolved names: 'speaker', 'gender', 'emotion@synth-b'; () = none
    target: str
    budget: int
    repeat: int
    experiments: tuple[str, ...] = field(default=(), compare=False)

    @property
    def sources_label(self) -> str:
        return "+".join(self.sources) if self.sources else "none"

    @property
    def trial_id(self) -> str:
        """Deterministic, readable, and safe as a folder name on any filesystem or bucket."""
        src = self.sources_label.replace("@", "_at_")
        return f"{self.method}.{src}.{self.target}.b{self.budget}.r{self.repeat}"


@dataclass(frozen=True)
class Expansion:
    trials: list[Trial]
    notes: list[str]  # combinations left out and why (printed with the plan)


# ----------------------------------------------------------------------------- loading

def builtin_names() -> list[str]:
    folder = resources.files("paragrid.grid") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_builtin(name: str) -> str:
    return (resources.files("paragrid.grid") / "specs" / f"{name}.yaml").read_text()


def load_spec(spec: str | Path, architecture: str | Path | None = None,
              features_dir: str | Path | None = None) -> Spec:
    """Load a spec file (or a built-in spec by name), apply an architecture override, validate.

    Relative corpus paths are looked up in `features_dir` first (when given), then next to the
    spec file (for a built-in spec: the current folder).
    """
    path = Path(spec)
    if path.is_file():
        text, origin, base = path.read_text(), str(path), path.resolve().parent
    elif str(spec) in builtin_names():
        text, origin, base = _read_builtin(str(spec)), f"built-in {spec}", Path.cwd()
    elif path.suffix in (".yaml", ".yml") or path.exists():
        raise UserError(f"spec {path}: no such file; built-in specs: {', '.join(builtin_names())}")
    else:
        hint = _did_you_mean(str(spec), builtin_names())
        raise UserError(f"spec '{spec}': neither a file nor a built-in spec{hint}; "
                        f"built-in specs: {', '.join(builtin_names())}")
    doc = _parse_yaml(text, origin)
    if architecture is not None:
        doc = _apply_override(doc, Path(architecture))
    return validate(doc, origin=origin, base=base,
                    features_dir=Path(features_dir) if features_dir else None)


def _parse_yaml(text: str, origin: str) -> dict:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"spec {origin}: not valid YAML{where} ({getattr(err, 'problem', err)})") from None
    if not isinstance(doc, dict):
        raise UserError(f"spec {origin}: expected a mapping of keys (name, corpora, ...), "
                        f"got {type(doc).__name__}")
    return doc


def _apply_override(doc: dict, path: Path) -> dict:
    """`--architecture tuned.yaml`: either bare architecture keys or an `architecture:` block
    (a `training:` block next to it, as a tuner may write, overrides training settings too)."""
    if not path.is_file():
        raise UserError(f"--architecture {path}: no such file")
    over = _parse_yaml(path.read_text(), f"--architecture {path}")
    if "architecture" in over or "training" in over:
        _check_keys(over, ("architecture", "training"), f"--architecture {path}")
        blocks = over
    else:
        blocks = {"architecture": over}
    doc = dict(doc)
    for block, values in blocks.items():
        if not isinstance(values, dict):
            raise UserError(f"--architecture {path}: '{block}' must be a mapping")
        merged = dict(doc.get(block) or {})
        merged.update(values)
        doc[block] = merged
    return doc


# ----------------------------------------------------------------------------- validation

def _did_you_mean(word: str, allowed) -> str:
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_keys(doc: dict, allowed, where: str, prefix: str = "") -> None:
    for key in doc:
        if key not in allowed:
            raise UserError(f"{where}: unknown key '{prefix}{key}'{_did_you_mean(key, allowed)}; "
                            f"allowed: {', '.join(allowed)}")


def _one_of(value, allowed, what: str, where: str) -> str:
    if value not in allowed:
        raise UserError(f"{where}: {what}: unknown value {value!r}{_did_you_mean(value, allowed)}; "
                        f"allowed: {', '.join(allowed)}")
    return value


def _int(value, what: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise UserError(f"{where}: {what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _num(value, what: str, where: str, minimum: float, *, strict: bool = False,
         maximum: float | None = None) -> float:
    bad = isinstance(value, bool) or not isinstance(value, Real)
    if not bad:
        bad = value <= minimum if strict else value < minimum
        bad = bad or (maximum is not None and value > maximum)
    if bad:
        rng = f"{'>' if strict else '>='} {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise UserError(f"{where}: {what} must be a number {rng}, got {value!r}")
    return float(value) if isinstance(value, float) else int(value)


def _str(value, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {what} must be a non-empty string, got {value!r}")
    return value.strip()


def _list(value, what: str, where: str) -> list:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: {what} must be a non-empty list, got {value!r}")
    return value


def parse_source(name: str) -> tuple[str, str | None]:
    """'speaker' -> ('speaker', None); 'emotion@synth-b' -> ('emotion', 'synth-b')."""
    task, _, corpus = name.partition("@")
    return task, (corpus or None)


def _source_set(item, where: str, i: int) -> tuple[str, ...]:
    if item is None or item == "none" or item == []:
        return ()
    if isinstance(item, str):
        item = [s for s in item.split("+")]
    if not isinstance(item, list):
        raise UserError(f"{where}: sources[{i}] must be a list of source names (e.g. [speaker, gender]) "
                        f"or 'none', got {item!r}")
    names = []
    for s in item:
        s = _str(s, f"sources[{i}] entry", where)
        task, corpus = parse_source(s)
        if not task or (corpus is not None and not corpus) or s.count("@") > 1:
            raise UserError(f"{where}: sources[{i}]: bad source {s!r}; write a label column "
                            "('speaker', 'gender') or 'task@corpus' ('emotion@other')")
        if s in names:
            raise UserError(f"{where}: sources[{i}] names {s!r} twice")
        names.append(s)
    return tuple(names)


def _grid(block: dict, defaults: dict, spec: dict, where: str, label: str) -> Experiment:
    """Validate one experiment's grid keys, falling back to the top-level values."""
    corpora = list(spec["corpora"])
    k = spec["k"]
    get = lambda key: block[key] if key in block else defaults.get(key)  # noqa: E731

    targets = get("targets")
    targets = corpora if targets is None else _list(targets, f"{label}targets", where)
    for t in targets:
        _one_of(t, corpora, f"{label}targets", where)

    methods = get("methods")
    methods = list(METHODS) if methods is None else _list(methods, f"{label}methods", where)
    for m in methods:
        _one_of(m, METHODS, f"{label}methods", where)

    raw_sources = get("sources")
    raw_sources = [] if raw_sources is None else raw_sources
    if not isinstance(raw_sources, list):
        raise UserError(f"{where}: {label}sources must be a list of source sets, e.g. "
                        f"[[speaker], [gender], [speaker, gender], [emotion@other]], got {raw_sources!r}")
    sources = []
    for i, item in enumerate(raw_sources):
        s = _source_set(item, where, i)
        if s not in sources:
            sources.append(s)
    transfer = [m for m in methods if m != "dnn"]
    if transfer and not any(sources):
        raise UserError(f"{where}: {label}methods {', '.join(transfer)} need a source set; add e.g. "
                        "sources: [[speaker], [gender]], or drop them from methods")
    for s in (x for srcs in sources for x in srcs):
        task, corpus = parse_source(s)
        if corpus is not None and corpus != "other":
            _one_of(corpus, corpora, f"{label}sources corpus of '{s}'", where)
        if corpus is None and task == spec["task"]:
            raise UserError(f"{where}: {label}sources: '{s}' is the target task on the target corpus "
                            f"itself; did you mean '{s}@other'?")
        if corpus == "other" and len(corpora) != 2:
            raise UserError(f"{where}: {label}sources: '{s}' needs exactly two corpora to know which is "
                            f"the other one (spec has {len(corpora)}); name it: '{task}@<corpus>'")
        if task == "speaker" and spec["fold_scheme"] == "speaker-independent":
            raise UserError(
                f"{where}: source '{s}' cannot be used with fold_scheme speaker-independent: "
                "there every test speaker is absent from the training folds, so a speaker-ID "
                "model can never recognise its test speakers; use fold_scheme speaker-stratified "
                "or drop the speaker source")

    budgets = get("budgets")
    budgets = ["all"] if budgets is None else _list(budgets, f"{label}budgets", where)
    resolved = []
    for b in budgets:
        b = k - 2 if b == "all" else b
        if isinstance(b, bool) or not isinstance(b, Integral) or not 1 <= b <= k - 2:
            raise UserError(f"{where}: {label}budgets: {b!r} is not a fold budget; allowed: 'all' or "
                            f"1..{k - 2} (training folds out of k-2 = {k - 2}, with k = {k})")
        if int(b) not in resolved:
            resolved.append(int(b))
    return Experiment(name=block.get("_name", "main"), targets=tuple(targets), methods=tuple(methods),
                      sources=tuple(sources), budgets=tuple(resolved))


def validate(doc: dict, origin: str = "<spec>", base: Path | None = None,
             features_dir: Path | None = None) -> Spec:
    """Check every key and value of a parsed spec; fill defaults; return a Spec."""
    where = f"spec {origin}"
    base = base or Path.cwd()
    _check_keys(doc, TOP_KEYS, where)
    for key in REQUIRED:
        if key not in doc:
            raise UserError(f"{where}: missing required key '{key}'")

    name = _str(doc["name"], "name", where)
    if not _NAME.match(name):
        raise UserError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' "
                        "(it names the run folder)")

    corpora_in = doc["corpora"]
    if not isinstance(corpora_in, dict) or not corpora_in:
        raise UserError(f"{where}: corpora must map corpus names to feature parquets, "
                        "e.g. corpora: {{iemocap: iemocap.parquet}}")
    corpora = {}
    for cname, cpath in corpora_in.items():
        cname = _str(cname, "corpus name", where)
        if not _NAME.match(cname) or cname == "other":
            raise UserError(f"{where}: corpus name {cname!r} must be letters, digits, '.', '_' or '-' "
                            "(and not 'other')")
        corpora[cname] = _resolve_corpus(cname, _str(cpath, f"corpora.{cname}", where),
                                         base, features_dir, where)

    spec: dict[str, Any] = {"corpora": corpora}
    spec["task"] = _str(doc.get("task", "emotion"), "task", where)
    spec["k"] = _int(doc.get("k", 10), "k (folds)", where, 3)
    spec["repeats"] = _int(doc.get("repeats", 10), "repeats", where, 1)
    if spec["repeats"] > 1000:
        raise UserError(f"{where}: repeats must be <= 1000, got {spec['repeats']}")
    spec["seed"] = _int(doc.get("seed", 0), "seed", where, 0)
    spec["fold_scheme"] = _one_of(doc.get("fold_scheme", "speaker-stratified"), FOLD_SCHEMES,
                                  "fold_scheme", where)
    spec["normalisation"] = _one_of(doc.get("normalisation", "train"), NORMALISATIONS,
                                    "normalisation", where)

    arch = _block(doc, "architecture", DEFAULT_ARCHITECTURE, where)
    arch["layers"] = _int(arch["layers"], "architecture.layers", where, 1)
    arch["width"] = _int(arch["width"], "architecture.width", where, 1)
    arch["activation"] = _one_of(arch["activation"], ACTIVATIONS, "architecture.activation", where)
    arch["dropout"] = float(_num(arch["dropout"], "architecture.dropout", where, 0.0, maximum=0.95))

    tr = _block(doc, "training", DEFAULT_TRAINING, where)
    tr["lr"] = float(_num(tr["lr"], "training.lr", where, 0.0, strict=True))
    tr["optimizer"] = _one_of(tr["optimizer"], OPTIMIZERS, "training.optimizer", where)
    tr["batch_size"] = _int(tr["batch_size"], "training.batch_size", where, 1)
    tr["max_epochs"] = _int(tr["max_epochs"], "training.max_epochs", where, 1)
    if tr["patience"] is not None:
        tr["patience"] = _int(tr["patience"], "training.patience (or null for none)", where, 1)
    tr["curve_stride"] = _int(tr["curve_stride"], "training.curve_stride", where, 1)
    tr["weight_decay"] = float(_num(tr["weight_decay"], "training.weight_decay", where, 0.0))
    if doc.get("tune") is not None:
        # `paragrid tune` reads this block; `paragrid run` only checks it so a typo fails early.
        from paragrid.grid.search_space import parse_tune_block

        parse_tune_block(doc["tune"], where, optimizer=tr["optimizer"])

    res = _block(doc, "resources", DEFAULT_RESOURCES, where)
    res["cpu"] = _num(res["cpu"], "resources.cpu", where, 0.0, strict=True)
    res["gpu"] = _num(res["gpu"], "resources.gpu", where, 0.0)
    if isinstance(res["gpu"], float) and res["gpu"] > 1 and not res["gpu"].is_integer():
        raise UserError(f"{where}: resources.gpu must be a fraction <= 1 or a whole number, got {res['gpu']}")

    storage = doc.get("storage")
    storage = None if storage is None else _str(storage, "storage", where)
    max_failures = _int(doc.get("max_failures", 2), "max_failures", where, 0)
    description = doc.get("description") or ""
    if not isinstance(description, str):
        raise UserError(f"{where}: description must be text")

    defaults = {key: doc[key] for key in GRID_KEYS if key in doc}
    blocks = doc.get("experiments")
    if blocks is None:
        experiments = [_grid({"_name": "main"}, defaults, spec, where, "")]
    else:
        if not isinstance(blocks, dict) or not blocks:
            raise UserError(f"{where}: experiments must map experiment names to blocks with "
                            f"{', '.join(GRID_KEYS)}")
        experiments = []
        for ename, block in blocks.items():
            block = {} if block is None else block
            if not isinstance(block, dict):
                raise UserError(f"{where}: experiments.{ename} must be a mapping of {', '.join(GRID_KEYS)}")
            _check_keys(block, GRID_KEYS, where, prefix=f"experiments.{ename}.")
            experiments.append(_grid({**block, "_name": str(ename)}, defaults, spec, where,
                                     f"experiments.{ename}."))

    return Spec(name=name, origin=origin, corpora=corpora, task=spec["task"],
                experiments=tuple(experiments), k=spec["k"], repeats=spec["repeats"],
                seed=spec["seed"], fold_scheme=spec["fold_scheme"],
                normalisation=spec["normalisation"], architecture=arch, training=tr,
                resources=res, storage=storage, max_failures=max_failures,
                description=description.strip())


def _block(doc: dict, key: str, defaults: dict, where: str) -> dict:
    value = doc.get(key)
    if value is None:
        return dict(defaults)
    if not isinstance(value, dict):
        raise UserError(f"{where}: {key} must be a mapping with keys {', '.join(defaults)}")
    _check_keys(value, tuple(defaults), where, prefix=f"{key}.")
    return {**defaults, **value}


def _resolve_corpus(name: str, path: str, base: Path, features_dir: Path | None, where: str) -> str:
    """Absolute path of a corpus parquet; a missing file is a UserError here, before Ray."""
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else (
        ([features_dir / p] if features_dir else []) + [base / p])
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    looked = " or ".join(str(c) for c in candidates)
    raise UserError(f"{where}: corpus '{name}': feature parquet not found at {looked}; create it "
                    f"with `paragrid features ... --out {p.name}` or pass --features-dir")


# ----------------------------------------------------------------------------- expansion

def resolve_source(source: str, target: str, corpora) -> str:
    """'emotion@other' -> 'emotion@<the other corpus>'; 'speaker@<target>' -> 'speaker'."""
    task, corpus = parse_source(source)
    if corpus == "other":
        corpus = next(c for c in corpora if c != target)
    if corpus is None or corpus == target:
        return task
    return f"{task}@{corpus}"


def expand_trials(spec: Spec) -> Expansion:
    """Every target trial of the spec, each exactly once, in a stable order.

    dnn runs once per (target, budget, repeat) with sources 'none'; ptft once per single-source
    set; prognet once per non-empty source set. A source set that collapses onto the target
    task on the target corpus itself (e.g. 'emotion@iemocap' for target iemocap) is not a
    transfer and is left out, as are ptft runs on multi-source sets; both are noted.
    """
    trials: dict[Trial, list[str]] = {}
    notes: list[str] = []

    def add(t: Trial, exp: str) -> None:
        trials.setdefault(t, [])
        if exp not in trials[t]:
            trials[t].append(exp)

    for exp in spec.experiments:
        for target in exp.targets:
            sets = []
            for s in exp.sources:
                resolved = tuple(resolve_source(x, target, spec.corpora) for x in s)
                if any(x == spec.task for x in resolved):
                    notes.append(f"{exp.name}: source set {'+'.join(s)} left out for target {target} "
                                 f"(it is the target task on {target} itself)")
                    continue
                if len(set(resolved)) != len(resolved):
                    notes.append(f"{exp.name}: source set {'+'.join(s)} left out for target {target} "
                                 "(names the same source twice)")
                    continue
                if resolved and resolved not in sets:
                    sets.append(resolved)
            for budget in exp.budgets:
                for repeat in range(spec.repeats):
                    if "dnn" in exp.methods:
                        add(Trial("dnn", (), target, budget, repeat), exp.name)
                    for s in sets:
                        for method in exp.methods:
                            if method == "ptft" and len(s) != 1:
                                continue
                            if method != "dnn":
                                add(Trial(method, s, target, budget, repeat), exp.name)
            if "ptft" in exp.methods:
                multi = [s for s in sets if len(s) > 1]
                if multi:
                    notes.append(f"{exp.name}: ptft left out for {', '.join('+'.join(s) for s in multi)} "
                                 "(PT/FT transfers exactly one source)")
    out = [Trial(t.method, t.sources, t.target, t.budget, t.repeat, tuple(e)) for t, e in trials.items()]
    return Expansion(trials=out, notes=list(dict.fromkeys(notes)))
