"""The transfer-matrix view: source -> target heat maps of the gain over each target's DNN."""

from __future__ import annotations

from paragrid.analysis.plots import transfer_matrix
from paragrid.analysis.report._analyse import Analysis
from paragrid.analysis.report._dashboard import Section, figure_html, note_html, variants_html


def matrix(off: Analysis, on: Analysis, alpha: float) -> Section | None:
    """None when the run holds no cross-corpus comparison (no matrix to draw)."""
    fig_off, fig_on = transfer_matrix(off.sig, alpha), transfer_matrix(on.sig, alpha)
    if fig_off is None:
        return None
    explain = ("Each cell: mean paired test-UAR difference of the transfer method on that source "
               "corpus (row) minus the target corpus's (column) own DNN at the same fold budget, on "
               "the same folds. <b>*</b>: significantly better by the marker test; ▾: significantly "
               "worse; the hover gives every test's p-value and the speaker-level bootstrap interval. "
               "The row <i>all others</i> is <code>emotion@all-others</code>: ProgNet with one frozen "
               "column per source corpus, PT/FT from one model on the pooled corpora. The dropdown "
               "picks the fold budget (and the feature set, when the run compares several).")
    body = [variants_html(figure_html(fig_off), figure_html(fig_on)),
            note_html("Verdicts follow the Holm switch; the colour is the difference itself.")]
    return Section("matrix", "Transfer matrix", explain, body)
