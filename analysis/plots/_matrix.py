"""The transfer matrix: source corpus -> target corpus heat maps of the UAR gain over the
target's own DNN, per transfer method, with a budget selector (feature set and budget when
the spec has a feature-set axis: one matrix per set, never two sets in one cell).

A cell (source row, target column) is the mean paired difference of the method on that source
minus the target's DNN at the same budget (same folds: the significance table's comparison
against the DNN). Its text carries the difference and `*` where the marker test finds it
significant at alpha (after Holm when the table was corrected); the hover gives the p-values of
every test the design allows and the speaker-level bootstrap interval. The row "all others" is
`emotion@all-others` (ProgNet with a column per source corpus, PT/FT from the pooled corpora).
The colour scale is symmetric around 0, so red and blue mean loss and gain at every budget.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from paragrid.analysis.plots._style import style
from paragrid.analysis.stats import TEST_SHORT, method_label

ALL_OTHERS = "all others"
_TESTS = ("calibrated", "corrected", "naive", "paired", "wilcoxon")


def _source_of(sources: str, target: str, task: str) -> str | None:
    """The matrix row of a source set: one `task@corpus` source, or every other corpus at once."""
    parts = sources.split("+")
    corpora = []
    for p in parts:
        t, _, corpus = p.partition("@")
        if not corpus or t != task or corpus == target:
            return None
        corpora.append(corpus)
    return corpora[0] if len(corpora) == 1 else ALL_OTHERS


def matrix_rows(sig: pd.DataFrame) -> pd.DataFrame:
    """The significance rows that are matrix cells (a transfer method vs the target's DNN on a
    cross-corpus source of the target task), with a `source` column."""
    if sig.empty:
        return sig
    vs_dnn = sig[(sig["method_b"] == "dnn") & (sig["method_a"] != "dnn")]
    source = [_source_of(s, t, task) for s, t, task in zip(vs_dnn["sources_a"], vs_dnn["target"], vs_dnn["task"])]
    out = vs_dnn.assign(source=source)
    return out[out["source"].notna()]


def _hover(r: pd.Series) -> str:
    ps = ", ".join(f"{TEST_SHORT[t]} {r[f'p_{t}']:.3g}" for t in _TESTS
                   if f"p_{t}" in r and pd.notna(r[f"p_{t}"]))
    ci = (f"<br>speaker bootstrap {r['ci_level']:.0%} CI [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
          if "ci_low" in r and pd.notna(r.get("ci_low")) else "")
    return (f"{r['source']} → {r['target']}, budget {r['budget']}<br>"
            f"{method_label(r['method_a'])} − DNN: {r['mean_diff']:+.3f} UAR ({r['n_pairs']} pairs)<br>"
            f"p ({TEST_SHORT[r['test']]}, marker test{', Holm' if r.get('holm') else ''}): {r['p_adj']:.3g}"
            f"<br>all tests: {ps}{ci}")


def _in_set(rows: pd.DataFrame, fs: str) -> pd.Series:
    return rows["feature_set"] == fs if "feature_set" in rows.columns else pd.Series(True, index=rows.index)


def _view_label(fs: str, budget) -> str:
    return f"{fs} · budget {budget}" if fs else f"budget {budget}"


def transfer_matrix(sig: pd.DataFrame, alpha: float = 0.05) -> go.Figure | None:
    """One heat map per transfer method, side by side in one figure (a trace per method and
    budget) so that one dropdown selects the budget for all of them. None when the run has no
    cross-corpus comparison against a DNN."""
    rows = matrix_rows(sig)
    if rows.empty:
        return None
    targets = sorted(rows["target"].unique())
    sources = sorted((s for s in rows["source"].unique() if s != ALL_OTHERS))
    sources += [ALL_OTHERS] if (rows["source"] == ALL_OTHERS).any() else []
    methods = [m for m in ("prognet", "ptft") if m in set(rows["method_a"])]
    # one view per (feature set, budget): a spec with a feature-set axis has a matrix per set
    sets = list(dict.fromkeys(rows["feature_set"])) if "feature_set" in rows.columns else [""]
    views = [(fs, b) for fs in sets for b in sorted(rows["budget"].unique(), reverse=True)
             if ((rows["budget"] == b) & (_in_set(rows, fs))).any()]
    limit = float(np.nanmax(np.abs(rows["mean_diff"].to_numpy(dtype=float)))) or 0.01
    fig = go.Figure()
    n_cols = len(methods)
    for b_i, (fs, budget) in enumerate(views):
        for m_i, method in enumerate(methods):
            z = np.full((len(sources), len(targets)), np.nan)
            text = [["" for _ in targets] for _ in sources]
            hover = [["no comparison" for _ in targets] for _ in sources]
            g = rows[(rows["budget"] == budget) & (rows["method_a"] == method) & _in_set(rows, fs)]
            for _, r in g.iterrows():
                i, j = sources.index(r["source"]), targets.index(r["target"])
                z[i, j] = r["mean_diff"]
                mark = "*" if bool(r["significant"]) and r["mean_diff"] > 0 else (
                    "▾" if bool(r["significant"]) else "")
                text[i][j] = f"{r['mean_diff']:+.3f}{mark}"
                hover[i][j] = _hover(r)
            fig.add_trace(go.Heatmap(
                z=z, x=targets, y=sources, text=text, texttemplate="%{text}", customdata=hover,
                hovertemplate="%{customdata}<extra></extra>", colorscale="RdBu", zmid=0,
                zmin=-limit, zmax=limit, xaxis=f"x{m_i + 1 if m_i else ''}", yaxis="y",
                name=f"{method_label(method)} · {_view_label(fs, budget)}", visible=b_i == 0,
                showscale=m_i == n_cols - 1, colorbar={"title": "Δ UAR vs DNN"}))
    layout = {}
    for m_i, method in enumerate(methods):
        key = f"xaxis{m_i + 1 if m_i else ''}"
        lo, hi = m_i / n_cols, (m_i + 1) / n_cols - (0.06 if m_i < n_cols - 1 else 0)
        layout[key] = {"domain": [lo, hi], "title": f"{method_label(method)}: target corpus",
                       "anchor": "y", "side": "bottom"}
    fig.update_layout(**layout, yaxis={"title": "source corpus", "autorange": "reversed"})
    per = len(methods)
    buttons = [{"label": _view_label(fs, b), "method": "update",
                "args": [{"visible": [k // per == i for k in range(len(views) * per)]}]}
               for i, (fs, b) in enumerate(views)]
    fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 0, "xanchor": "left",
                                    "y": 1.18, "yanchor": "top", "showactive": True}])
    style(fig, f"Transfer matrix: UAR difference against the target's DNN (* p < {alpha:g}, ▾ significantly worse)",
          120 + 60 * len(sources) + 80, None, None)
    fig.update_layout(margin={"t": 120})
    return fig
