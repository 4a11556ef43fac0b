"""The protocol-checks figure: where each fold's selected epoch lies within its epoch cap.

Best epochs piling up against the cap mean the models were still improving when training
stopped (budget-1 folds of a per-epoch schedule get the fewest updates); such cells are
"cap-bound" (analysis/stats/_flags.py), and more epochs or `updates: matched` might change the
ranking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from paragrid.analysis.plots._style import method_color, style
from paragrid.analysis.stats import CAP_FRACTION, CELL, epoch_caps, method_label, origin_label


def _cell_label(key: dict, many_origins: bool) -> str:
    what = "DNN" if key["sources"] == "none" else f"{method_label(key['method'])} · {key['sources']}"
    label = f"{key['target']} b{key['budget']} · {what}"
    return label + (f" · {origin_label(key['architecture_origin'])}" if many_origins else "")


def best_epoch_positions(results: pd.DataFrame) -> go.Figure | None:
    """One row of points per cell: best_epoch / epoch cap of every fold, the last 5 % shaded."""
    if "best_epoch" not in results:
        return None
    frac = pd.to_numeric(results["best_epoch"], errors="coerce") / epoch_caps(results)
    data = results.assign(frac=frac)[CELL + ["frac", "best_epoch"]].dropna(subset=["frac"])
    if data.empty:
        return None
    many_origins = data["architecture_origin"].nunique() > 1
    fig = go.Figure()
    labels = []
    for key, g in data.groupby(CELL, sort=True):
        k = dict(zip(CELL, key))
        label = _cell_label(k, many_origins)
        labels.append(label)
        bound = int((g["frac"] > 1.0 - CAP_FRACTION).sum())
        fig.add_trace(go.Box(
            x=g["frac"], y=[label] * len(g), orientation="h", boxpoints="all", jitter=0.4,
            pointpos=0, name=label, showlegend=False,
            marker={"color": method_color(k["method"]), "size": 4, "opacity": 0.7},
            line={"color": method_color(k["method"]), "width": 1},
            customdata=np.asarray(g["best_epoch"]),
            hovertemplate=f"{label}<br>best epoch %{{customdata}} = %{{x:.0%}} of the cap<br>"
                          f"{bound} of {len(g)} folds cap-bound<extra></extra>"))
    fig.add_vrect(x0=1.0 - CAP_FRACTION, x1=1.0, fillcolor="#f59e0b", opacity=0.18, line_width=0)
    fig.add_annotation(x=1.0 - CAP_FRACTION, y=1.0, xref="x", yref="paper", showarrow=False,
                       text="last 5 % of the cap", xanchor="right", yanchor="bottom", xshift=-4,
                       font={"size": 11, "color": "#92400e"})
    fig.update_xaxes(range=[0.0, 1.02], autorange=False, tickformat=".0%")
    fig.update_yaxes(autorange="reversed", automargin=True, categoryorder="array", categoryarray=labels)
    style(fig, "Selected (best-validation) epoch as a fraction of each fold's epoch cap",
          max(320, 22 * len(labels) + 160), "best epoch / epoch cap", None)
    fig.update_layout(margin={"t": 100})
    return fig
