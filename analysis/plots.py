"""Plotly figures of a run. Each builder returns a figure, or None when the run has no data for it.

The figures mirror the paper where it has one (Figure 3: learning curves; Figure 4: UAR against
fold budget) and add the views a grid user needs: the per-fold paired differences behind every
p-value, confusion matrices, forgetting, and the tuning history.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paragrid.analysis.cells import (CELL, cross_corpus_source, direction_label, method_color,
                                     method_label, method_rank, source_rank, sources_key)
from paragrid.analysis.significance import Cell

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
_AXIS = {"gridcolor": "#eceff3", "linecolor": "#cbd5e1", "zerolinecolor": "#cbd5e1",
         "ticks": "outside", "tickcolor": "#cbd5e1", "automargin": True}
# A small template of our own: plotly_white is a 10 kB deep copy per figure, set on ~30 figures.
TEMPLATE = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "xaxis": _AXIS, "yaxis": _AXIS,
    "colorway": ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"],
})
PATTERN = {"none": "", "speaker": "/", "gender": ".", "speaker+gender": "x"}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def style(fig: go.Figure, title: str, height: int, x_title: str | None = None,
          y_title: str | None = None, legend: str = "top") -> go.Figure:
    """Shared look. Figures with subplot titles keep their legend on the right, where it cannot
    collide with the titles."""
    place = ({"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left"}
             if legend == "top" else
             {"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.01, "xanchor": "left"})
    fig.update_layout(
        template=TEMPLATE, height=height, title={"text": title, "x": 0.01, "font": {"size": 16}},
        font={"family": FONT, "size": 12, "color": "#1f2937"},
        margin={"l": 60, "r": 20 if legend == "top" else 170, "t": 80, "b": 50},
        legend=place, hoverlabel={"font": {"family": FONT}},
    )
    fig.update_annotations(font_size=13)  # subplot titles
    if x_title:
        fig.update_xaxes(title_text=x_title)
    if y_title:
        fig.update_yaxes(title_text=y_title)
    return fig


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = min(cols, n)
    return math.ceil(n / cols), cols


PANEL_H, GAP_H, EXTRA_H = 260, 80, 130   # px: one subplot row, the gap between rows, title etc.


def _panel_height(nrows: int) -> tuple[int, float]:
    """Figure height and Plotly's relative vertical_spacing for a fixed gap in pixels."""
    height = nrows * PANEL_H + (nrows - 1) * GAP_H + EXTRA_H
    return height, (GAP_H / (height - EXTRA_H) if nrows > 1 else 0.0)


def _panel_title(sources: str, target: str, task: str, budget: int) -> str:
    src = cross_corpus_source(sources, target, task)
    if sources == "none":
        return f"DNN only · budget {budget}"
    if src:
        return f"{direction_label(src, target)} · budget {budget}"
    return f"{sources} → {task} · budget {budget}"


def _axis(kind: str, i: int) -> str:
    """Layout key of subplot i's axis (make_subplots numbers them row-major from 1)."""
    return f"{kind}axis{'' if i == 0 else i + 1}"


def _axis_titles(fig: go.Figure, rows: int, cols: int, n: int, x_title: str, y_title: str) -> None:
    """x titles under the lowest panel of each column, y titles left of each row. Set by key:
    update_xaxes(row=, col=) scans every axis per call, quadratic in the number of panels."""
    for i in range(n):
        r, c = i // cols + 1, i % cols + 1
        if r == rows or i + cols >= n:
            fig.layout[_axis("x", i)].title.text = x_title
        if c == 1:
            fig.layout[_axis("y", i)].title.text = y_title


# ---------------------------------------------------------------- overview (Table 2 as bars)

