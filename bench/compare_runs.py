"""Two finished runs of the same spec, compared number by number: are their results identical?

Why: a change that must not move any number (a refactor, a new packing, another machine's
scheduling) is checked on a whole run, not on a unit test's toy: every (trial, fold) row of
results.parquet and every recorded epoch of curves.parquet, every column that a number or a
setting lives in. Only what describes where and how fast a run went is left out (wall time,
host, pack): packing is decided from this machine's timing, and packed equals unpacked.

Run (two run folders, e.g. the demo at an older commit and now):
    .venv/bin/python bench/compare_runs.py BEFORE/runs/demo AFTER/runs/demo [--record]
Exit status 0 when identical, 1 when anything differs (the differing columns are printed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import benchlib

# Where and how fast a run went: differs between two runs of the same numbers.
RUN_LOCAL = ("wall_s", "node", "hostname", "pack_id", "pack_size", "gpu_id")


def parse_args(argv=None):
    ap = benchlib.parser(__doc__)
    ap.add_argument("before", type=Path, help="run folder (holding results.parquet)")
    ap.add_argument("after", type=Path, help="run folder of the same spec to compare with")
    return ap.parse_args(argv)


def _sorted(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def _equal(u, v) -> bool:
    """Exactly equal, a missing value (None, NaN, pd.NA) equal only to a missing value."""
    u_na, v_na = u is None or u is pd.NA or (isinstance(u, float) and np.isnan(u)), \
        v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
    if u_na or v_na:
        return u_na and v_na
    return bool(u == v)


def compare(before: pd.DataFrame, after: pd.DataFrame, key: list[str], skip=()) -> dict:
    """Rows matched on `key`; per column, whether every value is equal (NaN equals NaN)."""
    out = {"rows_before": len(before), "rows_after": len(after), "differing": {}, "missing": [], "extra": []}
    cols_b, cols_a = set(before.columns) - set(skip), set(after.columns) - set(skip)
    out["missing"], out["extra"] = sorted(cols_b - cols_a), sorted(cols_a - cols_b)
    if len(before) != len(after):
        out["differing"]["<rows>"] = f"{len(before)} rows before, {len(after)} after"
        return out
    b, a = _sorted(before, key), _sorted(after, key)
    if not b[key].equals(a[key]):
        out["differing"]["<keys>"] = "the two runs hold different (trial, fold) rows"
        return out
    for col in sorted(cols_b & cols_a):
        x, y = b[col].astype(object).to_numpy(), a[col].astype(object).to_numpy()
        same = np.array([_equal(u, v) for u, v in zip(x, y)], dtype=bool)
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            out["differing"][col] = f"{int((~same).sum())} row(s), first: {x[i]!r} vs {y[i]!r}"
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    load_before = benchlib.load()
    res = compare(pd.read_parquet(args.before / "results.parquet"), pd.read_parquet(args.after / "results.parquet"),
                  ["trial_id", "fold"], RUN_LOCAL)
    cur = compare(pd.read_parquet(args.before / "curves.parquet"), pd.read_parquet(args.after / "curves.parquet"),
                  ["trial_id", "fold", "epoch"])
    identical = not (res["differing"] or cur["differing"] or res["missing"] or cur["missing"])
    rows = [["results.parquet", res["rows_before"], res["rows_after"], len(res["differing"]) or "none",
             ", ".join(res["missing"]) or "-"],
            ["curves.parquet", cur["rows_before"], cur["rows_after"], len(cur["differing"]) or "none",
             ", ".join(cur["missing"]) or "-"]]
    body = benchlib.md_table(["table", "rows before", "rows after", "columns differing", "columns missing"], rows)
    for name, r in (("results", res), ("curves", cur)):
        for col, what in r["differing"].items():
            body += f"\n- {name}.{col}: {what}"
    body += (f"\n\n{'IDENTICAL' if identical else 'DIFFERENT'}: every (trial, fold) row and recorded epoch, "
             f"all columns but {', '.join(RUN_LOCAL)}.")
    info = benchlib.machine()
    benchlib.emit(benchlib.section("Two runs compared number by number", info, load_before, benchlib.load(), body),
                  {"identical": identical, "results": res, "curves": cur}, args.record)
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
