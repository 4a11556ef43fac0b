"""Reading a spec: a YAML file, a built-in spec by name, or a dict, into a validated `Spec`.

One reader serves `paragrid run`, `paragrid tune` (which also takes the `tune:` block from the
same document) and the Python API, so a missing file or broken YAML gives the same one line
whichever command met it.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from paragrid.errors import UserError
from paragrid.grid.spec._checks import did_you_mean, parse_yaml
from paragrid.grid.spec._model import Spec
from paragrid.grid.spec._overrides import apply_architectures
from paragrid.grid.spec._validate import validate


@dataclass
class SpecDocument:
    """A spec's YAML as data, where it came from, and the folder its relative paths start from."""

    doc: dict[str, Any]
    origin: str  # the file, "built-in <name>" or "<dict>"
    base: Path


def builtin_names() -> list[str]:
    folder = resources.files("paragrid.grid") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_spec(spec: str | Path | dict[str, Any]) -> SpecDocument:
    """The document of a spec file, a built-in spec, or a dict with the YAML's keys (copied)."""
    if isinstance(spec, dict):
        return SpecDocument(dict(spec), "<dict>", Path.cwd())
    path = Path(spec)
    if path.is_file():
        text, origin, base = path.read_text(), str(path), path.resolve().parent
    elif str(spec) in builtin_names():
        text = (resources.files("paragrid.grid") / "specs" / f"{spec}.yaml").read_text()
        origin, base = f"built-in {spec}", Path.cwd()
    elif path.suffix in (".yaml", ".yml") or path.exists():
        raise UserError(f"spec {path}: no such file; built-in specs: {', '.join(builtin_names())}")
    else:
        hint = did_you_mean(str(spec), builtin_names())
        raise UserError(f"spec '{spec}': neither a file nor a built-in spec{hint}; "
                        f"built-in specs: {', '.join(builtin_names())}")
    return SpecDocument(parse_yaml(text, origin), origin, base)


def load_spec(spec: str | Path | dict[str, Any], architecture: str | Path | list | tuple | None = None,
              features_dir: str | Path | None = None) -> Spec:
    """Load a spec file, a built-in spec by name, or a dict; apply `--architecture` entries; validate.

    Relative corpus paths are looked up in `features_dir` first (when given), then next to the
    spec file (for a built-in spec or a dict: the current folder).
    """
    source = read_spec(spec)
    parsed = validate(source.doc, origin=source.origin, base=source.base,
                      features_dir=Path(features_dir) if features_dir else None)
    if architecture:
        entries = [architecture] if isinstance(architecture, (str, Path)) else list(architecture)
        parsed = apply_architectures(parsed, source.doc, [str(e) for e in entries])
    return parsed

