"""UAR figures: Table 2 as bars, UAR against fold budget (Figure 4), learning curves (Figure 3).

Bars start at 0 with the chance level drawn; the zoom is a button (_style). Every bar's and
star's hover names the architecture origin, the test and the correction behind its marker.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paragrid.analysis.plots._style import (PATTERN, _axis, _axis_titles, _grid, _panel_height,
                                           _rgba, chance_label, chance_of, method_color, style,
                                           uar_ranges, zoom_buttons)
from paragrid.analysis.stats import (CELL, TEST_SHORT, Cell, Context, cell_hover,
                                     cross_corpus_source, direction_label, method_label,
                                     method_rank, origin_label, source_rank, sources_key)


def _br(text: str) -> str:
    return text.replace("\n", "<br>")


def table2_bars(summary: pd.DataFrame, columns: list[tuple[str, str, int, str, str]],
                ctx: Context) -> go.Figure | None:
    """Grouped bars of the Table 2 cells; error bars are the mean within-repeat std."""
    if not columns:
        return None
    fig = go.Figure()
    rows = summary[summary["kind"].isin(["baseline", "transfer"])]
    keys = sorted({(r["sources"], r["method"]) for _, r in rows.iterrows()
                   if r["kind"] == "transfer" or r["method"] == "dnn"},
                  key=lambda sm: (source_rank(sm[0]), method_rank(sm[1])))
    all_y, all_e, chances = [], [], {}
    for sources, method in keys:
        xs, ys, es, texts, hovers = [], [], [], [], []
        for task, target, budget, origin, fs, label in columns:
            hit = rows[(rows["task"] == task) & (rows["target"] == target) & (rows["budget"] == budget)
                       & (rows["sources"] == sources) & (rows["method"] == method)
                       & (rows["architecture_origin"] == origin) & (rows["feature_set"] == fs)]
            if hit.empty:
                continue
            rec = hit.iloc[0]
            cell = Cell(task, target, sources, method, budget, origin, fs)
            xs.append(label)
            ys.append(rec["uar_mean"])
            es.append(0.0 if math.isnan(rec["uar_std"]) else rec["uar_std"])
            texts.append(ctx.marks.get(cell, ""))
            hovers.append(_br(cell_hover(cell, rec, texts[-1], ctx)))
            chances.setdefault(label, chance_of(rec["n_classes"]))
        if not xs:
            continue
        all_y += ys
        all_e += es
        fig.add_bar(x=xs, y=ys, name=f"{sources} · {method_label(method)}",
                    error_y={"type": "data", "array": es, "thickness": 1.2, "color": "#374151"},
                    text=texts, textposition="inside", insidetextanchor="start",
                    insidetextfont={"color": "white", "size": 16},
                    marker={"color": method_color(method),
                            "pattern": {"shape": PATTERN.get(sources, "\\"), "fgcolor": "white",
                                        "fillmode": "overlay", "solidity": 0.25}},
                    customdata=hovers,
                    hovertemplate="%{customdata}<extra>%{fullData.name}</extra>")
    if not fig.data:
        return None
    labels = [c[-1] for c in columns if c[-1] in chances]
    levels = {chances[lb] for lb in labels if chances[lb] is not None}
    chance = min(levels) if levels else None
    fig.update_xaxes(categoryorder="array", categoryarray=labels)  # chance marks sit by index
    _chance_marks(fig, labels, chances)
    zoom_buttons(fig, uar_ranges(all_y, all_e, chance if len(levels) == 1 else None))
    style(fig, "UAR per source set and method (error bars: mean within-repeat std)", 470,
          "target corpus · architecture origin", "test UAR", legend="right")
    fig.update_layout(margin={"t": 110})
    return fig


def _chance_marks(fig: go.Figure, labels: list[str], chances: dict) -> None:
    """The chance level as a dotted segment across each category, labelled once per level."""
    labelled = set()
    for i, label in enumerate(labels):
        c = chances[label]
        if c is None:
            continue
        fig.add_shape(type="line", xref="x", yref="y", x0=i - 0.48, x1=i + 0.48, y0=c, y1=c,
                      line={"color": "#111827", "dash": "dot", "width": 1.5})
        if c not in labelled:
            fig.add_annotation(x=i - 0.48, y=c, xref="x", yref="y", text=chance_label(c),
                               showarrow=False, xanchor="left", yanchor="bottom",
                               font={"size": 11, "color": "#111827"}, bgcolor="rgba(255,255,255,0.8)")
            labelled.add(c)


# ---------------------------------------------------------------- UAR vs budget (Figure 4)

def _directions(cc: pd.DataFrame) -> list[tuple[str, str, str, str, str, str]]:
    sets = list(dict.fromkeys(cc["feature_set"]))
    return sorted({(r["task"], cross_corpus_source(r["sources"], r["target"], r["task"]),
                    r["target"], r["sources"], r["architecture_origin"], r["feature_set"])
                   for _, r in cc.iterrows()},
                  key=lambda d: (d[2], d[1], d[4], sets.index(d[5])))


def budget_curves(summary: pd.DataFrame, sig: pd.DataFrame, alpha: float) -> go.Figure | None:
    """Per cross-corpus direction: UAR against fold budget, significant wins over the DNN starred."""
    cc = summary[summary["kind"] == "crosscorpus"]
    if cc.empty:
        return None
    dirs = _directions(cc)
    nrows, ncols = _grid(len(dirs), 2)
    fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=True, horizontal_spacing=0.06,
                        vertical_spacing=_panel_height(nrows)[1],
                        subplot_titles=[f"{direction_label(src, tgt)}{' · ' + fs if fs else ''} · "
                                        f"{origin_label(o)}" for _, src, tgt, _, o, fs in dirs])
    shown, lows, highs, chances = set(), [], [], []
    for i, (task, src, target, sources, origin, fs) in enumerate(dirs):
        r, c = i // ncols + 1, i % ncols + 1
        mine = cc[(cc["target"] == target) & (cc["sources"] == sources)
                  & (cc["architecture_origin"] == origin) & (cc["feature_set"] == fs)]
        budgets = sorted(mine["budget"].unique())
        base = summary[(summary["task"] == task) & (summary["target"] == target)
                       & (summary["method"] == "dnn") & (summary["budget"].isin(budgets))
                       & (summary["architecture_origin"] == origin) & (summary["feature_set"] == fs)]
        rows = pd.concat([base, mine])
        err = rows["uar_std"].fillna(0.0)
        lows.append(float((rows["uar_mean"] - err).min()))
        highs.append(float((rows["uar_mean"] + err).max()))
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
            if method != "dnn" and not sig.empty:
                _stars(fig, sig, d, (task, target, sources, origin, fs, method), alpha, shown, r, c)
        chance = chance_of(rows["n_classes"].iloc[0])
        if chance is not None:  # after the traces: add_hline skips subplots still empty
            chances.append(chance)
            fig.add_hline(y=chance, row=r, col=c, line={"color": "#111827", "dash": "dot", "width": 1},
                          annotation_text=chance_label(chance), annotation_position="bottom right",
                          annotation_font_size=11)
        fig.layout[_axis("x", i)].update(type="log", tickvals=budgets, ticktext=[str(b) for b in budgets])
    lo = min(lows + chances) - 0.03
    fig.update_yaxes(range=[max(0.0, lo), max(highs) + 0.03], autorange=False)
    _axis_titles(fig, nrows, ncols, len(dirs), "training folds of the target (fold budget)", "test UAR")
    return style(fig, "Cross-corpus transfer: UAR against fold budget (error bars: mean within-repeat std)",
                 _panel_height(nrows)[0] + 60, legend="right")


def _stars(fig, sig, d, key, alpha, shown, r, c) -> None:
    task, target, sources, origin, fs, method = key
    s = sig[(sig["task"] == task) & (sig["target"] == target) & (sig["sources_a"] == sources)
            & (sig["architecture_origin"] == origin) & (sig["method_a"] == method)
            & (sig["feature_set_a"] == fs) & (sig["feature_set_b"] == fs)
            & (sig["method_b"] == "dnn") & sig["significant"] & (sig["mean_diff"] > 0)]
    hit = d[d["budget"].isin(s["budget"])]
    if not len(hit):
        return
    by_budget = s.set_index("budget").loc[hit["budget"]]
    info = [f"p = {p:.2g} ({TEST_SHORT[t]}; correction: {corr})"
            for p, t, corr in zip(by_budget["p_adj"], by_budget["test"], by_budget["correction"])]
    color = method_color(method)
    fig.add_trace(go.Scatter(
        x=hit["budget"], y=hit["uar_mean"], mode="markers", name=method_label(method),
        legendgroup="sig", showlegend=False,
        marker={"symbol": "star", "size": 16, "color": color, "line": {"color": "#111827", "width": 1}},
        customdata=info, hovertemplate="budget %{x}: better than DNN, %{customdata}"
                                       "<extra>%{fullData.name}</extra>"), row=r, col=c)
    if "sig" not in shown:  # one neutral legend entry for all stars
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=f"better than DNN (p < {alpha:g})",
            legendgroup="sig", marker={"symbol": "star", "size": 14, "color": "#e5e7eb",
                                       "line": {"color": "#111827", "width": 1}}), row=r, col=c)
        shown.add("sig")


# ---------------------------------------------------------------- learning curves (Figure 3)

def _panel_title(sources: str, target: str, task: str, budget: int) -> str:
    src = cross_corpus_source(sources, target, task)
    if sources == "none":
        return f"DNN only · budget {budget}"
    if src:
        return f"{direction_label(src, target)} · budget {budget}"
    return f"{sources} → {task} · budget {budget}"


def learning_curves(curves: pd.DataFrame | None) -> list[tuple[str, go.Figure]]:
    """Per (task, target, origin): one panel per (source set, budget); mean test UAR ± std."""
    if curves is None or curves.empty:
        return []
    agg = (curves.groupby(CELL + ["epoch"])["test_uar"].agg(["mean", "std", "count"]).reset_index())
    figs = []
    for (task, target, origin, fs), g in agg.groupby(["task", "target", "architecture_origin", "feature_set"],
                                                     sort=True):
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
        what = f"{target} ({task}){' · ' + fs if fs else ''} · {origin_label(origin)}"
        style(fig, f"Learning curves on {what}: mean test UAR ± std over folds × repeats",
              height, legend="right")
        figs.append((what, fig))
    return figs