def table2_bars(summary: pd.DataFrame, columns: list[tuple[str, str, int, str]],
                marks: dict[Cell, str]) -> go.Figure | None:
    """Grouped bars of the Table 2 cells; error bars are the mean within-repeat std."""
    if not columns:
        return None
    fig = go.Figure()
    rows = summary[summary["kind"].isin(["baseline", "transfer"])]
    keys = sorted({(r["sources"], r["method"]) for _, r in rows.iterrows()
                   if r["kind"] == "transfer" or r["method"] == "dnn"},
                  key=lambda sm: (source_rank(sm[0]), method_rank(sm[1])))
    for sources, method in keys:
        xs, ys, es, texts, hovers = [], [], [], [], []
        for task, target, budget, label in columns:
            hit = rows[(rows["task"] == task) & (rows["target"] == target) & (rows["budget"] == budget)
                       & (rows["sources"] == sources) & (rows["method"] == method)]
            if hit.empty:
                continue
            rec = hit.iloc[0]
            xs.append(label)
            ys.append(rec["uar_mean"])
            es.append(0.0 if math.isnan(rec["uar_std"]) else rec["uar_std"])
            texts.append(marks.get(Cell(task, target, sources, method, budget), ""))
            hovers.append(f"{rec['n_repeats']} repeats, {rec['n_folds']} folds")
        if not xs:
            continue
        fig.add_bar(x=xs, y=ys, name=f"{sources} · {method_label(method)}",
                    error_y={"type": "data", "array": es, "thickness": 1.2, "color": "#374151"},
                    text=texts, textposition="inside", insidetextanchor="start",
                    insidetextfont={"color": "white", "size": 16},
                    marker={"color": method_color(method),
                            "pattern": {"shape": PATTERN.get(sources, "\\"), "fgcolor": "white",
                                        "fillmode": "overlay", "solidity": 0.25}},
                    customdata=hovers,
                    hovertemplate="%{x}<br>UAR %{y:.3f} ± %{error_y.array:.3f}<br>%{customdata}"
                                  "<extra>%{fullData.name}</extra>")
    if not fig.data:
        return None
    lo = float(rows["uar_mean"].min())
    fig.update_yaxes(range=[max(0.0, lo - 0.08), min(1.0, float(rows["uar_mean"].max()) + 0.06)])
    return style(fig, "UAR per source set and method (error bars: mean within-repeat std)", 430,
                 "target corpus", "test UAR")


# ---------------------------------------------------------------- learning curves (Figure 3)

def learning_curves(curves: pd.DataFrame | None) -> list[tuple[str, go.Figure]]:
    """Per (task, target): one panel per (source set, budget); mean test UAR ± std over folds."""
    if curves is None or curves.empty:
        return []
    agg = (curves.groupby(CELL + ["epoch"])["test_uar"].agg(["mean", "std", "count"]).reset_index())
    figs = []
    for (task, target), g in agg.groupby(["task", "target"], sort=True):
        transfer = g[g["method"] != "dnn"]
        panels = sorted({(r["sources"], int(r["budget"])) for _, r in transfer.iterrows()},
                        key=lambda sb: (sources_key(sb[0], target, task), -sb[1]))
        if not panels:
            panels = [("none", int(g["budget"].max()))]
        nrows, ncols = _grid(len(panels))
        height, vspace = _panel_height(nrows)
        fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=True, horizontal_spacing=0.04,
                            vertical_spacing=vspace,
                            subplot_titles=[_panel_title(s, target, task, b) for s, b in panels])
        shown = set()
        for i, (sources, budget) in enumerate(panels):
            r, c = i // ncols + 1, i % ncols + 1
            sel = g[(g["budget"] == budget) & ((g["sources"] == sources) | (g["method"] == "dnn"))]
            for method in sorted(sel["method"].unique(), key=method_rank):
                d = sel[sel["method"] == method].sort_values("epoch")
                color = method_color(method)
                sd = d["std"].fillna(0.0).to_numpy()
                x, m = d["epoch"].to_numpy(), d["mean"].to_numpy()
                fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]),
                                         y=np.concatenate([m + sd, (m - sd)[::-1]]),
                                         fill="toself", fillcolor=_rgba(color, 0.15), mode="lines",
                                         line={"width": 0}, hoverinfo="skip", showlegend=False,
                                         legendgroup=method), row=r, col=c)
                fig.add_trace(go.Scatter(x=x, y=m, mode="lines", name=method_label(method),
                                         line={"color": color, "width": 2}, legendgroup=method,
                                         showlegend=method not in shown, customdata=d["count"],
                                         hovertemplate="epoch %{x}<br>UAR %{y:.3f}<br>"
                                                       "%{customdata} folds<extra>%{fullData.name}</extra>"),
                              row=r, col=c)
                shown.add(method)
        _axis_titles(fig, nrows, ncols, len(panels), "epoch", "test UAR")
        style(fig, f"Learning curves on {target} ({task}): mean test UAR ± std over folds × repeats",
              height, legend="right")
        figs.append((f"{target} ({task})", fig))
    return figs


