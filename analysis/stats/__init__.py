"""The numbers of a run: its results read and checked, per-cell summaries, significance tests and
their markers, protocol flags, and the words that explain them.

Everything here works on pandas tables and plain values (no Plotly, no HTML);
`paragrid.analysis.plots` draws it and `paragrid.analysis.report` writes it. Exports:

* reading results: `load_results`, `load_curves`, `complete_curves`, `with_origin`,
  `with_feature_set`
* cells (one task, target, sources, method, budget, architecture origin): `CELL`, `Cell`,
  `cell_of`, `ORIGIN_UNKNOWN` and the labels and sort keys every table and figure shares
  (`method_label`, `origin_label`, `direction_label`, `cross_corpus_source`, `method_rank`,
  `origin_rank`, `source_rank`, `sources_key`)
* summary: `summarise` (the paper's mean ± mean within-repeat std per cell)
* the tests: `calibrated_t_test`, `corrected_t_test`, `naive_t_test`, `paired_t_test`,
  `wilcoxon_test`, `run_test`, `TestResult`, `holm`, `repeat_mean_std`, and their names
  (`TESTS`, `MARKER_TESTS`, `DESIGN_TEST`, `UNIT_TESTS`, `CALIBRATED_DF`, `TEST_LABEL`, `TEST_SHORT`)
* speaker-level bootstrap CIs of paired differences: `speaker_bootstrap`, `paired_bootstrap`,
  `uar_under_draws` (the significance table's `ci_low` / `ci_high`)
* significance: `significance_table`, `comparison_tests`, `decide`, `markers`, `pair_folds`,
  `check_test`
* fold designs: `Design`, `design_of`, `design_note`, `marker_test`, `table_test`
* protocol flags: `cell_flags`, `CellFlags`, `FoldCounts`, `fold_counts`, `cap_bound`,
  `epoch_caps`, `one_class`, `CAP_FRACTION`, `CAP_WHY`, `CHANCE_WHY`, `DISAGREE_WHY`
* explanations: `Context`, `cell_hover`, `table_notes`, `summary_lookup`, `flags_line`,
  `flag_details`
* number formats: `fmt_p`, `fmt_num`, `fmt_measured`
"""

from paragrid.analysis.stats._bootstrap import paired_bootstrap, speaker_bootstrap, uar_under_draws
from paragrid.analysis.stats._cells import (CELL, ORIGIN_UNKNOWN, Cell, cell_of,
                                            cross_corpus_source, direction_label, method_label,
                                            method_rank, origin_label, origin_rank, source_rank,
                                            sources_key)
from paragrid.analysis.stats._explain import (Context, cell_hover, flag_details, flags_line, summary_lookup,
                                              table_notes)
from paragrid.analysis.stats._flags import (CAP_WHY, CHANCE_WHY, DISAGREE_WHY, CellFlags, FoldCounts,
                                            cell_flags, fold_counts, one_class)
from paragrid.analysis.stats._fmt import fmt_measured, fmt_num, fmt_p
from paragrid.analysis.stats._load import (complete_curves, load_curves, load_results, with_feature_set,
                                           with_origin)
from paragrid.analysis.stats._schemes import Design, design_note, design_of, marker_test, table_test
from paragrid.analysis.stats._significance import (check_test, comparison_tests, decide, markers,
                                                   pair_folds, significance_table)
from paragrid.analysis.stats._summary import summarise
from paragrid.analysis.stats._tests import (CALIBRATED_DF, DESIGN_TEST, MARKER_TESTS, TEST_LABEL, TEST_SHORT,
                                            TESTS, UNIT_TESTS, TestResult, calibrated_t_test,
                                            corrected_t_test, holm, naive_t_test, paired_t_test,
                                            repeat_mean_std, run_test, wilcoxon_test)
from paragrid.grid.store import CAP_FRACTION, cap_bound, epoch_caps  # one definition of a cap-bound fold

__all__ = [
    # reading results
    "load_results", "load_curves", "complete_curves", "with_origin", "with_feature_set",
    # cells
    "CELL", "ORIGIN_UNKNOWN", "Cell", "cell_of", "cross_corpus_source", "direction_label",
    "method_label", "method_rank", "origin_label", "origin_rank", "source_rank", "sources_key",
    # summary
    "summarise",
    # speaker-level bootstrap intervals
    "paired_bootstrap", "speaker_bootstrap", "uar_under_draws",
    # the tests
    "calibrated_t_test", "corrected_t_test", "naive_t_test", "paired_t_test", "wilcoxon_test",
    "run_test", "TestResult", "holm", "repeat_mean_std",
    "TESTS", "MARKER_TESTS", "DESIGN_TEST", "UNIT_TESTS", "CALIBRATED_DF", "TEST_LABEL", "TEST_SHORT",
    # significance
    "significance_table", "comparison_tests", "decide", "markers", "pair_folds", "check_test",
    # fold designs
    "Design", "design_of", "design_note", "marker_test", "table_test",
    # protocol flags
    "cell_flags", "CellFlags", "FoldCounts", "fold_counts", "cap_bound", "epoch_caps",
    "one_class", "CAP_FRACTION", "CAP_WHY", "CHANCE_WHY", "DISAGREE_WHY",
    # explanations
    "Context", "cell_hover", "table_notes", "summary_lookup", "flags_line", "flag_details",
    # number formats
    "fmt_p", "fmt_num", "fmt_measured",
]
