"""Figures of `paragrid tune`: the optimisation history and Optuna's parameter importances."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from paragrid.analysis.plots._style import _axis, style


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