# ---------------------------------------------------------------- UAR vs budget (Figure 4)

def budget_curves(summary: pd.DataFrame, sig: pd.DataFrame, alpha: float) -> go.Figure | None:
    """Per cross-corpus direction: UAR against fold budget, significant wins over the DNN starred."""
    cc = summary[summary["kind"] == "crosscorpus"]
    if cc.empty:
        return None
    dirs = sorted({(r["task"], cross_corpus_source(r["sources"], r["target"], r["task"]),
                    r["target"], r["sources"]) for _, r in cc.iterrows()}, key=lambda d: (d[2], d[1]))
    nrows, ncols = _grid(len(dirs), 2)
    fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=True, horizontal_spacing=0.06,
                        vertical_spacing=_panel_height(nrows)[1],
                        subplot_titles=[direction_label(src, tgt) for _, src, tgt, _ in dirs])
    shown = set()
    for i, (task, src, target, sources) in enumerate(dirs):
        r, c = i // ncols + 1, i % ncols + 1
        budgets = sorted(cc[(cc["target"] == target) & (cc["sources"] == sources)]["budget"].unique())
        base = summary[(summary["task"] == task) & (summary["target"] == target)
                       & (summary["method"] == "dnn") & (summary["budget"].isin(budgets))]
        rows = pd.concat([base, cc[(cc["target"] == target) & (cc["sources"] == sources)]])
        for method in sorted(rows["method"].unique(), key=method_rank):
            d = rows[rows["method"] == method].sort_values("budget")
            color = method_color(method)
            fig.add_trace(go.Scatter(
                x=d["budget"], y=d["uar_mean"], mode="lines+markers", name=method_label(method),
                legendgroup=method, showlegend=method not in shown,
                line={"color": color, "width": 2}, marker={"size": 7},
                error_y={"type": "data", "array": d["uar_std"].fillna(0.0), "thickness": 1, "width": 4},
                hovertemplate="budget %{x}<br>UAR %{y:.3f}<extra>%{fullData.name}</extra>"),
                row=r, col=c)
            shown.add(method)
            if method == "dnn" or sig.empty:
                continue
            s = sig[(sig["task"] == task) & (sig["target"] == target) & (sig["sources_a"] == sources)
                    & (sig["method_a"] == method) & (sig["method_b"] == "dnn")
                    & sig["significant"] & (sig["mean_diff"] > 0)]
            hit = d[d["budget"].isin(s["budget"])]
            if len(hit):
                p = s.set_index("budget").loc[hit["budget"], "p_adj"].to_numpy()
                fig.add_trace(go.Scatter(
                    x=hit["budget"], y=hit["uar_mean"], mode="markers", name=method_label(method),
                    legendgroup="sig", showlegend=False,
                    marker={"symbol": "star", "size": 16, "color": color,
                            "line": {"color": "#111827", "width": 1}},
                    customdata=p, hovertemplate="budget %{x}: better than DNN, p = %{customdata:.2g}"
                                                "<extra>%{fullData.name}</extra>"),
                    row=r, col=c)
                if "sig" not in shown:  # one neutral legend entry for all stars
                    fig.add_trace(go.Scatter(
                        x=[None], y=[None], mode="markers", name=f"better than DNN (p < {alpha:g})",
                        legendgroup="sig", marker={"symbol": "star", "size": 14, "color": "#e5e7eb",
                                                   "line": {"color": "#111827", "width": 1}}),
                        row=r, col=c)
                    shown.add("sig")
        fig.layout[_axis("x", i)].update(type="log", tickvals=budgets, ticktext=[str(b) for b in budgets])
    _axis_titles(fig, nrows, ncols, len(dirs), "training folds of the target (fold budget)", "test UAR")
    return style(fig, "Cross-corpus transfer: UAR against fold budget (error bars: mean within-repeat std)",
                 _panel_height(nrows)[0] + 60, legend="right")


