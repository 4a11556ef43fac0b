"""The small checks every spec key goes through: one-line UserErrors with a did-you-mean.

Why not pydantic (installed with Ray): its errors are multi-line reports with its own wording
("Input should be a valid integer [type=int_type, ...]"); a spec typo here must be ONE line that
names the file, the key, the suggestion and the allowed values, before anything runs. These
seven functions give exactly that in fewer lines than the pydantic models plus the code that
would reword their errors.
"""
from __future__ import annotations

import difflib
from numbers import Integral, Real

import yaml

from paragrid.errors import UserError


def did_you_mean(word: str, allowed) -> str:
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keys(doc: dict, allowed, where: str, prefix: str = "") -> None:
    for key in doc:
        if key not in allowed:
            raise UserError(f"{where}: unknown key '{prefix}{key}'{did_you_mean(key, allowed)}; "
                            f"allowed: {', '.join(allowed)}")


def one_of(value, allowed, what: str, where: str) -> str:
    if value not in allowed:
        raise UserError(f"{where}: {what}: unknown value {value!r}{did_you_mean(value, allowed)}; "
                        f"allowed: {', '.join(allowed)}")
    return value


def as_int(value, what: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise UserError(f"{where}: {what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def as_num(value, what: str, where: str, minimum: float, *, strict: bool = False,
         maximum: float | None = None) -> float:
    bad = isinstance(value, bool) or not isinstance(value, Real)
    if not bad:
        bad = value <= minimum if strict else value < minimum
        bad = bad or (maximum is not None and value > maximum)
    if bad:
        rng = f"{'>' if strict else '>='} {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise UserError(f"{where}: {what} must be a number {rng}, got {value!r}")
    return float(value) if isinstance(value, float) else int(value)


def as_str(value, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {what} must be a non-empty string, got {value!r}")
    return value.strip()


def as_list(value, what: str, where: str) -> list:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: {what} must be a non-empty list, got {value!r}")
    return value


def parse_yaml(text: str, origin: str) -> dict:
    """A spec's (or an --architecture file's) YAML as a mapping; anything else is one line."""
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
