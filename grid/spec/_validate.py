"""Validation of a parsed spec: every key and value checked, defaults filled in, a `Spec` out.

Everything is checked here, before Ray starts, so a typo costs one line of error instead of a
cluster's worth of failed trials; unknown keys are refused with a did-you-mean, never ignored.
"""
from __future__ import annotations

from numbers import Integral
from pathlib import Path
from typing import Any

from paragrid.errors import UserError
from paragrid.grid.spec._checks import (as_int as _int, as_list as _list, as_num as _num, as_str as _str,
                                        check_keys as _check_keys, one_of as _one_of)
from paragrid.grid.spec._corpora import corpora_of as _corpora
from paragrid.grid.spec._loo import fold_files_k, leave_one_out_k, leave_one_out_repeats
from paragrid.grid.spec._model import (_NAME, DEFAULT_ARCHITECTURE, DEFAULT_TRAINING, FOLD_SCHEMES, GRID_KEYS,
                                       LEAVE_ONE_OUT,
                                       NORMALISATIONS, REQUIRED, SPEAKER_DISJOINT, SPECIAL_CORPORA, TOP_KEYS,
                                       Experiment,
                                       Resources, Spec, parse_source)
from paragrid.grid.spec._search_space import parse_tune_block
from paragrid.models.config import (ACTIVATIONS, CLASS_WEIGHTS, INITS, METHODS, OPTIMIZERS, PRECISIONS, UPDATES,
                                    Architecture,
                                    TrainSettings)


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
        if corpus is not None and corpus not in SPECIAL_CORPORA:
            _one_of(corpus, corpora, f"{label}sources corpus of '{s}'", where)
        if corpus in SPECIAL_CORPORA[1:] and len(corpora) < 2:
            raise UserError(f"{where}: {label}sources: '{s}' needs at least two corpora (spec has one)")
        if corpus is None and task == spec["task"]:
            raise UserError(f"{where}: {label}sources: '{s}' is the target task on the target corpus "
                            f"itself; did you mean '{s}@other'?")
        if corpus == "other" and len(corpora) != 2:
            raise UserError(f"{where}: {label}sources: '{s}' needs exactly two corpora to know which is "
                            f"the other one (spec has {len(corpora)}); name it: '{task}@<corpus>', or "
                            f"write '{task}@each-other' (one trial per other corpus) or "
                            f"'{task}@all-others' (all of them at once)")
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

    corpora, features, feature_paths = _corpora(doc, base, features_dir, where)
    spec: dict[str, Any] = {"corpora": corpora}
    spec["task"] = _str(doc.get("task", "emotion"), "task", where)
    spec["k"] = _int(doc.get("k", 10), "k (folds)", where, 3)
    spec["repeats"] = _int(doc.get("repeats", 10), "repeats", where, 1)
    if spec["repeats"] > 1000:
        raise UserError(f"{where}: repeats must be <= 1000, got {spec['repeats']}")
    spec["seed"] = _int(doc.get("seed", 0), "seed", where, 0)
    spec["fold_scheme"] = _one_of(doc.get("fold_scheme", "speaker-stratified"), FOLD_SCHEMES,
                                  "fold_scheme", where)
    fold_files = _fold_files(doc, spec["fold_scheme"], corpora, base, features_dir, where)
    if fold_files:  # published splits: k = the number of folds in the files
        spec["k"] = fold_files_k(fold_files, doc.get("k"), where)
    elif spec["fold_scheme"] in LEAVE_ONE_OUT:  # leave-one-out: k = number of units, 1 repeat
        spec["k"] = leave_one_out_k(spec["fold_scheme"], doc.get("k"), corpora, where)
        spec["repeats"] = leave_one_out_repeats(spec["fold_scheme"], doc.get("repeats"), where)
    spec["normalisation"] = _one_of(doc.get("normalisation", "train"), NORMALISATIONS,
                                    "normalisation", where)

    arch = parse_architecture(_block(doc, "architecture", DEFAULT_ARCHITECTURE, where), where)
    tr = parse_training(_block(doc, "training", DEFAULT_TRAINING, where), where)
    if doc.get("tune") is not None:
        # `paragrid tune` reads this block; `paragrid run` only checks it so a typo fails early.
        parse_tune_block(doc["tune"], where, optimizer=tr.optimizer)

    res = _block(doc, "resources", Resources().to_dict(), where)
    res["cpu"] = _num(res["cpu"], "resources.cpu", where, 0.0, strict=True)
    res["gpu"] = _num(res["gpu"], "resources.gpu", where, 0.0)
    if res["pack"] != "auto":
        res["pack"] = _int(res["pack"], "resources.pack (trials per pack, or auto)", where, 1)
    if isinstance(res["gpu"], float) and res["gpu"] > 1 and not res["gpu"].is_integer():
        raise UserError(f"{where}: resources.gpu must be a fraction <= 1 or a whole number, got {res['gpu']}")

    storage = doc.get("storage")
    storage = None if storage is None else _str(storage, "storage", where)
    max_failures = _int(doc.get("max_failures", 2), "max_failures", where, 0)
    excluded = doc.get("exclude_speakers") or []
    if isinstance(excluded, (str, int)) or not isinstance(excluded, list):
        raise UserError(f"{where}: exclude_speakers must be a list of speaker ids, e.g. "
                        "exclude_speakers: [Ses01F, Ses01M]")
    min_utterances = _int(doc.get("min_utterances", 0), "min_utterances (per speaker)", where, 0)
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

    if fold_files and any(b != spec["k"] - 2 for e in experiments for b in e.budgets):
        raise UserError(f"{where}: fold_scheme file trains on the published training lists: budgets must "
                        f"be [all] (fold budgets need the k-fold schemes)")
    return Spec(name=name, origin=origin, corpora=corpora, task=spec["task"], classes=_classes(doc, where),
                fold_files=fold_files,
                experiments=tuple(experiments), k=spec["k"], repeats=spec["repeats"],
                seed=spec["seed"], fold_scheme=spec["fold_scheme"],
                normalisation=spec["normalisation"], architecture=arch, training=tr,
                resources=Resources(**res), storage=storage, max_failures=max_failures,
                description=description.strip(), features=features, feature_paths=feature_paths,
                exclude_speakers=tuple(dict.fromkeys(str(s) for s in excluded)), min_utterances=min_utterances)


