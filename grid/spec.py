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
from paragrid.grid.spec_checks import as_int as _int, as_list as _list, as_num as _num, as_str as _str, \
    check_keys as _check_keys, did_you_mean as _did_you_mean, one_of as _one_of

METHODS = ("dnn", "ptft", "prognet")
# The leave-one-out schemes make k the number of speakers (sessions): grid/validate.py.
FOLD_SCHEMES = ("speaker-stratified", "speaker-independent", "leave-one-speaker-out",
                "leave-one-session-out")
SPEAKER_DISJOINT = ("speaker-independent", "leave-one-speaker-out", "leave-one-session-out")
NORMALISATIONS = ("train", "corpus")

DEFAULT_ARCHITECTURE = {"layers": 4, "width": 256, "activation": "sigmoid", "dropout": 0.5,
                        "init": "glorot-uniform"}
DEFAULT_TRAINING = {"lr": 5e-4, "optimizer": "adam", "batch_size": 256, "max_epochs": 600,
                    "patience": None, "curve_stride": 10, "weight_decay": 0.0, "updates": "per-epoch"}
DEFAULT_RESOURCES = {"cpu": 1, "gpu": 0, "pack": "auto"}

# What paragrid.models implements (models/config.py owns these; a test keeps the copies equal).
# Copied rather than imported so that checking a spec does not import torch (seconds).
ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu")
OPTIMIZERS = ("adam", "sgd")
INITS = ("glorot-uniform", "torch-default")
UPDATES = ("per-epoch", "matched")

GRID_KEYS = ("targets", "methods", "sources", "budgets")
TOP_KEYS = ("name", "description", "corpora", "task", *GRID_KEYS, "experiments", "k", "repeats",
            "seed", "fold_scheme", "normalisation", "architecture", "training", "resources",
            "storage", "max_failures", "tune")
REQUIRED = ("name", "corpora")
# Keys that do not change any number: left out of the spec hash.
UNHASHED = ("description", "storage", "resources", "max_failures", "corpora", "tune")
# Per-target architecture overrides count for the hash (they decide numbers); where their file
# lies does not.

# Part of every spec hash: bumped when paragrid itself computes other numbers for the same spec,
# so finished trials of an older version are not mixed into a resumed run (2: random streams
# per role, per-speaker label order in the stratified folds).
NUMBERS_VERSION = 2

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
class TargetSettings:
    """The architecture and training one target corpus runs with, and where they came from:
    `origin` is spec | tuned-same-corpus | tuned-nested | tuned-on:<corpus> (docs/PROTOCOL.md)."""

    architecture: dict[str, Any]
    training: dict[str, Any]
    origin: str
    file: str | None


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
    # Per-target settings from `--architecture` (paragrid.grid.overrides); a target without an
    # entry uses `architecture` / `training` as written, with origin "spec".
    per_target: dict[str, "TargetSettings"] = field(default_factory=dict)

    def arch_for(self, target: str) -> dict[str, Any]:
        entry = self.per_target.get(target)
        return dict(entry.architecture) if entry else dict(self.architecture)

    def training_for(self, target: str) -> dict[str, Any]:
        entry = self.per_target.get(target)
        return dict(entry.training) if entry else dict(self.training)

    def origin_for(self, target: str) -> tuple[str, str | None]:
        """(architecture_origin, architecture file or None), recorded in every result row."""
        entry = self.per_target.get(target)
        return (entry.origin, entry.file) if entry else ("spec", None)

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
        if self.per_target:
            doc["per_target"] = {t: {"architecture": dict(e.architecture), "training": dict(e.training),
                                     "origin": e.origin, "file": e.file}
                                 for t, e in sorted(self.per_target.items())}
        return doc

    def to_yaml(self, spec_hash: str | None = None) -> str:
        head = f"# resolved spec '{self.name}' (from {self.origin})"
        if spec_hash:
            head += f"; spec_hash {spec_hash}"
        return head + "\n" + yaml.safe_dump(self.resolved(), sort_keys=False)

    def hash(self, fingerprints: dict[str, str]) -> str:
        """16 hex digits over every setting that decides a number and the corpora's content."""
        doc = {k: v for k, v in self.resolved().items() if k not in UNHASHED}
        doc["paragrid_numbers"] = NUMBERS_VERSION
        for entry in doc.get("per_target", {}).values():
            entry.pop("file", None)
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


