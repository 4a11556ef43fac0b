"""HTML fragments of the dashboard: sections, figures, tables, the Holm switch and selectors.

The page shell (CSS, scripts, atomic write) is analysis/report/_page.py. Tables carry, per
cell, a hover text (`title`) naming the test and correction behind its markers and its protocol
flags, and a flag line under the cell, so a reader sees the traps where the numbers are.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from paragrid.analysis.report._table_render import Table

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "svg", "scale": 1}}


@dataclass
class Section:
    id: str
    title: str
    explain: str                       # HTML: what the view shows, which test is used
    body: list[str] = field(default_factory=list)


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def figure_html(fig: go.Figure) -> str:
    height = fig.layout.height or 450
    return ('<div class="figure">' + fig.to_html(full_html=False, include_plotlyjs=False,
                                                 config=PLOT_CONFIG, default_height=f"{height}px",
                                                 default_width="100%") + "</div>")


def note_html(text: str, kind: str = "note") -> str:
    return f'<p class="{kind}">{text}</p>'


def holm_switch_html(on: bool) -> str:
    """The visible Holm switch; the page script shows the matching variant of every view."""
    checked = " checked" if on else ""
    return ('<label class="switch" title="Holm-Bonferroni step-down correction of the p-values '
            'within each table (the transfer table, the cross-corpus table); markers, verdicts and stars '
            'follow it"><input type="checkbox" id="holm-toggle"' + checked + '> Holm correction '
            "within each table</label>")


def variants_html(off: str, on: str) -> str:
    """Two renderings of one view: without (`off`) and with (`on`) Holm's correction."""
    return f'<div class="holm-off">{off}</div><div class="holm-on">{on}</div>'


def selector_html(sel_id: str, label: str, choices: list[tuple[str, str, str]],
                  selected: str | None = None) -> str:
    """A <select> showing one of several panels (value, option text, html); the first is shown
    by default. `?<sel_id>=<value>` in the address picks another (headless checks)."""
    if not choices:
        return ""
    selected = selected if selected is not None else choices[0][0]
    opts = "".join(f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(t)}</option>'
                   for v, t, _ in choices)
    panels = "".join(f'<div class="choice" data-choice="{esc(v)}"{"" if v == selected else " hidden"}>'
                     f"{body}</div>" for v, _, body in choices)
    return (f'<div class="selector" data-select="{esc(sel_id)}"><label>{esc(label)} '
            f'<select class="view-select" id="{esc(sel_id)}">'
            f"{opts}</select></label>{panels}</div>")


def _cell_html(text: str) -> str:
    """Markers get their own colour; '—' and 'n/a' are greyed."""
    if text in ("—", "n/a", ""):
        return f'<span class="muted">{esc(text) or "&nbsp;"}</span>'
    for mark in ("*†", "†", "*"):
        if text.endswith(" " + mark):
            return f'{esc(text[: -len(mark) - 1])} <span class="mark">{esc(mark)}</span>'
    return esc(text)


def _header_html(table: Table) -> list[str]:
    out = ["<thead>"]
    if any(table.groups):
        out.append("<tr>" + "".join(f'<th rowspan="2">{esc(h)}</th>' for h in table.row_header))
        i = 0
        while i < len(table.groups):
            j = i
            while j < len(table.groups) and table.groups[j] == table.groups[i]:
                j += 1
            out.append(f'<th colspan="{j - i}" class="group">{esc(table.groups[i])}</th>')
            i = j
        out.append("</tr><tr>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns) + "</tr>")
    else:
        out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.row_header + table.columns)
                   + "</tr>")
    out.append("</thead>")
    return out


def table_html(table: Table, caption: str | None = None) -> str:
    """A results table; under every cell its repeat × fold counts (partial runs) and its
    protocol flags; its hover text names the test, the correction and the flags."""
    wide = " wide" if len(table.columns) > 6 else ""
    out = [f'<div class="table-wrap"><table class="results{wide}">']
    caption = caption or table.caption
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out += _header_html(table)
    out.append("<tbody>")
    for r, (row, cells) in enumerate(zip(table.rows, table.cells)):
        counts = table.counts[r] if table.counts else [""] * len(cells)
        hovers = table.hovers[r] if table.hovers else [""] * len(cells)
        flags = table.flags[r] if table.flags else [""] * len(cells)
        out.append("<tr>" + "".join(f'<th scope="row">{esc(x)}</th>' for x in row))
        for text, count, hover, flag in zip(cells, counts, hovers, flags):
            sub = f'<div class="count">{esc(count)}</div>' if count else ""
            sub += f'<div class="flag">⚑ {esc(flag)}</div>' if flag else ""
            title = f' title="{esc(hover)}"' if hover else ""
            out.append(f"<td{title}>{_cell_html(text)}{sub}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    out += [note_html(esc(n), "warn" if n.startswith("Flag") else "note") for n in table.notes]
    if table.flag_details:  # one click away, not in the way of the table
        out.append('<details class="flags"><summary>⚑ flag details</summary>'
                   + "".join(note_html(esc(n), "warn") for n in table.flag_details) + "</details>")
    return "".join(out)


def frame_html(df: pd.DataFrame, classes: str = "plain", formats: dict | None = None,
               row_classes: list[str] | None = None, titles: list[str] | None = None) -> str:
    """A DataFrame as a plain HTML table; `formats` maps column -> callable(value) -> str;
    `titles` gives each row a hover text."""
    formats = formats or {}
    out = [f'<div class="table-wrap"><table class="{classes}"><thead><tr>']
    out += [f"<th>{esc(c)}</th>" for c in df.columns]
    out.append("</tr></thead><tbody>")
    for i, (_, row) in enumerate(df.iterrows()):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        title = f' title="{esc(titles[i])}"' if titles and titles[i] else ""
        out.append(f"<tr{cls}{title}>")
        for c in df.columns:
            v = row[c]
            text = formats[c](v) if c in formats else ("n/a" if _isnan(v) else str(v))
            out.append(f"<td>{_cell_html(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _isnan(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
