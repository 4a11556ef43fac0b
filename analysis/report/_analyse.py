"""One pass from the results table to everything the report shows, for one Holm setting.

The dashboard offers Holm's correction as a switch, so the report runs this twice (without and
with Holm) over the same summary; the files written next to the page follow `--holm`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from paragrid.analysis.report._table_render import Table
from paragrid.analysis.report._tables import crosscorpus, table2
from paragrid.analysis.stats import Context, cell_flags, comparison_tests, decide, markers


@dataclass
class Analysis:
    holm: bool
    sig: pd.DataFrame
    ctx: Context
    t2: Table | None
    cc: Table | None


def analyse(results: pd.DataFrame, summary: pd.DataFrame, *, test: str = "auto",
            unit_test: str = "paired", alpha: float = 0.05, holm: bool = False,
            compare_paper: bool = False, source_name: str = "results.parquet",
            tests: pd.DataFrame | None = None) -> Analysis:
    """`tests`: the output of stats.comparison_tests when already computed (the two
    Holm variants of one report share it)."""
    if tests is None:
        tests = comparison_tests(results, test, unit_test, source_name)
    sig = decide(tests, alpha, holm)
    ctx = Context(markers(sig), sig, cell_flags(summary, sig), test, unit_test, compare_paper)
    return Analysis(holm, sig, ctx, table2(summary, ctx), crosscorpus(summary, ctx))
