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

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paragrid.models.config import Architecture, TrainSettings

# The leave-one-out schemes make k the number of speakers (sessions): grid/data/_checks.py.
FOLD_SCHEMES = ("speaker-stratified", "speaker-independent", "leave-one-speaker-out",
                "leave-one-session-out", "file")
# Leave-one-out schemes -> the label column whose values are the held-out units.
LEAVE_ONE_OUT = {"leave-one-speaker-out": "speaker", "leave-one-session-out": "session"}
SPEAKER_DISJOINT = ("speaker-independent", "leave-one-speaker-out", "leave-one-session-out", "file")
NORMALISATIONS = ("train", "corpus")

DEFAULT_ARCHITECTURE = Architecture().to_dict()  # the paper's Table 1 (paragrid.models.config)
DEFAULT_TRAINING = asdict(TrainSettings())  # every key a spec may write, precision included

GRID_KEYS = ("targets", "methods", "sources", "budgets")
TOP_KEYS = ("name", "description", "corpora", "features", "task", *GRID_KEYS, "experiments", "k", "repeats",
            "seed", "fold_scheme", "normalisation", "architecture", "training", "resources",
            "storage", "max_failures", "tune", "exclude_speakers", "min_utterances", "classes",
            "fold_files")
# Source corpora that name no corpus but a set of them, resolved per target (grid/spec/_expand.py):
# `other` (the one other corpus of two), `each-other` (one source set per other corpus: a
# transfer matrix), `all-others` (every other corpus at once: one ProgNet column each, PT/FT
# from one model trained on the pooled corpora).
SPECIAL_CORPORA = ("other", "each-other", "all-others")
REQUIRED = ("name", "corpora")
# Keys that do not change any number: left out of the spec hash.
UNHASHED = ("description", "storage", "resources", "max_failures", "corpora", "tune")
# Per-target architecture overrides count for the hash (they decide numbers); where their file
# lies does not.

# Part of every spec hash: bumped when paragrid itself computes other numbers for the same spec,
# so finished trials of an older version are not mixed into a resumed run (2: random streams
# per role, per-speaker label order in the stratified folds; 3: the forgetting probe's gradient
# written out, the same algorithm with other float32 rounding; 4: nested fold budgets, the
# first b training folds of one seeded order per step).
NUMBERS_VERSION = 4

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A feature-set label of the grid axis: a name the corpora map to parquets, optionally '@L<n>'
# (or '@Lmean') to take one layer of a parquet that stores every layer (`--layer all`).
FEATURE_LABEL = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(@(?P<layer>L(\d+|mean)))?$")


def corpus_key(corpus: str, features: str = "") -> str:
    """The key of a corpus as one feature set gives it (the corpus name when the spec has no
    feature-set axis, so specs without one keep their keys, trial ids and hashes)."""
    return f"{corpus}|{features}" if features else corpus


def parse_features(label: str) -> tuple[str, str | None]:
    """'wavlm@L6' -> ('wavlm', 'L6'); 'egemaps' -> ('egemaps', None)."""
    m = FEATURE_LABEL.match(label)
    return (m["name"], m["layer"]) if m else (label, None)


# ----------------------------------------------------------------------------- data classes