def _fold_files(doc: dict, scheme: str, corpora: dict, base: Path, features_dir: Path | None,
                where: str) -> dict[str, str]:
    """`fold_files: {corpus: CSV or JSONL folder}`, required exactly under fold_scheme file."""
    given = doc.get("fold_files")
    if scheme != "file":
        if given is not None:
            raise UserError(f"{where}: fold_files is read only under fold_scheme: file")
        return {}
    if not isinstance(given, dict) or set(given) != set(corpora):
        raise UserError(f"{where}: fold_scheme file needs fold_files naming a split for every corpus "
                        f"({', '.join(corpora)}): a CSV utterance_id,fold or a folder of EmoBox JSONL lists")
    out = {}
    for name, raw in given.items():
        p = Path(_str(raw, f"fold_files.{name}", where)).expanduser()
        found = [c for c in ([p] if p.is_absolute() else [base / p] + ([features_dir / p] if features_dir else []))
                 if c.exists()]
        if not found:
            raise UserError(f"{where}: fold_files.{name}: {p} not found (relative paths are read from the "
                            f"spec's folder or --features-dir)")
        out[name] = str(found[0].resolve())
    return out


def _classes(doc: dict, where: str) -> tuple[str, ...] | str | None:
    """`classes: [angry, happy, ...]` (exactly these), `classes: shared` (those all corpora hold)."""
    value = doc.get("classes")
    if value is None or value == "shared":
        return value
    names = [_str(c, "classes entry", where) for c in _list(value, "classes", where)]
    if len(set(names)) != len(names) or len(names) < 2:
        raise UserError(f"{where}: classes must name at least two distinct classes or be 'shared', "
                        f"got {value!r}")
    return tuple(sorted(names))


def parse_architecture(arch: dict, where: str) -> Architecture:
    """An `architecture:` block with every key present (defaults filled in), checked key by key
    with one-line errors naming the spec, as an Architecture."""
    arch["layers"] = _int(arch["layers"], "architecture.layers", where, 1)
    arch["width"] = _int(arch["width"], "architecture.width", where, 1)
    arch["activation"] = _one_of(arch["activation"], ACTIVATIONS, "architecture.activation", where)
    arch["dropout"] = float(_num(arch["dropout"], "architecture.dropout", where, 0.0, maximum=0.95))
    arch["init"] = _one_of(arch["init"], INITS, "architecture.init", where)
    return _built(Architecture, arch, where)


def parse_training(tr: dict, where: str) -> TrainSettings:
    """A `training:` block with every key present (defaults filled in), checked key by key, as
    TrainSettings."""
    tr["lr"] = float(_num(tr["lr"], "training.lr", where, 0.0, strict=True))
    tr["optimizer"] = _one_of(tr["optimizer"], OPTIMIZERS, "training.optimizer", where)
    tr["batch_size"] = _int(tr["batch_size"], "training.batch_size", where, 1)
    tr["max_epochs"] = _int(tr["max_epochs"], "training.max_epochs", where, 1)
    if tr["patience"] is not None:
        tr["patience"] = _int(tr["patience"], "training.patience (or null for none)", where, 1)
    tr["curve_stride"] = _int(tr["curve_stride"], "training.curve_stride", where, 1)
    tr["weight_decay"] = float(_num(tr["weight_decay"], "training.weight_decay", where, 0.0))
    tr["updates"] = _one_of(tr["updates"], UPDATES, "training.updates", where)
    tr["precision"] = _one_of(tr.get("precision", "fp32"), PRECISIONS, "training.precision", where)
    tr["class_weights"] = _one_of(tr["class_weights"], CLASS_WEIGHTS, "training.class_weights", where)
    return _built(TrainSettings, tr, where)


def _built(settings_type, values: dict, where: str):
    """The settings dataclass; its own checks (e.g. a dropout rate the masks cannot represent)
    name the spec file too."""
    try:
        return settings_type(**values)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None


def _block(doc: dict, key: str, defaults: dict, where: str) -> dict:
    value = doc.get(key)
    if value is None:
        return dict(defaults)
    if not isinstance(value, dict):
        raise UserError(f"{where}: {key} must be a mapping with keys {', '.join(defaults)}")
    _check_keys(value, tuple(defaults), where, prefix=f"{key}.")
    return {**defaults, **value}
