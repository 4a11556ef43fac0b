"""`paragrid report RUNDIR`: statistics, tables and the dashboard of a run, in one call.

Reads RUNDIR/results.parquet (and curves.parquet, tune/ when present), writes RUNDIR/report/:
  index.html                     the dashboard (self-contained, offline)
  table2.md/.csv/.tex            Experiment 1, the paper's Table 2 layout (when it has rows)
  crosscorpus.md/.csv/.tex       Experiment 2, UAR by fold budget per direction (when it has rows)
  summary.csv                    every cell's statistics and protocol flags
  significance.csv               every comparison under every applicable test
and prints the Table-2 summary as Markdown. Every file is written atomically, so the command can
be re-run on a grid that is still writing results; a table with no rows is not written (and an
old copy is removed), and the page's footer links exactly the files this run wrote.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from paragrid.analysis.report import _views_cells as views_cells
from paragrid.analysis.report import _views_tables as views_tables
from paragrid.analysis.report import _views_tests as views_tests
from paragrid.analysis.report._analyse import Analysis, analyse
from paragrid.analysis.report._dashboard import esc
from paragrid.analysis.report._page import render_page, write_atomic
from paragrid.analysis.report._study import describe, study_of
from paragrid.analysis.report._views_header import header
from paragrid.analysis.report._views_matrix import matrix
from paragrid.analysis.report._views_tuning import tuning
from paragrid.analysis.stats import (Design, check_test, comparison_tests, load_curves,
                                     load_results, summarise, table_test)
from paragrid.errors import UserError
from paragrid.grid.store import under_trained_line


def write_report(rundir: Path, compare_paper: bool = False, alpha: float = 0.05, *,
                 test: str = "auto", holm: bool = False, quiet: bool = False,
                 unit_test: str = "paired", flags: bool = False) -> Path:
    """Write RUNDIR/report/ and return the path of index.html.

    `test` picks the significance test used for the markers of repeated k-fold cells: 'auto'
    (the default: the calibrated test on 10 x 10-fold cells, which it was calibrated for, the
    corrected test on any other design), 'calibrated' or 'corrected'; the naive test is always reported
    beside them and never used for markers. `unit_test` picks it for leave-one-speaker/session-
    out cells: 'paired' (t over the speakers, df = n - 1, the default) or 'wilcoxon'. `holm`
    applies Holm's correction within each table in the written files and sets the dashboard's
    switch (the page holds both variants). Each table carries one line of flag counts; `flags`
    adds every flag's details to the Markdown files and the printed tables.
    """
    rundir = Path(rundir)
    if not 0.0 < alpha < 1.0:
        raise UserError(f"--alpha {alpha}: must lie strictly between 0 and 1 (e.g. 0.05)")
    check_test(test, unit_test)
    results_path = rundir / "results.parquet"
    results = load_results(results_path)
    curves = load_curves(rundir / "curves.parquet", results)

    summary = summarise(results)
    test = table_test(test, [Design(r["fold_scheme"], int(r["k"]), int(r["n_repeats"]))
                             for _, r in summary.iterrows()])  # "auto" named by what it chose
    tests = comparison_tests(results, test, unit_test, str(results_path))
    off, on = (analyse(results, summary, test=test, unit_test=unit_test, alpha=alpha, holm=h,
                       compare_paper=compare_paper, tests=tests) for h in (False, True))
    chosen = on if holm else off
    study = study_of(results, summary, test, unit_test, alpha)
    warning = under_trained_line(results)
    for a in (off, on):
        for table in (a.t2, a.cc):
            describe(table, study, summary)
            if table is not None and warning:
                table.notes.append(f"Warning: {warning}.")

    out = rundir / "report"
    out.mkdir(parents=True, exist_ok=True)
    written = _write_tables(out, chosen, flags)
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    write_atomic(out / "significance.csv",
                 chosen.sig.drop(columns=["diffs"], errors="ignore").to_csv(index=False))
    written += ["summary.csv", "significance.csv"]

    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        views_tables.overview(off, on, summary, test, alpha, study),
        views_tables.cross_corpus(off, on, summary, test, alpha, study),
        views_tables.checks(results, summary, off, on, test),
        views_cells.learning_curves(curves),
        views_tests.significance(off, on, test, unit_test, alpha, compare_paper),
        views_tests.differences(off.sig),
        views_cells.confusion(results),
        views_cells.forgetting(summary),
        tuning(rundir),
    ]
    transfer = matrix(off, on, alpha)  # many corpora: after the cross-corpus table
    if transfer is not None:
        sections.insert(2, transfer)
    names = ", ".join(sorted(results["spec_name"].astype(str).unique())) \
        if "spec_name" in results else rundir.name
    page = render_page(
        title=f"paragrid report · {names}", subtitle=names,
        header_html=header(rundir, results, summary, test, alpha, holm, generated, study.caption,
                           warning),
        sections=[s for s in sections if s is not None], footer=footer_html(len(results), generated, written, holm), holm=holm)
    index = write_atomic(out / "index.html", page)

    if not quiet:
        print(_stdout_summary(chosen, study, flags))
        print(f"dashboard: {index}")
    return index


def _write_tables(out: Path, a: Analysis, flags: bool = False) -> list[str]:
    """table2.* and crosscorpus.*; returns the names written (a table without rows: none, and
    any copy an earlier report left is removed, since a stale table would mislead)."""
    written = []
    for name, table in (("table2", a.t2), ("crosscorpus", a.cc)):
        for ext in ("md", "csv", "tex"):
            path = out / f"{name}.{ext}"
            if table is None:
                path.unlink(missing_ok=True)
                continue
            text = table.to_markdown(flags) if ext == "md" else table.to_csv() if ext == "csv" else table.to_latex()
            write_atomic(path, text)
            written.append(path.name)
    return written


def footer_html(n_rows: int, generated: str, written: list[str], holm: bool) -> str:
    links = ", ".join(f'<a href="{esc(name)}">{esc(name)}</a>' for name in written)
    which = "with" if holm else "without"
    return (f"Generated by <code>paragrid report</code> from {n_rows} rows of results.parquet, "
            f"{esc(generated)}. Written next to this page ({which} Holm's correction, as "
            f"<code>--holm</code> asked): {links}.<br>{DISCLOSURES}")


# What a reviewer asks to see disclosed (docs/PROTOCOL.md, "What a reviewer should see disclosed").
DISCLOSURES = (
    "Disclosed: the networks minimise cross-entropy, unweighted unless a row's "
    "<code>class_weights</code> says <code>balanced</code>, while the metric, UAR, weighs classes "
    "equally; the target methods of a repeat share their random streams (common random numbers), "
    "so the paired differences are correlated beyond the fold overlap the calibrated test's df = 10 "
    "was calibrated for (the corrected test and the speaker bootstrap are shown beside it); "
    "<code>tuned-nested</code> is leakage-free only with <code>normalisation: train</code> (under "
    "<code>corpus</code> its rows say <code>tuned-nested-corpus-norm</code>); the nested outer DNN "
    "uses the grid DNN's random streams. See docs/PROTOCOL.md.")


def _stdout_summary(a: Analysis, study, flags: bool) -> str:
    """The tables as Markdown (each with its caption, legend, notes and one flags line)."""
    parts = []
    for table in (a.t2, a.cc):
        if table is not None:
            parts += [f"## {table.title}", "", table.to_markdown(flags)]
    if not parts:
        parts.append("(no tables: the results hold no transfer rows yet)")
    return "\n".join(parts)
