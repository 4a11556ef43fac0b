"""Views of the results tables: Table 2, the cross-corpus table, and the protocol checks.

Each view is rendered twice, without and with Holm's correction (the header's switch shows
one); everything else about a cell - its origin, design and flags - is the same in both.
"""

from __future__ import annotations

import pandas as pd

from paragrid.analysis.plots import best_epoch_positions, budget_curves, table2_bars
from paragrid.analysis.report._analyse import Analysis
from paragrid.analysis.report._dashboard import (Section, esc, figure_html, frame_html, note_html,
                                                 table_html, variants_html)
from paragrid.analysis.report._study import Study, overview_text
from paragrid.analysis.report._tables import table2_columns
from paragrid.analysis.stats import (CAP_WHY, CHANCE_WHY, DISAGREE_WHY, TEST_LABEL, Design,
                                     cell_of, design_note, fmt_measured, fmt_num, method_label,
                                     origin_label)

def tests_txt(test: str) -> str:
    return (f"by the {esc(TEST_LABEL[test])} on repeated k-fold cells (on leave-one-speaker/"
            "session-out cells by a paired test over the speakers; the notes under each table "
            "name the test used)")


HOVER_TXT = ("Hover a cell for the test and correction behind its marker, every comparison it "
             "is in, and its protocol flags (⚑).")


def overview(off: Analysis, on: Analysis, summary: pd.DataFrame, test: str, alpha: float,
             study: Study) -> Section:
    heading, first = overview_text(study, summary)
    sec = Section("overview", heading,
                  f"{esc(first)} <b>{esc(study.caption)}</b>. Columns: target corpus and "
                  "the architecture's origin (cells of different origins are never pooled). Cells: "
                  "mean over repeats of the per-repeat mean fold UAR ± mean over repeats of the "
                  f"per-repeat std (ddof = 1). {esc(study.legend())}, {tests_txt(test)}. "
                  f"Under each cell: repeats × folds finished. {HOVER_TXT} The bar "
                  "chart's axis starts at 0 with the chance level marked; the zoom is a button.")
    if off.t2 is None:
        sec.body.append(note_html("No paralinguistic-transfer rows in the results yet."))
    else:
        cols = table2_columns(summary)
        parts = []
        for a in (off, on):
            html = table_html(a.t2)
            fig = table2_bars(summary, cols, a.ctx)
            parts.append(html + (figure_html(fig) if fig is not None else ""))
        sec.body.append(variants_html(*parts))
    sec.body.append("<details><summary>All cells (summary.csv)</summary>"
                    + cells_frame_html(summary) + "</details>")
    return sec


def cells_frame_html(summary: pd.DataFrame) -> str:
    cols = {"target": "target", "task": "task", "sources": "sources", "method": "method",
            "budget": "budget", "architecture_origin": "architecture", "feature_set": "features",
            "design": "folds",
            "n_repeats": "repeats", "n_folds": "fold results", "uar_mean": "UAR",
            "uar_std": "within-repeat std", "uar_std_of_repeat_means": "std of repeat means",
            "source_uar_before": "source UAR before", "source_uar_after": "after (source head)",
            "source_probe_uar_after": "after (linear probe)"}
    df = summary[list(cols)].rename(columns=cols)
    df["method"] = df["method"].map(method_label)
    df["architecture"] = df["architecture"].map(origin_label)
    probe = dict(zip(df.index, summary["probe_measured"]))
    df["after (linear probe)"] = [fmt_measured(v, probe[i]) for i, v in df["after (linear probe)"].items()]
    num = {c: fmt_num for c in ["UAR", "within-repeat std", "std of repeat means",
                                "source UAR before", "after (source head)"]}
    return frame_html(df, formats=num)


def cross_corpus(off: Analysis, on: Analysis, summary: pd.DataFrame, test: str, alpha: float,
                 study: Study) -> Section | None:
    """None when the spec has no cross-corpus experiment (no empty section)."""
    if off.cc is None:
        return None
    sec = Section("crosscorpus", "Cross-corpus",
                  ("Experiment 2 (the paper's Figure 4): " if study.paper else "")
                  + "the source model learned the task on another corpus (all of it); the target "
                  "model saw only a fold budget of its training folds. Rows are the methods, columns "
                  f"the budgets per direction and architecture origin. <b>{esc(study.caption)}</b>. "
                  f"{esc(study.legend())}, {tests_txt(test)}. In the chart, stars "
                  f"mark budgets where a transfer method is significantly better than the DNN; the "
                  f"dotted line is chance. {HOVER_TXT}")
    parts = []
    for a in (off, on):
        fig = budget_curves(summary, a.sig, alpha)
        parts.append(table_html(a.cc) + (figure_html(fig) if fig is not None else ""))
    sec.body.append(variants_html(*parts))
    return sec


def _agreement(r, disagreements: list[str]) -> str:
    if r["method"] == "dnn":
        return ""                      # the baseline: its comparisons are flagged on the others
    if Design(r["fold_scheme"], int(r["k"]), int(r["n_repeats"])).unit:
        return "n/a (leave-one-out)"   # neither repeated-CV test applies
    return "disagree" if disagreements else "agree"


def _checks_frame(summary: pd.DataFrame, a: Analysis) -> tuple[pd.DataFrame, list[str], list[str]]:
    rows, classes, titles = [], [], []
    for _, r in summary.iterrows():
        cell = cell_of(r)
        flags = a.ctx.flags.get(cell)
        dis = flags.disagreements if flags else []
        cap = f"{r['n_cap_bound']} of {r['n_cap_known']}" if r["n_cap_known"] else "not measured"
        chance = f"{r['n_chance']} of {r['n_chance_known']}" if r["n_chance_known"] else "not measured"
        rows.append({"target": r["target"], "sources": r["sources"],
                     "method": method_label(r["method"]), "budget": r["budget"],
                     "architecture": origin_label(r["architecture_origin"]), "folds": r["design"],
                     "cap-bound folds": cap, "folds at chance": chance,
                     "calibrated vs corrected": _agreement(r, dis),
                     "mean best epoch": fmt_num(r["best_epoch_mean"], 1)})
        classes.append("flagged" if flags is not None and flags.any else "")
        titles.append("\n".join(dis))
    return pd.DataFrame(rows), classes, titles


def checks(results: pd.DataFrame, summary: pd.DataFrame, off: Analysis, on: Analysis,
           test: str) -> Section:
    sec = Section("checks", "Protocol checks",
                  "Traps that can make a cell's number or its marker wrong, counted per cell. "
                  f"<b>{esc(CAP_WHY)}</b> (the cap is each fold's <code>epoch_cap</code>, or "
                  "<code>max_epochs</code> in older results). "
                  f"<b>{esc(CHANCE_WHY)}</b> (the trainer's one-class warning). "
                  f"<b>Calibrated vs corrected</b>: {esc(DISAGREE_WHY)}")
    designs = [Design(r["fold_scheme"], int(r["k"]), int(r["n_repeats"])) for _, r in summary.iterrows()]
    note = design_note(designs, test)
    if note:
        sec.body.append(note_html(esc(note), "warn"))
    parts = []
    for a in (off, on):
        df, classes, titles = _checks_frame(summary, a)
        parts.append(frame_html(df, row_classes=classes, titles=titles))
    sec.body.append(variants_html(*parts))
    fig = best_epoch_positions(results)
    if fig is not None:
        sec.body.append(figure_html(fig))
    else:
        sec.body.append(note_html("No best_epoch column in the results: cap-bound folds not measured."))
    return sec
