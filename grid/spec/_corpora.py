"""A spec's `corpora` (and `features`) block: which parquet holds each corpus under each
feature set, resolved to absolute paths, every file checked to exist before Ray starts."""
from __future__ import annotations

from pathlib import Path

from paragrid.errors import UserError
from paragrid.grid.spec._checks import as_list as _list, as_str as _str
from paragrid.grid.spec._model import _NAME, FEATURE_LABEL, SPECIAL_CORPORA, parse_features


def corpora_of(doc: dict, base: Path, features_dir: Path | None, where: str
             ) -> tuple[dict[str, str], tuple[str, ...], dict[str, dict[str, str]]]:
    """(corpus -> parquet, the feature-set axis, corpus -> feature set -> parquet).

    `corpora: {name: parquet}` is one feature set per corpus (no axis); `corpora: {name:
    {set: parquet, ...}}` gives each corpus several, and `features: [set, set@L6, ...]` (default:
    every set of the first corpus) picks the axis; every corpus must hold every set it names.
    """
    corpora_in = doc["corpora"]
    if not isinstance(corpora_in, dict) or not corpora_in:
        raise UserError(f"{where}: corpora must map corpus names to feature parquets, "
                        "e.g. corpora: {{iemocap: iemocap.parquet}}")
    nested = [isinstance(v, dict) for v in corpora_in.values()]
    if any(nested) and not all(nested):
        raise UserError(f"{where}: corpora: give every corpus one parquet, or every corpus a mapping "
                        "feature set -> parquet (e.g. synth-a: {egemaps: a.parquet, wavlm: a-wavlm.parquet})")
    corpora: dict[str, str] = {}
    paths: dict[str, dict[str, str]] = {}
    for cname, value in corpora_in.items():
        cname = _str(cname, "corpus name", where)
        if not _NAME.match(cname) or cname in SPECIAL_CORPORA:
            raise UserError(f"{where}: corpus name {cname!r} must be letters, digits, '.', '_' or '-' "
                            f"(and not {', '.join(SPECIAL_CORPORA)})")
        if not any(nested):
            corpora[cname] = _resolve_corpus(cname, _str(value, f"corpora.{cname}", where),
                                             base, features_dir, where)
            continue
        if not value:
            raise UserError(f"{where}: corpora.{cname} maps no feature set to a parquet")
        paths[cname] = {}
        for fname, fpath in value.items():
            fname = _str(fname, f"corpora.{cname} feature set name", where)
            if not _NAME.match(fname):
                raise UserError(f"{where}: corpora.{cname}: feature set name {fname!r} must be letters, "
                                "digits, '.', '_' or '-'")
            paths[cname][fname] = _resolve_corpus(f"{cname}' feature set '{fname}",
                                                  _str(fpath, f"corpora.{cname}.{fname}", where),
                                                  base, features_dir, where)
    if "features" in doc and not any(nested):
        raise UserError(f"{where}: features names feature sets of the corpora, but each corpus has one "
                        "parquet: map each corpus to its sets (corpora: {name: {egemaps: a.parquet, ...}})")
    if not any(nested):
        return corpora, (), {}
    labels = _list(doc["features"], "features", where) if "features" in doc else list(next(iter(paths.values())))
    if not labels:
        raise UserError(f"{where}: features must name at least one feature set")
    for label in labels:
        label = _str(label, "features entry", where)
        fname, _ = parse_features(label)
        if not FEATURE_LABEL.match(label):
            raise UserError(f"{where}: features: bad entry {label!r}; write a feature set name, or "
                            "name@L<n> for one layer of a parquet extracted with --layer all")
        for cname, sets in paths.items():
            if fname not in sets:
                raise UserError(f"{where}: features: corpus '{cname}' has no '{fname}' parquet "
                                f"(it has {', '.join(sets)}): the corpora of a trial must share a "
                                f"feature set; add corpora.{cname}.{fname} or drop '{label}'")
    if len(set(labels)) != len(labels):
        raise UserError(f"{where}: features names a feature set twice")
    first = parse_features(labels[0])[0]
    corpora = {c: sets[first] for c, sets in paths.items()}
    return corpora, tuple(labels), paths



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
