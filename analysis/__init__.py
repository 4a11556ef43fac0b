"""analysis stage of paragrid; see docs/FORMATS.md for what flows in and out.

Three subpackages, each importing only the ones before it:

* `paragrid.analysis.stats`: the numbers (results read and checked, per-cell summaries,
  significance tests and markers, protocol flags, the texts that explain them)
* `paragrid.analysis.plots`: the figures (Plotly), one builder per figure
* `paragrid.analysis.report`: `paragrid report` (the tables, the files and the dashboard page)
"""
