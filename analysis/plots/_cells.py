"""Per-cell figures: confusion matrices at every fold budget, and forgetting measured two ways."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paragrid.analysis.plots._style import _axis_titles, _grid, _panel_height, method_color, style
from paragrid.analysis.stats import method_label, method_rank, origin_label, sources_key

FORGET_PAD = 0.05


def _summed(rows: pd.DataFrame, what: str, notes: list[str]):
    classes = rows["classes"].dropna().unique()
    if len(classes) != 1:
        notes.append(f"{what}: rows disagree on the class list; not summed")
        return None
    try:
        total = sum(np.asarray(json.loads(c), dtype=float) for c in rows["confusion"].dropna())
    except (ValueError, TypeError):
        notes.append(f"{what}: unreadable or mis-shaped confusion JSON")
        return None
    if not isinstance(total, np.ndarray):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = total / total.sum(axis=1, keepdims=True)
    return json.loads(classes[0]), norm, total


def _matrix_figure(mats, title: str) -> go.Figure:
    nrows, ncols = _grid(len(mats))
    height, vspace = _panel_height(nrows)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[m[0] for m in mats],
                        horizontal_spacing=0.08, vertical_spacing=vspace)
    for i, (_, classes, norm, total) in enumerate(mats):
        r, c = i // ncols + 1, i % ncols + 1
        text = [[f"{v:.0%}" if np.isfinite(v) else "" for v in row] for row in norm]
        fig.add_trace(go.Heatmap(z=norm, x=classes, y=classes, coloraxis="coloraxis",
                                 text=text, texttemplate="%{text}", customdata=total,
                                 hovertemplate="truth %{y}<br>predicted %{x}<br>%{z:.1%} "
                                               "(%{customdata:.0f} utterances)<extra></extra>"),
                      row=r, col=c)
    fig.update_yaxes(autorange="reversed")  # truth rows top to bottom, as printed matrices
    _axis_titles(fig, nrows, ncols, len(mats), "predicted", "truth")
    fig.update_layout(coloraxis={"colorscale": "Blues", "cmin": 0, "cmax": 1,
                                 "colorbar": {"title": {"text": "recall"}, "tickformat": ".0%"}})
    return style(fig, title, height, legend="right")


def confusion_matrices(results: pd.DataFrame) -> tuple[list[tuple[str, list[tuple[int, go.Figure]]]], list[str]]:
    """Per (task, target, origin) and per fold budget (largest first): one row-normalised
    matrix per cell, summed over every fold of every repeat. Returns [(group label,
    [(budget, figure)])] and notes on cells that could not be shown."""
    if "confusion" not in results.columns or "classes" not in results.columns:
        return [], ["results have no confusion/classes columns"]
    groups, notes = [], []
    many_sets = results["feature_set"].nunique() > 1
    for (task, target, origin, fs), g in results.groupby(["task", "target", "architecture_origin", "feature_set"],
                                                         sort=True):
        per_budget = []
        for budget in sorted(g["budget"].unique(), reverse=True):
            at = g[g["budget"] == budget]
            cells = sorted({(r["sources"], r["method"]) for _, r in at[["sources", "method"]].iterrows()},
                           key=lambda sm: (sources_key(sm[0], target, task), method_rank(sm[1])))
            mats = []
            for sources, method in cells:
                rows = at[(at["sources"] == sources) & (at["method"] == method)]
                got = _summed(rows, f"{target} budget {budget} {method}/{sources}", notes)
                if got is not None:
                    title = method_label(method) if sources == "none" else f"{method_label(method)} · {sources}"
                    mats.append((title, *got))
            if mats:
                per_budget.append((int(budget), _matrix_figure(
                    mats, f"Confusion matrices on {target} ({task}), budget {budget}, "
                          f"{fs + ', ' if fs else ''}{origin_label(origin)}: summed over folds and "
                          "repeats, rows normalised")))
        if per_budget:
            features = f" · {fs}" if many_sets else ""
            groups.append((f"{target} ({task}){features} · {origin_label(origin)}", per_budget))
    return groups, notes


# ---------------------------------------------------------------- forgetting

def forgetting(summary: pd.DataFrame) -> go.Figure | None:
    """Source-task UAR of the source model (before) and of the transferred network after transfer,
    measured two ways: under the source model's own head ("source head") and by a linear probe
    re-fitted on the last hidden layer ("linear probe"); one panel per (target, origin) at its
    full budget (the table under the chart lists every budget)."""
    d = summary[summary["n_source_folds"] > 0]
    if d.empty:
        return None
    full = summary.groupby(["task", "target"])["budget"].max()
    d = d[[b == full[(t, g)] for t, g, b in zip(d["task"], d["target"], d["budget"])]]
    groups = list(d.groupby(["task", "target", "architecture_origin"], sort=True))
    fig = make_subplots(rows=1, cols=len(groups), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{target} ({task}), budget {full[(task, target)]}, "
                                        f"{origin_label(o)}" for (task, target, o), _ in groups])
    probe_any = bool(d["source_probe_uar_after"].notna().any())
    top = 0.0
    for i, (_, g) in enumerate(groups):
        labels = [f"{s.replace('@', '@<br>').replace('+', '+<br>')}<br><b>{method_label(m)}</b>"
                  for s, m in zip(g["sources"], g["method"])]
        colors = [method_color(m) for m in g["method"]]
        fig.add_trace(go.Bar(x=labels, y=g["source_uar_before"], name="before (source model)",
                             marker={"color": "#cbd5e1"}, showlegend=i == 0, legendgroup="before",
                             hovertemplate="%{x}<br>before %{y:.3f}<extra></extra>"), row=1, col=i + 1)
        fig.add_trace(go.Bar(x=labels, y=g["source_uar_after"], name="after: source head",
                             marker={"color": colors}, showlegend=i == 0, legendgroup="head",
                             customdata=g["forgetting"],
                             hovertemplate="%{x}<br>source head after %{y:.3f}<br>forgetting "
                                           "%{customdata:.3f}<extra></extra>"), row=1, col=i + 1)
        if probe_any:
            probe_text = ["" if pd.notna(v) else "not measured" for v in g["source_probe_uar_after"]]
            fig.add_trace(go.Bar(x=labels, y=g["source_probe_uar_after"].fillna(0.0),
                                 name="after: linear probe", text=probe_text, textposition="outside",
                                 marker={"color": colors, "pattern": {"shape": "/", "fgcolor": "white",
                                                                      "fillmode": "overlay"}},
                                 showlegend=i == 0, legendgroup="probe", customdata=g["forgetting_probe"],
                                 hovertemplate="%{x}<br>linear probe after %{y:.3f}<br>forgetting "
                                               "%{customdata:.3f}<extra></extra>"), row=1, col=i + 1)
        cols = ["source_uar_before", "source_uar_after", "source_probe_uar_after"]
        top = max(top, float(np.nanmax(g[cols].to_numpy(dtype=float))))
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=0, tickfont={"size": 11})
    fig.update_yaxes(range=[0.0, top + FORGET_PAD], autorange=False)
    fig.update_yaxes(title_text="source-task test UAR", row=1, col=1)
    title = "Forgetting: source-task UAR before and after transfer (source head, linear probe)"
    if not probe_any:
        title = "Forgetting: source-task UAR before and after transfer (source head; linear probe not measured)"
    return style(fig, title, 460, legend="right")
