"""A results table held once, rendered as Markdown, CSV and LaTeX (and HTML in _dashboard.py).

The cell texts live in one `Table`, so the formats cannot disagree. CSV and LaTeX use pandas'
own writers (DataFrame.to_csv; Styler.to_latex with booktabs rules, which needs jinja2). Markdown
is written by hand: DataFrame.to_markdown needs the optional `tabulate` package, which paragrid
does not depend on, and the hand-written pipe table is the same GitHub-flavoured table with
centred value columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


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

    def flat_columns(self) -> list[str]:
        return [f"{g} · {c}" if g else c for g, c in zip(self.groups, self.columns)]

    def to_frame(self) -> pd.DataFrame:
        data = [list(r) + list(c) for r, c in zip(self.rows, self.cells)]
        return pd.DataFrame(data, columns=self.row_header + self.flat_columns())

    def to_markdown(self) -> str:
        header = self.row_header + self.flat_columns()
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * len(self.row_header) + [":---:"] * len(self.columns)) + "|"]
        for row, cells in zip(self.rows, self.cells):
            lines.append("| " + " | ".join(list(row) + cells) + " |")
        notes = [""] + [f"- {n}" for n in self.notes] if self.notes else []
        return "\n".join(lines + notes) + "\n"

    def to_csv(self) -> str:
        return self.to_frame().to_csv(index=False)

    def to_latex(self) -> str:
        """Styler.to_latex over the cell texts, escaped by latex_escape (it maps ±, †, → and the
        markers, which Styler's own escape leaves alone); one \\cmidrule line under the column
        groups, which Styler cannot draw; the notes as a footnote-size paragraph."""
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
            caption=latex_escape(self.title), multicol_align="c")
        lines = tex.splitlines()
        if any(self.groups):
            at = lines.index(r"\toprule") + 2   # after the group header row
            lines.insert(at, self._cmidrules())
        if self.notes:
            end = lines.index(r"\end{tabular}") + 1
            lines.insert(end, r"\par\smallskip{\footnotesize "
                         + " ".join(latex_escape(n) for n in self.notes) + "}")
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
            "√": r"$\surd$", "≈": r"$\approx$", "−": "-", "α": r"$\alpha$", "–": "--"}
    return "".join(repl.get(ch, ch) for ch in text)