# ---------------------------------------------------------------- paired differences

def _comparison_label(r: pd.Series, with_budget: bool, with_sources: bool) -> str:
    label = f"{method_label(r['method_a'])} − {method_label(r['method_b'])}"
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
    for (table, task, target, sources_key), g in _comparison_groups(sig):
        g = g[g["n_pairs"] > 0]
        if g.empty:
            continue
        fig = go.Figure()
        cross = table == "crosscorpus"
        many_budgets = g["budget"].nunique() > 1
        for _, r in g.iterrows():
            label = _comparison_label(r, with_budget=cross or many_budgets, with_sources=not cross)
            p = r["p_adj"]
            fig.add_trace(go.Box(
                y=r["diffs"], name=label, boxpoints="all", jitter=0.45, pointpos=0,
                marker={"color": method_color(r["method_a"]), "size": 4, "opacity": 0.7},
                line={"color": method_color(r["method_a"]), "width": 1.5},
                fillcolor=_rgba(method_color(r["method_a"]), 0.12), showlegend=False,
                hovertemplate=f"{label.replace('<br>', ', ')}<br>Δ UAR %{{y:.3f}}<br>"
                              f"mean {r['mean_diff']:+.3f}, p = {p:.2g} ({r['n_pairs']} pairs)<extra></extra>"))
        fig.add_hline(y=0, line={"color": "#6b7280", "dash": "dash", "width": 1})
        what = (f"{sources_key.split('@')[1]} → {target}" if cross else f"{target} ({task})")
        style(fig, f"Paired per-fold UAR differences, {what}", 420, None, "Δ test UAR (A − B), per fold")
        figs.append((what, fig))
    return figs


def _comparison_groups(sig: pd.DataFrame):
    t2 = sig[sig["table"] == "table2"]
    for (task, target), g in t2.groupby(["task", "target"], sort=True):
        yield ("table2", task, target, ""), g
    cc = sig[sig["table"] == "crosscorpus"]
    for (task, target, sources), g in cc.groupby(["task", "target", "sources"], sort=True):
        yield ("crosscorpus", task, target, sources), g.sort_values(["budget", "method_a", "method_b"])


def pvalue_dots(sig: pd.DataFrame, alpha: float) -> go.Figure | None:
    """Each comparison's p under the three tests on one log axis: how much the naive test overstates."""
    d = sig[sig["n_pairs"] >= 2]
    if d.empty:
        return None
    labels = [f"{r['target']} b{r['budget']} · {r['sources']} · "
              f"{method_label(r['method_a'])} − {method_label(r['method_b'])}" for _, r in d.iterrows()]
    fig = go.Figure()
    styles = {"calibrated": ("circle", "#111827", "calibrated (Bouckaert, df = 10)"),
              "corrected": ("diamond", "#2563eb", "corrected (Nadeau & Bengio)"),
              "naive": ("x", "#dc2626", "naive paired t (overstates)")}
    for test, (symbol, color, name) in styles.items():
        p = d[f"p_{test}"].clip(lower=1e-30).to_numpy()
        fig.add_trace(go.Scatter(x=p, y=labels, mode="markers", name=name,
                                 marker={"symbol": symbol, "size": 9, "color": color},
                                 hovertemplate="%{y}<br>p = %{x:.2g}<extra>" + name + "</extra>"))
    fig.add_vline(x=alpha, line={"color": "#9ca3af", "dash": "dash"},
                  annotation_text=f"α = {alpha:g}", annotation_position="top")
    fig.update_xaxes(type="log", autorange="reversed")
    fig.update_yaxes(autorange="reversed", automargin=True)
    style(fig, "p-value of every comparison under the three tests (right of the line: p < α)",
          max(320, 24 * len(labels) + 140), "two-sided p (log scale, unadjusted)")
    return fig