@dataclass(frozen=True)
class Resources:
    """What one unit of work asks Ray for, and how many trials a pack holds. Not part of the spec
    hash: adding GPUs or repacking never changes a number."""

    cpu: float = 1           # CPU slots per unit (and torch threads)
    gpu: float = 0           # GPUs per unit: a fraction (0.25) shares a device, a whole number takes several
    pack: int | str = "auto"  # trials per pack, or "auto" (paragrid.grid.plan's pack_size)

    def to_dict(self) -> dict:
        return asdict(self)


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

    architecture: Architecture
    training: TrainSettings
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
    architecture: Architecture
    training: TrainSettings
    resources: Resources
    storage: str | None
    max_failures: int
    description: str = ""
    # The label set of the task: None = each corpus's own classes; a tuple = exactly these (a
    # corpus lacking one is refused); "shared" = the classes every corpus holds. Utterances of
    # other classes are left out of every corpus (docs/PROTOCOL.md, many corpora).
    classes: tuple[str, ...] | str | None = None
    # fold_scheme file: corpus name -> its published split (a CSV or a folder of JSONL lists)
    fold_files: dict[str, str] = field(default_factory=dict)
    # Per-target settings from `--architecture` (paragrid.grid.spec); a target without an
    # entry uses `architecture` / `training` as written, with origin "spec".
    per_target: dict[str, "TargetSettings"] = field(default_factory=dict)
    # Speakers left out of every corpus before folds are made: named ones, and any with fewer
    # than min_utterances utterances (0: none). Written to the resolved spec (and its hash) only
    # when set, so the hash of a spec without them is unchanged.
    exclude_speakers: tuple[str, ...] = ()
    min_utterances: int = 0
    # The feature-set axis: labels such as 'egemaps', 'wavlm@L6' (empty: no axis, each corpus
    # one parquet) and corpus -> feature-set name -> absolute parquet (`corpora` then holds
    # each corpus's parquet of the first label).
    features: tuple[str, ...] = ()
    feature_paths: dict[str, dict[str, str]] = field(default_factory=dict)

    def corpus_keys(self) -> list[tuple[str, str, str]]:
        """(key, corpus, feature-set label) of every corpus as some trial sees it."""
        if not self.features:
            return [(name, name, "") for name in self.corpora]
        return [(corpus_key(c, f), c, f) for c in self.corpora for f in self.features]

    def feature_path(self, corpus: str, features: str = "") -> str:
        """The parquet holding `corpus` under feature-set label `features` ('' = no axis)."""
        if not features:
            return self.corpora[corpus]
        return self.feature_paths[corpus][parse_features(features)[0]]

    def arch_for(self, target: str) -> Architecture:
        entry = self.per_target.get(target)
        return entry.architecture if entry else self.architecture

    def training_for(self, target: str) -> TrainSettings:
        entry = self.per_target.get(target)
        return entry.training if entry else self.training

    def origin_for(self, target: str) -> tuple[str, str | None]:
        """(architecture_origin, architecture file or None), recorded in every result row."""
        entry = self.per_target.get(target)
        return (entry.origin, entry.file) if entry else ("spec", None)

    def resolved(self) -> dict[str, Any]:
        """The spec as plain YAML-able data; loading it back gives an equal Spec."""
        doc: dict[str, Any] = {"name": self.name}
        if self.description:
            doc["description"] = self.description
        if self.features:
            doc["corpora"] = {c: dict(paths) for c, paths in self.feature_paths.items()}
            doc["features"] = list(self.features)
        else:
            doc["corpora"] = dict(self.corpora)
        doc["task"] = self.task
        doc["experiments"] = {
            e.name: {"targets": list(e.targets), "methods": list(e.methods),
                     "sources": [list(s) for s in e.sources], "budgets": list(e.budgets)}
            for e in self.experiments}
        doc.update(k=self.k, repeats=self.repeats, seed=self.seed, fold_scheme=self.fold_scheme,
                   normalisation=self.normalisation, architecture=self.architecture.to_dict(),
                   training=self.training.to_dict(), resources=self.resources.to_dict(),
                   max_failures=self.max_failures)
        if self.exclude_speakers:
            doc["exclude_speakers"] = list(self.exclude_speakers)
        if self.min_utterances:
            doc["min_utterances"] = self.min_utterances
        if self.fold_files:
            doc["fold_files"] = dict(self.fold_files)
        if self.classes is not None:
            doc["classes"] = self.classes if isinstance(self.classes, str) else list(self.classes)
        if self.storage is not None:
            doc["storage"] = self.storage
        if self.per_target:
            doc["per_target"] = {t: {"architecture": e.architecture.to_dict(), "training": e.training.to_dict(),
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
        doc["corpora"] = {key: fingerprints[key] for key in sorted(k for k, _, _ in self.corpus_keys())}
        if self.fold_files:  # the split's content decides the numbers, not where the file lies
            doc["fold_files"] = {name: _content_digest(path) for name, path in sorted(self.fold_files.items())}
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
    features: str = ""  # the feature-set label of the spec's axis; '' when the spec has none

    @property
    def sources_label(self) -> str:
        return "+".join(self.sources) if self.sources else "none"

    @property
    def trial_id(self) -> str:
        """Deterministic, readable, and safe as a folder name on any filesystem or bucket."""
        src = self.sources_label.replace("@", "_at_")
        fs = f".{self.features.replace('@', '_at_')}" if self.features else ""
        return f"{self.method}.{src}.{self.target}{fs}.b{self.budget}.r{self.repeat}"


# ----------------------------------------------------------------------------- loading


# ----------------------------------------------------------------------------- validation

def _content_digest(path: str) -> str:
    p = Path(path)
    files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def parse_source(name: str) -> tuple[str, str | None]:
    """'speaker' -> ('speaker', None); 'emotion@synth-b' -> ('emotion', 'synth-b')."""
    task, _, corpus = name.partition("@")
    return task, (corpus or None)


