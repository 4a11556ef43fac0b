"""Views of the tests: every comparison with every applicable test, and the paired differences."""

from __future__ import annotations

import math

import pandas as pd

from paragrid.analysis.plots import paired_differences, pvalue_dots
from paragrid.analysis.report._analyse import Analysis
from paragrid.analysis.report._dashboard import (Section, esc, figure_html, frame_html, note_html,
                                                 variants_html)
from paragrid.analysis.report._paper import has_paper_figures, no_paper_note, paper_p
from paragrid.analysis.stats import (DISAGREE_WHY, TEST_LABEL, TEST_SHORT, fmt_p, method_label,
                                     origin_label)

OTHER_TESTS = ("calibrated", "corrected", "naive", "paired", "wilcoxon")
# Columns stated once above a table when every row has the same value (keeps the table narrow).
CONSTANT_OK = ("architecture", "folds", "marker test")


def _verdict(r) -> str:
    winner = method_label(r["method_a"] if r["mean_diff"] > 0 else r["method_b"])
    if math.isnan(r["p_adj"]):
        return "n/a"
    return f"{winner} better" if r["significant"] else "n.s."


def _frame(sig: pd.DataFrame, compare_paper: bool) -> tuple[pd.DataFrame, list[str]]:
    shown = [t for t in OTHER_TESTS if sig[f"p_{t}"].notna().any()]
    many_sets = "feature_set_a" in sig and pd.concat([sig["feature_set_a"], sig["feature_set_b"]]).nunique() > 1
    rows, titles = [], []
    for _, r in sig.iterrows():
        row = {"target": r["target"], "budget": r["budget"], "sources": r["sources"],
               "architecture": origin_label(r["architecture_origin"]), "folds": r["design"],
               "A − B": f"{method_label(r['method_a'])} − {method_label(r['method_b'])}"
               + (f" ({r['feature_set_a']} − {r['feature_set_b']})" if many_sets else ""),
               "pairs": f"{r['n_pairs']} ({r['n_repeats']} rep)", "Δ UAR": r["mean_diff"],
               "marker test": TEST_SHORT[r["test"]]}  # its p is in that test's own column
        if r["holm"]:
            row["p Holm"] = r["p_adj"]
        for t in shown:
            row[f"p {TEST_SHORT[t]}"] = r[f"p_{t}"]
        if compare_paper:
            pp = paper_p(r["target"], r["sources"], r["method_a"], r["method_b"])
            row["paper p"] = float("nan") if pp is None else pp
        row["verdict"] = _verdict(r) + (" ⚑ tests disagree" if r["disagree"] else "")
        rows.append(row)
        titles.append(f"Marker test: {TEST_LABEL[r['test']]}; correction: {r['correction']}"
                      + (f"\n{DISAGREE_WHY}" if r["disagree"] else ""))
    return pd.DataFrame(rows), titles


def _body(a: Analysis, alpha: float, compare_paper: bool) -> str:
    sig = a.sig
    paper = compare_paper and any(has_paper_figures(t) for t in sig["target"].unique())
    df, titles = _frame(sig, paper)
    formats = {c: fmt_p for c in df.columns if c.startswith("p ") or c == "paper p"}
    formats["Δ UAR"] = lambda v: "n/a" if pd.isna(v) else f"{v:+.3f}"
    if paper:
        formats["paper p"] = lambda v: "—" if pd.isna(v) else fmt_p(v)
    row_classes = ["sig" if " better" in v else "" for v in df["verdict"]]
    out = []
    for table, title in (("table2", "Paralinguistic transfer"), ("crosscorpus", "Cross-corpus")):
        mask = (sig["table"] == table).to_numpy()
        if mask.any():
            part = df[mask].reset_index(drop=True)
            same = [c for c in CONSTANT_OK if part[c].nunique() == 1]
            facts = [f"correction: {sig.loc[mask, 'correction'].iloc[0]}"]
            facts += [f"{c}: {part[c].iloc[0]}" for c in same]
            out.append(f"<h3>{title}</h3>" + note_html(esc("; ".join(facts)) + "."))
            out.append(frame_html(part.drop(columns=same), formats=formats,
                                  row_classes=[c for c, m in zip(row_classes, mask) if m],
                                  titles=[t for t, m in zip(titles, mask) if m]))
    if sig["disagree"].any():
        out.append(note_html(f"⚑ {esc(DISAGREE_WHY)}", "warn"))
    if compare_paper:
        missing = sorted(t for t in sig["target"].unique() if not has_paper_figures(t))
        if missing:
            out.append(note_html(f"Paper comparison: {esc(no_paper_note(missing))}."))
    return "".join(out)


def significance(off: Analysis, on: Analysis, test: str, unit_test: str, alpha: float,
                 compare_paper: bool) -> Section:
    other = [t for t in ("calibrated", "corrected") if t != test]
    sec = Section("significance", "Significance",
                  "Every pair of methods compared on identical folds (same seed, same test fold; "
                  "rows are paired on repeat and fold), within one architecture origin. Δ = mean "
                  f"UAR difference A − B. <b>k-fold cells: {esc(TEST_LABEL[test])}</b>, two-sided, "
                  f"α = {alpha:g}; shown for comparison the {esc(TEST_LABEL[other[0]])} and the "
                  "<i>naive</i> paired t-test over all k·r folds, which ignores that the training "
                  "sets overlap and therefore overstates significance (never used for markers). "
                  f"<b>Leave-one-speaker/session-out cells: {esc(TEST_LABEL[unit_test])}</b> over "
                  "the test speakers (sessions), with the other paired test beside it; the repeated-"
                  "CV tests do not apply there. The Holm switch in the header adjusts within each "
                  "table. 'n/a': fewer than two paired folds yet. Hover a row for its test and "
                  "correction.")
    if off.sig.empty:
        sec.body.append(note_html("No comparisons: the results hold no transfer rows yet."))
        return sec
    sec.body.append(variants_html(_body(off, alpha, compare_paper), _body(on, alpha, compare_paper)))
    fig = pvalue_dots(off.sig, alpha)
    if fig is not None:
        sec.body.append(figure_html(fig))
    return sec


def differences(sig: pd.DataFrame) -> Section:
    sec = Section("differences", "Paired differences",
                  "The per-fold UAR differences (A − B, one point per fold of every repeat, or per "
                  "test speaker) behind each test: the mean of these points is Δ, their spread is "
                  "what the tests weigh. Points above the dashed line are folds where A scored higher.")
    figs = paired_differences(sig)
    if not figs:
        sec.body.append(note_html("No paired folds yet."))
    for _, fig in figs:
        sec.body.append(figure_html(fig))
    return sec