# ----------------------------------------------------------------------------- loading

def builtin_names() -> list[str]:
    folder = resources.files("paragrid.grid") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_builtin(name: str) -> str:
    return (resources.files("paragrid.grid") / "specs" / f"{name}.yaml").read_text()


def load_spec(spec: str | Path, architecture: str | Path | list | tuple | None = None,
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
    parsed = validate(doc, origin=origin, base=base,
                      features_dir=Path(features_dir) if features_dir else None)
    if architecture:
        from paragrid.grid.overrides import apply_architectures

        entries = [architecture] if isinstance(architecture, (str, Path)) else list(architecture)
        parsed = apply_architectures(parsed, doc, [str(e) for e in entries])
    return parsed


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


# ----------------------------------------------------------------------------- validation

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
        if task == "speaker" and spec["fold_scheme"] in SPEAKER_DISJOINT:
            raise UserError(
                f"{where}: source '{s}' cannot be used with fold_scheme {spec['fold_scheme']}: "
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
    if spec["fold_scheme"] not in FOLD_SCHEMES[:2]:  # leave-one-out: k = number of units, 1 repeat
        from paragrid.grid.validate import leave_one_out_k, leave_one_out_repeats

        spec["k"] = leave_one_out_k(spec["fold_scheme"], doc.get("k"), corpora, where)
        spec["repeats"] = leave_one_out_repeats(spec["fold_scheme"], doc.get("repeats"), where)
    spec["normalisation"] = _one_of(doc.get("normalisation", "train"), NORMALISATIONS,
                                    "normalisation", where)

    arch = check_architecture(_block(doc, "architecture", DEFAULT_ARCHITECTURE, where), where)
    tr = check_training(_block(doc, "training", DEFAULT_TRAINING, where), where)
    if doc.get("tune") is not None:
        # `paragrid tune` reads this block; `paragrid run` only checks it so a typo fails early.
        from paragrid.grid.search_space import parse_tune_block

        parse_tune_block(doc["tune"], where, optimizer=tr["optimizer"])

    res = _block(doc, "resources", DEFAULT_RESOURCES, where)
    res["cpu"] = _num(res["cpu"], "resources.cpu", where, 0.0, strict=True)
    res["gpu"] = _num(res["gpu"], "resources.gpu", where, 0.0)
    if res["pack"] != "auto":
        res["pack"] = _int(res["pack"], "resources.pack (trials per pack, or auto)", where, 1)
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


def check_architecture(arch: dict, where: str) -> dict:
    """Validate an `architecture:` block with every key present (defaults filled in)."""
    arch["layers"] = _int(arch["layers"], "architecture.layers", where, 1)
    arch["width"] = _int(arch["width"], "architecture.width", where, 1)
    arch["activation"] = _one_of(arch["activation"], ACTIVATIONS, "architecture.activation", where)
    arch["dropout"] = float(_num(arch["dropout"], "architecture.dropout", where, 0.0, maximum=0.95))
    arch["init"] = _one_of(arch["init"], INITS, "architecture.init", where)
    return arch


def check_training(tr: dict, where: str) -> dict:
    """Validate a `training:` block with every key present (defaults filled in)."""
    tr["lr"] = float(_num(tr["lr"], "training.lr", where, 0.0, strict=True))
    tr["optimizer"] = _one_of(tr["optimizer"], OPTIMIZERS, "training.optimizer", where)
    tr["batch_size"] = _int(tr["batch_size"], "training.batch_size", where, 1)
    tr["max_epochs"] = _int(tr["max_epochs"], "training.max_epochs", where, 1)
    if tr["patience"] is not None:
        tr["patience"] = _int(tr["patience"], "training.patience (or null for none)", where, 1)
    tr["curve_stride"] = _int(tr["curve_stride"], "training.curve_stride", where, 1)
    tr["weight_decay"] = float(_num(tr["weight_decay"], "training.weight_decay", where, 0.0))
    tr["updates"] = _one_of(tr["updates"], UPDATES, "training.updates", where)
    return tr


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




def __getattr__(name: str):
    """The trial expansion lives in paragrid.grid.expand; these names stay importable from here."""
    if name in ("expand_trials", "resolve_source", "Expansion"):
        from paragrid.grid import expand

        return getattr(expand, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
