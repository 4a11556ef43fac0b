"""A results table held once, rendered as Markdown, CSV and LaTeX (and HTML in _dashboard.py).

The cell texts live in one `Table`, so the formats cannot disagree. CSV and LaTeX use pandas'
own writers (DataFrame.to_csv; Styler.to_latex with booktabs rules, which needs jinja2). Markdown
is written by hand: DataFrame.to_markdown needs the optional `tabulate` package, which paragrid
does not depend on, and the hand-written pipe table is the same GitHub-flavoured table with
centred value columns, split by columns into tables of at most MD_WIDTH characters a line, so
a table fits a terminal. The LaTeX is a `table` float a paper can include as it is: booktabs
rules, the caption (title, the study's fold scheme, design, normalisation and marker test, the
marker legend), no notes or flag prose (those are in the Markdown and the dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


MD_WIDTH = 100   # characters a Markdown table line may take (a terminal's width)


@dataclass
class Table:
    name: str
    title: str
    row_header: list[str]
    rows: list[tuple[str, ...]]
    columns: list[str]
    groups: list[str]                 # group label per column ('' = none); cross-corpus directions
    cells: list[list[str]]
    counts: list[list[str]] = field(default_factory=list)   # "3 × 10" repeats × folds, HTML only
    notes: list[str] = field(default_factory=list)          # printed under the table everywhere
    hovers: list[list[str]] = field(default_factory=list)   # per cell: test, correction, flags
    flags: list[list[str]] = field(default_factory=list)    # per cell: short protocol flags
    flag_details: list[str] = field(default_factory=list)   # what each flag means, per flagged cell
    caption: str = ""                                       # the study: folds, design, normalisation, test
    legend: str = ""                                        # the markers, counting the methods compared

    def flat_columns(self) -> list[str]:
        return [f"{g} · {c}" if g else c for g, c in zip(self.groups, self.columns)]

    def to_frame(self) -> pd.DataFrame:
        data = [list(r) + list(c) for r, c in zip(self.rows, self.cells)]
        return pd.DataFrame(data, columns=self.row_header + self.flat_columns())

    def to_markdown(self, flags: bool = False, width: int | None = None) -> str:
        """Pipe tables of at most `width` (MD_WIDTH) characters a line (the row header repeated
        in each), then the caption, the legend and the notes; `flags` adds the flag details."""
        width = width or MD_WIDTH
        grouped = any(self.groups)   # a group's columns go together, under the group's name
        flat = list(self.columns) if grouped else self.flat_columns()
        row_w = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                 for i, h in enumerate(self.row_header)]
        col_w = [max(len(h), 5, *(len(c[j]) for c in self.cells)) if self.cells else len(h)
                 for j, h in enumerate(flat)]
        chunks, current, used = [], [], 1 + sum(w + 3 for w in row_w)
        for j, w in enumerate(col_w):
            if current and (used + w + 3 > width or (grouped and self.groups[j] != self.groups[current[0]])):
                chunks.append(current)
                current, used = [], 1 + sum(w2 + 3 for w2 in row_w)
            current.append(j)
            used += w + 3
        chunks.append(current)
        lines: list[str] = []
        for chunk in chunks:
            if lines:
                lines.append("")
            if grouped:
                lines += [f"**{self.groups[chunk[0]]}**", ""]
            widths = row_w + [col_w[j] for j in chunk]
            header = self.row_header + [flat[j] for j in chunk]
            lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
            lines.append("|" + "|".join(["-" * (w + 2) for w in row_w]
                                        + [":" + "-" * col_w[j] + ":" for j in chunk]) + "|")
            for row, cells in zip(self.rows, self.cells):
                texts = list(row) + [cells[j] for j in chunk]
                lines.append("| " + " | ".join(t.ljust(w) for t, w in zip(texts, widths)) + " |")
        notes = [n for n in (self.caption, self.legend) if n] + self.notes
        notes += self.flag_details if flags else []
        return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else [])) + "\n"

    def to_csv(self) -> str:
        return self.to_frame().to_csv(index=False)

    def to_latex(self) -> str:
        """Styler.to_latex over the cell texts, escaped by latex_escape (it maps ±, †, → and the
        markers, which Styler's own escape leaves alone); one \\cmidrule line under the column
        groups, which Styler cannot draw. Needs \\usepackage{booktabs}."""
        if any(self.groups):
            columns = pd.MultiIndex.from_tuples([("", h) for h in self.row_header]
                                                + list(zip(self.groups, self.columns)))
        else:
            columns = pd.Index(self.row_header + self.columns)
        frame = pd.DataFrame([list(r) + list(c) for r, c in zip(self.rows, self.cells)],
                             columns=columns)
        styler = (frame.style.hide(axis="index").format(latex_escape)
                  .format_index(latex_escape, axis=1))
        tex = styler.to_latex(
            column_format="l" * len(self.row_header) + "c" * len(self.columns), hrules=True,
            environment="table", position="t", position_float="centering",
            caption=latex_escape(". ".join(x.rstrip(".") for x in (self.title, self.caption, self.legend) if x) + "."),
            multicol_align="c")
        lines = tex.splitlines()
        if any(self.groups):
            at = lines.index(r"\toprule") + 2   # after the group header row
            lines.insert(at, self._cmidrules())
        return "\n".join(lines) + "\n"

    def _cmidrules(self) -> str:
        rules, pos, start = [], len(self.row_header) + 1, 0
        for i in range(1, len(self.groups) + 1):
            if i == len(self.groups) or self.groups[i] != self.groups[start]:
                n = i - start
                rules.append(f"\\cmidrule(lr){{{pos}-{pos + n - 1}}}")
                pos, start = pos + n, i
        return " ".join(rules)


def latex_escape(text) -> str:
    text = str(text).replace("*†", "\x00")  # both markers as one superscript
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
            "±": r"$\pm$", "†": r"$^\dagger$", "*": r"$^*$", "→": r"$\rightarrow$",
            "—": "---", "·": r"$\cdot$", "×": r"$\times$", "\x00": r"$^{*\dagger}$",
            "√": r"$\surd$", "≈": r"$\approx$", "−": "-", "α": r"$\alpha$", "–": "--", "<": r"$<$", ">": r"$>$"}
    return "".join(repl.get(ch, ch) for ch in text)
