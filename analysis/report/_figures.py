"""The dashboard's figures as Plotly objects, by name, for notebooks (paragrid.api.Run.figures).

The same builders as the page, for one Holm setting, so a figure in a notebook and on the page
cannot differ. Names: `table2_bars`, `budget_curves`, `pvalues`, `best_epochs`, `forgetting`,
`transfer_matrix`,
and per group `learning_curves: <target (task) · origin>`, `differences: <…>`,
`confusion: <target (task) · origin> · budget <b>`. A figure the run has no data for is absent.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from paragrid.analysis.plots import (best_epoch_positions, budget_curves, confusion_matrices,
                                     forgetting, learning_curves, paired_differences, pvalue_dots,
                                     table2_bars, transfer_matrix)
from paragrid.analysis.report._analyse import analyse
from paragrid.analysis.report._tables import table2_columns
from paragrid.analysis.stats import complete_curves, summarise, with_feature_set, with_origin


def report_figures(results: pd.DataFrame, curves: pd.DataFrame | None = None, *,
                   test: str = "auto", alpha: float = 0.05, holm: bool = False,
                   unit_test: str = "paired") -> dict[str, go.Figure]:
    results = with_feature_set(with_origin(results))
    if curves is not None:
        curves = complete_curves(curves, results)
    summary = summarise(results)
    a = analyse(results, summary, test=test, unit_test=unit_test, alpha=alpha, holm=holm)
    figs: dict[str, go.Figure | None] = {
        "table2_bars": table2_bars(summary, table2_columns(summary), a.ctx),
        "budget_curves": budget_curves(summary, a.sig, alpha),
        "pvalues": pvalue_dots(a.sig, alpha) if not a.sig.empty else None,
        "best_epochs": best_epoch_positions(results),
        "forgetting": forgetting(summary),
        "transfer_matrix": transfer_matrix(a.sig, alpha),
    }
    figs.update({f"learning_curves: {k}": f for k, f in learning_curves(curves)})
    figs.update({f"differences: {k}": f for k, f in paired_differences(a.sig)})
    groups, _ = confusion_matrices(results)
    figs.update({f"confusion: {label} · budget {b}": f for label, per in groups for b, f in per})
    return {name: fig for name, fig in figs.items() if fig is not None}
