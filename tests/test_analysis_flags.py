"""Protocol traps flagged per cell: cap-bound folds, folds at chance, tests that disagree."""

import json

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import build_results, paired_results

from paragrid.analysis.report import analyse
from paragrid.analysis.stats import (DISAGREE_WHY, Cell, cap_bound, epoch_caps, fold_counts, one_class,
                                     significance_table, summarise)

D = [0.01, 0.03, 0.02, 0.04, 0.025, 0.025]   # ProgNet - DNN, k = 3 folds x 2 repeats


def test_cap_bound_is_the_last_five_percent_of_the_cap():
    # cap 600: the last 5 % are epochs 571..600 (best > 0.95 · 600 = 570)
    rows = pd.DataFrame({"best_epoch": [570, 571, 600, 19, 20, 5],
                         "epoch_cap": [600, 600, 600, 20, 20, 100]})
    assert cap_bound(rows).tolist() == [False, True, True, False, True, False]


def test_epoch_cap_falls_back_to_max_epochs():
    rows = pd.DataFrame({"best_epoch": [58, 58, 58], "epoch_cap": [200, None, None],
                         "max_epochs": [60, 60, 600]})
    assert epoch_caps(rows).tolist() == [200.0, 60.0, 600.0]
    assert cap_bound(rows).tolist() == [False, True, False]
    older = rows.drop(columns=["epoch_cap"])            # results from before the column
    assert cap_bound(older).tolist() == [True, True, False]
    unknown = cap_bound(rows.drop(columns=["epoch_cap", "max_epochs"]))
    assert unknown.isna().all()                         # not measured, not "not cap-bound"


def test_one_class_reads_the_confusion_matrix():
    assert one_class(json.dumps([[5, 0], [3, 0]])) is True       # every prediction class 0
    assert one_class(json.dumps([[5, 0], [3, 1]])) is False
    assert one_class(json.dumps([[4]])) is None                  # one class: nothing to flag
    assert one_class(None) is None and one_class("not json") is None
    assert one_class(float("nan")) is None


def test_fold_counts_per_cell():
    results, _ = build_results(targets=("synth-a",), para_sources=("speaker",), cross_budgets=(),
                               k=4, repeats=2, max_epochs=20,
                               cap_bound={("dnn", "none", "synth-a", 2): 3},
                               one_class={("ptft", "speaker", "synth-a", 2): 1})
    s = summarise(results).set_index("method")
    assert (s.loc["dnn", "n_cap_bound"], s.loc["dnn", "n_cap_known"]) == (6, 8)
    assert (s.loc["ptft", "n_chance"], s.loc["ptft", "n_chance_known"]) == (2, 8)
    assert s.loc["prognet", "n_cap_bound"] == 0 and s.loc["prognet", "n_chance"] == 0
    counts = fold_counts(results[results["method"] == "dnn"].drop(columns=["confusion"]))
    assert counts.chance_known == 0  # no confusion column: not measured


def test_flags_reach_the_tables():
    results, _ = build_results(targets=("synth-a",), para_sources=("speaker",), cross_budgets=(),
                               k=4, repeats=2, max_epochs=20,
                               cap_bound={("prognet", "speaker", "synth-a", 2): 1},
                               one_class={("ptft", "speaker", "synth-a", 2): 2})
    t2 = analyse(results, summarise(results)).t2
    row = {r: i for i, r in enumerate(t2.rows)}
    assert t2.flags[row[("speaker", "ProgNet")]][0] == "2/8 cap-bound"
    assert t2.flags[row[("speaker", "PT/FT")]][0] == "4/8 at chance"
    assert "Flag: 2 of 8 folds cap-bound" in t2.hovers[row[("speaker", "ProgNet")]][0]
    md = t2.to_markdown()
    assert "Flags ⚑: 1 cell with cap-bound folds; 1 cell with folds at chance (details: " in md
    assert "4 of 8 folds at chance" not in md and "last 5 %" not in md   # one line per table
    md = t2.to_markdown(flags=True)                                       # --flags: the details
    assert "4 of 8 folds at chance (predictions in one class)" in md
    assert "cap-bound: the selected epoch lies in the last 5 % of the fold's epoch cap" in md
    assert "4 folds × 2 repeats (not 10 folds × 10 repeats)" in md


def test_disagreement_between_the_calibrated_and_corrected_tests():
    # calibrated: t = 2.5 sqrt(11) = 8.29 with 10 df, p = 8.6e-6;
    # corrected (n_test/n_train = 1): t = 2.5 sqrt(6/7) = 2.31 with 5 df, p = 0.069.
    # PT/FT equals the DNN, so ProgNet - PT/FT has the same differences and the same verdicts.
    results = paired_results({"prognet": D})
    sig = significance_table(results)
    r = sig[(sig["method_a"] == "prognet") & (sig["method_b"] == "dnn")].iloc[0]
    assert r["p_calibrated"] < 0.05 < r["p_corrected"] and r["disagree"]
    assert not significance_table(results, alpha=0.1)["disagree"].iloc[1]  # both significant
    a = analyse(results, summarise(results))
    flags = a.ctx.flags[Cell("emotion", "synth-a", "speaker", "prognet", 1, "spec")]
    assert [line.split(":")[0] for line in flags.disagreements] == ["ProgNet vs DNN", "ProgNet vs PT/FT"]
    assert "calibrated p = 8.6e-06, corrected p = 0.069 (α = 0.05)" in flags.disagreements[0]
    ptft = a.ctx.flags[Cell("emotion", "synth-a", "speaker", "ptft", 1, "spec")]
    assert [line.split(":")[0] for line in ptft.disagreements] == ["ProgNet vs PT/FT"]
    assert DISAGREE_WHY in a.t2.flag_details and "far more liberal" in DISAGREE_WHY
    assert [n for n in a.t2.notes if n.startswith("Flags ⚑: ")] == [
        "Flags ⚑: 2 cells where the calibrated and corrected tests disagree (details: paragrid report --flags, "
        "or the ⚑ under a dashboard cell)."]
    # the DNN is the baseline of the comparison, not flagged itself
    assert not a.ctx.flags[Cell("emotion", "synth-a", "none", "dnn", 1, "spec")].disagreements


def test_holm_adjusts_both_tests_before_comparing_them():
    results = paired_results({"prognet": D, "ptft": D})
    sig = significance_table(results, use_holm=True)
    for t in ("calibrated", "corrected"):
        raw = sig[f"p_{t}"].to_numpy()
        m = np.count_nonzero(~np.isnan(raw))
        assert (sig[f"p_adj_{t}"] >= sig[f"p_{t}"]).all()
        assert sig[f"p_adj_{t}"].min() == pytest.approx(min(1.0, m * np.nanmin(raw)))
    assert set(sig["correction"]) == {"Holm within the transfer table (3 comparisons)"}
    assert (sig["disagree"] == ((sig["p_adj_calibrated"] < 0.05) != (sig["p_adj_corrected"] < 0.05))).all()
