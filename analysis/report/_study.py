"""What study a report describes, read from its own results: the words its headings, captions
and legends use.

A report describes the run it is given, not the paper: the paper's names ("Table 2",
"Experiment 1") appear only for the paper's own built-in specs (grid/specs/paper-*.yaml); every
table caption and the dashboard header name the fold scheme, the design (k x repeats, or the
leave-one-out unit), the normalisation and the test behind the markers; and the marker legend
counts the methods actually compared (with one transfer method there is no `†`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from paragrid.analysis.stats import TEST_SHORT, Design, method_label, method_rank
from paragrid.grid.spec import builtin_names


def paper_spec_names() -> set[str]:
    return {n for n in builtin_names() if n.startswith("paper")}


@dataclass(frozen=True)
class Study:
    paper: bool          # every row comes from one of the paper's built-in specs
    caption: str         # fold scheme · design · normalisation · marker test
    methods: list[str]   # transfer methods compared (labels), in table order
    most_compared: int   # the most methods compared with each other on one source set, DNN included
    alpha: float = 0.05

    def legend(self) -> str:
        """The marker legend (plain text), counting the methods compared."""
        star = f"* significantly better than the DNN at p < {self.alpha:g}"
        if self.most_compared <= 2:
            return f"{star}; one transfer method per source set, so no †"
        others = "both other methods" if self.most_compared == 3 else f"all {self.most_compared - 1} other methods"
        return f"{star}; † significantly better than {others} on the same source set"


def study_of(results: pd.DataFrame, summary: pd.DataFrame, test: str, unit_test: str, alpha: float) -> Study:
    names = set(results["spec_name"].astype(str)) if "spec_name" in results else set()
    paper = bool(names) and names <= paper_spec_names()
    designs = sorted({Design(r["fold_scheme"], int(r["k"]), int(r["n_repeats"])) for _, r in summary.iterrows()},
                     key=lambda d: d.label())
    schemes = sorted({d.scheme for d in designs})
    norm = sorted(results["normalisation"].dropna().astype(str).unique()) if "normalisation" in results else []
    tests = []
    if any(d.unit is None for d in designs):
        tests.append(TEST_SHORT[test])
    if any(d.unit is not None for d in designs):
        tests.append(f"{TEST_SHORT[unit_test]} (leave-one-out)")
    parts = [f"{' + '.join(schemes) or 'unknown'} folds",
             ", ".join(d.label() for d in designs) or "no folds yet",
             f"normalisation {' + '.join(norm) or 'not recorded'}",
             f"markers: {' and '.join(tests) or 'none'}"]
    transfer = summary[summary["method"] != "dnn"]
    per_set = transfer.groupby(["task", "target", "budget", "architecture_origin", "sources"])["method"].nunique()
    methods = sorted(transfer["method"].unique().tolist(), key=method_rank)
    return Study(paper, " · ".join(parts), [method_label(m) for m in methods],
                 int(per_set.max()) + 1 if len(per_set) else 1, alpha)


def describe(table, study: Study, summary: pd.DataFrame) -> None:
    """Give a table its caption and legend, and outside the paper's specs a title of its own."""
    if table is None:
        return
    table.caption, table.legend = study.caption, study.legend()
    if study.paper:
        return
    if table.name == "table2":
        rows = summary[summary["kind"] == "transfer"]
        sources = ", ".join(sorted(rows["sources"].astype(str).unique())) or "no source yet"
        table.title = (f"Transfer from {sources} by {' and '.join(study.methods) or 'no method yet'} vs the "
                       f"DNN: UAR, mean ± mean within-repeat std")
    else:
        table.title = "Cross-corpus transfer: UAR by fold budget, mean ± mean within-repeat std"


def overview_text(study: Study, summary: pd.DataFrame) -> tuple[str, str]:
    """(heading, first sentence) of the transfer section."""
    if study.paper:
        return ("Overview · Table 2", "Experiment 1 (the paper's Table 2): emotion recognition on each target "
                "corpus with a source task (speaker, gender, …) transferred by PT/FT or a progressive "
                "network, against a DNN trained on the target alone.")
    rows = summary[summary["kind"] == "transfer"]
    tasks = ", ".join(sorted(summary["task"].astype(str).unique()))
    sources = ", ".join(sorted(rows["sources"].astype(str).unique())) or "no source yet"
    methods = " and ".join(study.methods) or "no transfer method yet"
    return ("Overview · transfer", f"{tasks} on each target corpus with the source task(s) {sources} "
            f"transferred by {methods}, against a DNN trained on the target alone.")