# ---------------------------------------------------------------- confusion matrices

def confusion_matrices(results: pd.DataFrame) -> tuple[list[tuple[str, go.Figure]], list[str]]:
    """Per (task, target) at its full budget: one row-normalised matrix per cell, summed over
    every fold of every repeat. Returns the figures and notes on cells that could not be shown."""
    if "confusion" not in results.columns or "classes" not in results.columns:
        return [], ["results have no confusion/classes columns"]
    figs, notes = [], []
    for (task, target), g in results.groupby(["task", "target"], sort=True):
        full = g[g["budget"] == g["budget"].max()]
        cells = sorted({(r["sources"], r["method"]) for _, r in full[["sources", "method"]].iterrows()},
                       key=lambda sm: (sources_key(sm[0], target, task), method_rank(sm[1])))
        mats = []
        for sources, method in cells:
            rows = full[(full["sources"] == sources) & (full["method"] == method)]
            classes = rows["classes"].dropna().unique()
            if len(classes) != 1:
                notes.append(f"{target} {method}/{sources}: rows disagree on the class list; not summed")
                continue
            try:
                total = sum(np.asarray(json.loads(c), dtype=float) for c in rows["confusion"].dropna())
            except (ValueError, TypeError):
                notes.append(f"{target} {method}/{sources}: unreadable or mis-shaped confusion JSON")
                continue
            if not isinstance(total, np.ndarray):
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                norm = total / total.sum(axis=1, keepdims=True)
            title = method_label(method) if sources == "none" else f"{method_label(method)} · {sources}"
            mats.append((title, json.loads(classes[0]), norm, total))
        if not mats:
            continue
        nrows, ncols = _grid(len(mats))
        height, vspace = _panel_height(nrows)
        fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[m[0] for m in mats],
                            horizontal_spacing=0.08, vertical_spacing=vspace)
        for i, (title, classes, norm, total) in enumerate(mats):
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
        budget = int(full["budget"].max())
        style(fig, f"Confusion matrices on {target} ({task}), budget {budget}: summed over folds and "
                   "repeats, rows normalised", height, legend="right")
        figs.append((f"{target} ({task})", fig))
    return figs, notes


# ---------------------------------------------------------------- forgetting

def forgetting(summary: pd.DataFrame) -> go.Figure | None:
    """Source-task UAR of the source model (before) and of the transferred network (after), one
    panel per target at its full budget (the table under the chart lists every budget)."""
    d = summary[summary["n_source_folds"] > 0]
    if d.empty:
        return None
    full = summary.groupby(["task", "target"])["budget"].max()
    d = d[[b == full[(t, g)] for t, g, b in zip(d["task"], d["target"], d["budget"])]]
    groups = list(d.groupby(["task", "target"], sort=True))
    fig = make_subplots(rows=1, cols=len(groups), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{target} ({task}), budget {full[(task, target)]}"
                                        for (task, target), _ in groups])
    for i, (_, g) in enumerate(groups):
        labels = [f"{s.replace('@', '@<br>').replace('+', '+<br>')}<br><b>{method_label(m)}</b>"
                  for s, m in zip(g["sources"], g["method"])]
        fig.add_trace(go.Bar(x=labels, y=g["source_uar_before"], name="before (source model)",
                             marker={"color": "#cbd5e1"}, showlegend=i == 0, legendgroup="before",
                             hovertemplate="%{x}<br>before %{y:.3f}<extra></extra>"), row=1, col=i + 1)
        fig.add_trace(go.Bar(x=labels, y=g["source_uar_after"], name="after (coloured by method)",
                             marker={"color": [method_color(m) for m in g["method"]]},
                             showlegend=i == 0, legendgroup="after", customdata=g["forgetting"],
                             hovertemplate="%{x}<br>after %{y:.3f}<br>forgetting %{customdata:.3f}"
                                           "<extra></extra>"), row=1, col=i + 1)
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=0, tickfont={"size": 11})
    fig.update_yaxes(title_text="source-task test UAR", row=1, col=1)
    return style(fig, "Forgetting: source-task UAR before and after transfer", 460, legend="right")


