"""`paragrid report`: the tables, the files and the self-contained dashboard of a run.

Builds on `paragrid.analysis.stats` (the numbers) and `paragrid.analysis.plots` (the figures):
Table 2 and the cross-corpus table (Markdown, CSV, LaTeX), the paper's own numbers for
`--compare paper`, and the one-file offline HTML page with its views. Exports:

* `write_report`: RUNDIR/report/ (index.html, the tables, summary.csv, significance.csv)
* `report_figures`: the dashboard's figures by name, for notebooks (`paragrid.api` Run.figures)
* `analyse`, `Analysis`: one pass from the results to everything the report shows, for one
  Holm setting
* `Table`: a results table, rendered as Markdown, CSV and LaTeX
"""

from paragrid.analysis.report._analyse import Analysis, analyse
from paragrid.analysis.report._figures import report_figures
from paragrid.analysis.report._report import write_report
from paragrid.analysis.report._table_render import Table

__all__ = ["write_report", "report_figures", "analyse", "Analysis", "Table"]
