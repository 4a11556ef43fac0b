"""Views of what happens inside cells: learning curves, confusion matrices, forgetting."""

from __future__ import annotations

import re

import pandas as pd

from paragrid.analysis.plots import confusion_matrices
from paragrid.analysis.plots import forgetting as forgetting_figure
from paragrid.analysis.plots import learning_curves as curve_figures
from paragrid.analysis.report._dashboard import (Section, esc, figure_html, frame_html, note_html,
                                                 selector_html)
from paragrid.analysis.stats import fmt_measured, fmt_num, method_label, origin_label


def learning_curves(curves: pd.DataFrame | None) -> Section:
    sec = Section("curves", "Learning curves",
                  "Test UAR against training epoch (the paper's Figure 3), averaged over every fold "
                  "of every repeat; the band is ± one standard deviation across those folds. Each "
                  "panel compares the transfer methods of one source set with the DNN at the same "
                  "fold budget. Folds stopped early drop out of later epochs (hover for the count).")
    figs = curve_figures(curves)
    if curves is None:
        sec.body.append(note_html("No curves.parquet in the run folder; learning curves are optional."))
    elif not figs:
        sec.body.append(note_html("curves.parquet holds no rows yet."))
    for _, fig in figs:
        sec.body.append(figure_html(fig))
    return sec


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def confusion(results: pd.DataFrame) -> Section:
    sec = Section("confusion", "Confusion",
                  "Confusion matrices of the test folds at the selected epoch, summed over all folds "
                  "and repeats of a cell, each row normalised to the recalls of that true class (the "
                  "diagonal's mean is the UAR of the pooled predictions). Every fold budget is "
                  "available: pick it in the selector above each target's matrices (the full "
                  "budget first).")
    groups, notes = confusion_matrices(results)
    for n in notes:
        sec.body.append(note_html(esc(n)))
    if not groups:
        sec.body.append(note_html("No confusion matrices in the results."))
    for label, per_budget in groups:
        sec.body.append(f"<h3>{esc(label)}</h3>")
        full = max(b for b, _ in per_budget)
        choices = [(str(b), f"{b} (full)" if b == full else str(b), figure_html(fig))
                   for b, fig in per_budget]
        sec.body.append(selector_html(f"confusion-{_slug(label)}", "fold budget", choices))
    return sec


def forgetting(summary: pd.DataFrame) -> Section:
    sec = Section("forgetting", "Forgetting",
                  "The forgetting effect, measured two ways on the source task's test folds. "
                  "<b>Source head</b>: the transferred network under the source model's own output "
                  "head (<code>source_uar_after</code>). <b>Linear probe</b>: a linear classifier "
                  "re-fitted for the source task on the transferred network's last hidden layer "
                  "(training folds only; <code>source_probe_uar_after</code>). PT/FT fine-tunes the "
                  "shared layers; a large source-head loss with a small probe loss means the head "
                  "no longer fits while the representation still holds the source task. A "
                  "progressive network freezes the source column, so its source head is unchanged. "
                  "Forgetting = mean(before − after) over folds; results written before the probe "
                  "existed show it as not measured.")
    fig = forgetting_figure(summary)
    if fig is None:
        sec.body.append(note_html("No source-task UARs in the results (no transfer rows yet, or "
                                  "the grid does not record them)."))
        return sec
    sec.body.append(figure_html(fig))
    d = summary[summary["n_source_folds"] > 0]
    measured = d["probe_measured"].tolist()
    df = pd.DataFrame({
        "target": d["target"], "sources": d["sources"], "method": d["method"].map(method_label),
        "budget": d["budget"], "architecture": d["architecture_origin"].map(origin_label),
        "before": d["source_uar_before"].map(fmt_num),
        "after: source head": d["source_uar_after"].map(fmt_num),
        "forgetting: source head": d["forgetting"].map(fmt_num),
        "after: linear probe": [fmt_measured(v, m) for v, m in zip(d["source_probe_uar_after"], measured)],
        "forgetting: linear probe": [fmt_measured(v, m) for v, m in zip(d["forgetting_probe"], measured)],
        "folds": d["n_source_folds"]})
    sec.body.append("<details><summary>Every cell with source-task UARs (all budgets)</summary>"
                    + frame_html(df.reset_index(drop=True)) + "</details>")
    return sec
