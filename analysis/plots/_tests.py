"""Figures behind the tests: the per-fold paired differences and every comparison's p-values.

The p-value chart is on a clean log axis (_style.log_p_axis) with the α line labelled
beside it; p-values are unadjusted there (Holm changes the verdicts in the tables, not the
evidence plotted here), and every test a comparison's design allows is shown: the repeated-CV
tests for k-fold cells, the paired tests over speakers for leave-one-out cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from paragrid.analysis.plots._style import _rgba, alpha_line, log_p_axis, method_color, p_floor, style
from paragrid.analysis.stats import TEST_SHORT, method_label, origin_label


def _comparison_label(r: pd.Series, with_budget: bool, with_sources: bool) -> str:
    label = f"{method_label(r['method_a'])} − {method_label(r['method_b'])}"
    if r.get("feature_set_a", "") != r.get("feature_set_b", ""):  # a feature-set comparison
        label = f"{method_label(r['method_a'])}: {r['feature_set_a']} − {r['feature_set_b']}"
    if with_sources:
        label += f"<br>{r['sources']}"
    if with_budget:
        label += f"<br>budget {r['budget']}"
    return label


def paired_differences(sig: pd.DataFrame) -> list[tuple[str, go.Figure]]:
    """Box + points of the per-fold differences behind each test, per target (and direction)."""
    if sig.empty:
        return []
    figs = []
    many_sets = sig["feature_set"].nunique() > 1
    for (table, task, target, sources_key, origin, fs), g in _comparison_groups(sig):
        g = g[g["n_pairs"] > 0]
        if g.empty:
            continue
        fig = go.Figure()
        cross = table == "crosscorpus"
        many_budgets = g["budget"].nunique() > 1
        for _, r in g.iterrows():
            label = _comparison_label(r, with_budget=cross or many_budgets, with_sources=not cross)
            p = r["p"]
            unit = f" per {r['unit']}" if r["unit"] else ""
            fig.add_trace(go.Box(
                y=r["diffs"], name=label, boxpoints="all", jitter=0.45, pointpos=0,
                marker={"color": method_color(r["method_a"]), "size": 4, "opacity": 0.7},
                line={"color": method_color(r["method_a"]), "width": 1.5},
                fillcolor=_rgba(method_color(r["method_a"]), 0.12), showlegend=False,
                hovertemplate=f"{label.replace('<br>', ', ')}<br>Δ UAR{unit} %{{y:.3f}}<br>"
                              f"mean {r['mean_diff']:+.3f}, p = {p:.2g} unadjusted, "
                              f"{TEST_SHORT[r['test']]} ({r['n_pairs']} pairs)<extra></extra>"))
        fig.add_hline(y=0, line={"color": "#6b7280", "dash": "dash", "width": 1})
        what = (f"{sources_key.split('@')[1]} → {target}" if cross else f"{target} ({task})")
        what += (f" · {fs}" if many_sets else "") + f" · {origin_label(origin)}"
        style(fig, f"Paired per-fold UAR differences, {what}", 420, None, "Δ test UAR (A − B), per fold")
        figs.append((what, fig))
    return figs


def _comparison_groups(sig: pd.DataFrame):
    t2 = sig[sig["table"] == "table2"]
    for (task, target, origin, fs), g in t2.groupby(["task", "target", "architecture_origin", "feature_set"],
                                                    sort=True):
        yield ("table2", task, target, "", origin, fs), g
    cc = sig[sig["table"] == "crosscorpus"]
    for (task, target, sources, origin, fs), g in cc.groupby(
            ["task", "target", "sources", "architecture_origin", "feature_set"], sort=True):
        yield ("crosscorpus", task, target, sources, origin, fs), g.sort_values(["budget", "method_a", "method_b"])


STYLES = {"calibrated": ("circle", "#111827"), "corrected": ("diamond", "#2563eb"),
          "naive": ("x", "#dc2626"), "paired": ("square", "#059669"), "wilcoxon": ("triangle-up", "#d97706")}


def pvalue_dots(sig: pd.DataFrame, alpha: float) -> go.Figure | None:
    """Each comparison's p under every applicable test on one log axis: how much the naive test
    overstates, and where the calibrated and corrected tests part ways."""
    d = sig[sig["n_pairs"] >= 2]
    if d.empty:
        return None
    many_origins = d["architecture_origin"].nunique() > 1
    many_sets = "feature_set_a" in d.columns and d["feature_set_a"].nunique() > 1  # once, not per row

    def features(r) -> str:
        if r.get("feature_set_a") != r.get("feature_set_b"):  # a feature-set comparison
            return f" · {r['feature_set_a']} − {r['feature_set_b']}"
        return f" · {r['feature_set_a']}" if many_sets else ""

    labels = [f"{r['target']} b{r['budget']} · {r['sources']} · "
              f"{method_label(r['method_a'])} − {method_label(r['method_b'])}"
              + (f" · {r['architecture_origin']}" if many_origins else "") + features(r)
              for _, r in d.iterrows()]
    tests = [t for t in STYLES if d[f"p_{t}"].notna().any()]
    floor = p_floor(np.concatenate([d[f"p_{t}"].to_numpy(dtype=float) for t in tests]))
    fig = go.Figure()
    for test in tests:
        symbol, color = STYLES[test]
        p = d[f"p_{test}"].to_numpy(dtype=float)
        ok = ~np.isnan(p)
        shown = np.maximum(p[ok], floor)
        note = ["" if v >= floor else f" (p < {floor:.0e}, drawn at the axis end)" for v in p[ok]]
        fig.add_trace(go.Scatter(x=shown, y=np.asarray(labels)[ok], mode="markers",
                                 name=TEST_SHORT[test], customdata=[list(x) for x in zip(p[ok].tolist(), note)],
                                 marker={"symbol": symbol, "size": 9, "color": color},
                                 hovertemplate="%{y}<br>p = %{customdata[0]:.2g}%{customdata[1]}"
                                               "<extra>" + TEST_SHORT[test] + "</extra>"))
    alpha_line(fig, alpha)
    fig.update_xaxes(**log_p_axis(floor))
    fig.update_yaxes(autorange="reversed", automargin=True)
    style(fig, "p-value of every comparison under each applicable test (right of the line: p < α)",
          max(340, 24 * len(labels) + 160), "two-sided p (log scale, unadjusted)")
    fig.update_layout(margin={"t": 110})
    return fig
