"""The shared look of paragrid's figures (one colour per method), and the axis rules that keep
them honest.

* UAR axes of bar charts start at 0 (or, as an explicit choice, at chance) and always hold the
  whole error bar: a bar chart whose axis starts at 0.4 magnifies a 1-point difference into a
  visible gap. The zoom to the data is offered only as a labelled button (`zoom_buttons`).
* The chance level 1/n_classes is drawn and labelled wherever UAR is plotted against it.
* p-values sit on clean log axes: one tick per decade, written 1, 0.1, 0.01, 0.001, then
  10^-4 ... (never Plotly's SI "100µ"), no minor labels; the α line is labelled beside it.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
_AXIS = {"gridcolor": "#eceff3", "linecolor": "#cbd5e1", "zerolinecolor": "#cbd5e1",
         "ticks": "outside", "tickcolor": "#cbd5e1", "automargin": True}
# A small template of our own: plotly_white is a 10 kB deep copy per figure, set on ~30 figures.
TEMPLATE = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "xaxis": _AXIS, "yaxis": _AXIS,
    "colorway": ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"],
})
PATTERN = {"none": "", "speaker": "/", "gender": ".", "speaker+gender": "x"}
METHOD_COLOR = {"dnn": "#6b7280", "ptft": "#2563eb", "prognet": "#dc2626"}
EXTRA_COLORS = ["#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d"]


def method_color(method: str) -> str:
    """One colour per method in every figure; a method paragrid does not know gets a stable one."""
    if method in METHOD_COLOR:
        return METHOD_COLOR[method]
    return EXTRA_COLORS[sum(map(ord, method)) % len(EXTRA_COLORS)]


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



# ---------------------------------------------------------------- honest UAR axes

UAR_PAD = 0.04   # headroom above the highest error bar


def chance_of(n_classes) -> float | None:
    """Chance UAR = 1/n_classes (UAR of any constant prediction); None if n is unknown."""
    try:
        n = int(n_classes)
    except (TypeError, ValueError):
        return None
    return 1.0 / n if n >= 2 else None


def uar_ranges(values, errors, chance: float | None) -> dict[str, list[float]]:
    """Named y ranges of a UAR bar chart: 'from 0' (the default), 'from chance' (only when every
    error bar lies above chance, so no bar is cut) and 'zoom' (the data's own span). Each holds
    every error bar: lo <= min(y - e) and hi >= max(y + e)."""
    y = np.asarray(values, dtype=float)
    e = np.nan_to_num(np.asarray(errors, dtype=float))
    top = float(np.max(y + e)) + UAR_PAD
    low = float(np.min(y - e))
    out = {"from 0": [0.0, top]}
    if chance is not None and low >= chance:
        out["from chance"] = [chance, top]
    out["zoom"] = [max(0.0, low - UAR_PAD), top]
    return out


ZOOM_LABEL = {"from 0": "axis from 0", "from chance": "axis from chance",
              "zoom": "zoom to the data (magnifies differences)"}


def zoom_buttons(fig: go.Figure, ranges: dict[str, list[float]], axis: str = "yaxis") -> None:
    """The y range as an explicit choice: buttons over the plot, 'from 0' active."""
    buttons = [{"label": ZOOM_LABEL[name], "method": "relayout",
                "args": [{f"{axis}.range": rng, f"{axis}.autorange": False}]}
               for name, rng in ranges.items()]
    fig.update_layout(updatemenus=[{
        "type": "buttons", "direction": "right", "active": 0, "showactive": True,
        "x": 1.0, "xanchor": "right", "y": 1.02, "yanchor": "bottom", "pad": {"r": 0, "t": 0},
        "font": {"size": 11}, "bgcolor": "#f9fafb", "bordercolor": "#d1d5db", "buttons": buttons}])
    fig.layout[axis].update(range=ranges["from 0"], autorange=False)


def chance_label(chance: float) -> str:
    return f"chance 1/{round(1 / chance)} = {chance:.2f}"


# ---------------------------------------------------------------- clean log p axes

def p_floor(p) -> float:
    """Lowest decade shown: one below the smallest positive p, at most 10^-16 (p = 0 is drawn
    there and said to be below it)."""
    p = np.asarray(p, dtype=float)
    pos = p[np.isfinite(p) & (p > 0)]
    low = float(pos.min()) if pos.size else 1e-3
    return 10.0 ** max(-16, math.floor(math.log10(low)) - 1)


def decade_text(exp: int) -> str:
    """1, 0.1, 0.01, 0.001, then 10⁻⁴ ...: decimal while short, exponent after (no SI µ)."""
    if exp >= -3:
        return f"{10.0 ** exp:.{max(0, -exp)}f}"
    return f"10<sup>−{-exp}</sup>"


def log_p_axis(floor: float) -> dict:
    """A reversed log axis from 1 down to `floor`, one labelled tick per decade, no minors.
    Ranges of log axes are given in log10 units."""
    lo = int(round(math.log10(floor)))
    exps = list(range(0, lo - 1, -1))
    return {"type": "log", "range": [0.08, lo - 0.08], "autorange": False,
            "tickmode": "array", "tickvals": [10.0 ** x for x in exps],
            "ticktext": [decade_text(x) for x in exps], "minor": {"ticks": "", "showgrid": False},
            "showexponent": "none"}


def alpha_line(fig: go.Figure, alpha: float) -> None:
    """Dashed line at p = α across the plot, labelled just right of it above the plot area.
    Shapes take data values on a log axis; annotations take log10 values."""
    fig.add_shape(type="line", x0=alpha, x1=alpha, y0=0, y1=1, xref="x", yref="paper",
                  line={"color": "#6b7280", "dash": "dash", "width": 1.5})
    fig.add_annotation(x=math.log10(alpha), y=1.0, xref="x", yref="paper", text=f"α = {alpha:g}",
                       showarrow=False, xanchor="left", yanchor="bottom", xshift=4,
                       font={"size": 12, "color": "#374151"})
