"""The dashboard's figures as Plotly objects, one builder per figure, and their shared look.

Each builder takes the tables `paragrid.analysis.stats` computes (results, summary, significance)
and returns a `plotly.graph_objects.Figure` (or None / [] where the run has no data for it);
`paragrid.analysis.report` places them on the page. Exports:

* UAR: `table2_bars` (Table 2 as bars), `budget_curves` (UAR against fold budget, Figure 4),
  `learning_curves` (Figure 3)
* inside cells: `confusion_matrices`, `forgetting`
* protocol checks: `best_epoch_positions`
* tests: `paired_differences`, `pvalue_dots`
* many corpora: `transfer_matrix` (source -> target heat maps vs the DNN, a budget selector),
  `matrix_rows`
* tuning: `tuning_history`, `importance_bars`
* the axis rules that keep the figures honest: `uar_ranges`, `p_floor`, `decade_text`
"""

from paragrid.analysis.plots._cells import confusion_matrices, forgetting
from paragrid.analysis.plots._checks import best_epoch_positions
from paragrid.analysis.plots._matrix import matrix_rows, transfer_matrix
from paragrid.analysis.plots._style import decade_text, p_floor, uar_ranges
from paragrid.analysis.plots._tests import paired_differences, pvalue_dots
from paragrid.analysis.plots._tuning import importance_bars, tuning_history
from paragrid.analysis.plots._uar import budget_curves, learning_curves, table2_bars

__all__ = [
    "table2_bars", "budget_curves", "learning_curves",
    "confusion_matrices", "forgetting",
    "best_epoch_positions",
    "transfer_matrix", "matrix_rows",
    "paired_differences", "pvalue_dots",
    "tuning_history", "importance_bars",
    "uar_ranges", "p_floor", "decade_text",
]