# ---------------------------------------------------------------- tuning

def tuning_history(trials: pd.DataFrame) -> go.Figure:
    """Objective per trial (one panel per tuned corpus) and the best so far among trials that
    trained fully. Pruned trials (stopped early, value = their last per-epoch value) are hollow;
    the paper's architecture (the `baseline` trial) is a diamond."""
    t = trials.copy()
    if "corpus" not in t:
        t["corpus"] = ""
    t["corpus"] = t["corpus"].fillna("").astype(str)
    corpora = sorted(t["corpus"].unique())
    fig = make_subplots(rows=1, cols=len(corpora), shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=[c or "study" for c in corpora] if len(corpora) > 1 else None)
    for i, corpus in enumerate(corpora):
        d = t[(t["corpus"] == corpus) & t["value"].notna()].sort_values("number")
        state = d["state"].astype(str) if "state" in d else pd.Series("COMPLETE", index=d.index)
        complete = state == "COMPLETE"
        base = d["baseline"].astype(str).str.lower().isin(["true", "1"]) if "baseline" in d \
            else pd.Series(False, index=d.index)
        for mask, name, symbol in [(complete & ~base, "complete trial", "circle"),
                                   (~complete & ~base, "pruned (last value)", "circle-open"),
                                   (base, "paper architecture", "diamond")]:
            if mask.any():
                fig.add_trace(go.Scatter(
                    x=d.loc[mask, "number"], y=d.loc[mask, "value"], mode="markers", name=name,
                    legendgroup=name, showlegend=i == 0 or name not in {tr.name for tr in fig.data},
                    marker={"color": "#111827" if symbol == "diamond" else "#2563eb",
                            "size": 11 if symbol == "diamond" else 8, "symbol": symbol},
                    hovertemplate="trial %{x}<br>value %{y:.4f}<extra>" + name + "</extra>"),
                    row=1, col=i + 1)
        best = d["value"].where(complete).cummax().ffill()  # pruned trials keep the line
        fig.add_trace(go.Scatter(x=d["number"], y=best, mode="lines", name="best so far (complete)",
                                 legendgroup="best", showlegend=i == 0,
                                 line={"color": "#dc2626", "shape": "hv"}), row=1, col=i + 1)
        fig.layout[_axis("x", i)].title.text = "trial number"
    fig.update_yaxes(title_text="validation UAR (objective)", row=1, col=1)
    return style(fig, "Optuna optimisation history", 400, legend="right")


def importance_bars(importances: dict[str, dict[str, float]]) -> go.Figure:
    """Optuna's parameter importances, one panel per study (corpus)."""
    names = list(importances)
    fig = make_subplots(rows=1, cols=len(names), horizontal_spacing=0.12,
                        subplot_titles=names if len(names) > 1 else None)
    n_params = 1
    for i, name in enumerate(names):
        items = sorted(importances[name].items(), key=lambda kv: kv[1])
        n_params = max(n_params, len(items))
        fig.add_trace(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                             marker={"color": "#2563eb"}, showlegend=False,
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=i + 1)
        fig.layout[_axis("x", i)].title.text = "importance"
    return style(fig, "Hyper-parameter importance (Optuna's default evaluator, complete trials)",
                 max(280, 34 * n_params + 140))
