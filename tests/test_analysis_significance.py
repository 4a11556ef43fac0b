"""Summary statistics, pairing on identical folds, markers and Holm, on synthetic results tables."""

import math

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import build_results, paired_results, write_tables
from scipy import stats as sps

from paragrid.analysis.stats import (Cell, holm, load_results, markers, pair_folds, significance_table,
                                     summarise)
from paragrid.errors import UserError

# Paired differences ProgNet - DNN over k = 3 folds x r = 2 repeats, in (repeat, fold) order.
# m = 0.15 / 6 = 0.025; deviations -0.015, 0.005, -0.005, 0.015, 0, 0 -> SS = 5e-4 -> s² = 1e-4.
D = [0.01, 0.03, 0.02, 0.04, 0.025, 0.025]


def _row(sig, method_a, method_b, sources="speaker"):
    hit = sig[(sig["method_a"] == method_a) & (sig["method_b"] == method_b) & (sig["sources"] == sources)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_summary_is_mean_of_per_repeat_mean_and_std():
    results = paired_results({}, k=3, repeats=2)
    dnn = results["method"] == "dnn"
    # repeat 0 folds: 0.60, 0.62, 0.64 -> mean 0.62, std 0.02
    # repeat 1 folds: 0.70, 0.70, 0.73 -> mean 0.71, std sqrt(3e-4)
    results.loc[dnn, "test_uar"] = [0.60, 0.62, 0.64, 0.70, 0.70, 0.73]
    s = summarise(results)
    rec = s[s["method"] == "dnn"].iloc[0]
    assert rec["uar_mean"] == pytest.approx(0.665)
    assert rec["uar_std"] == pytest.approx((0.02 + math.sqrt(3e-4)) / 2)
    assert rec["uar_std_of_repeat_means"] == pytest.approx(np.std([0.62, 0.71], ddof=1))
    assert (rec["n_repeats"], rec["n_folds"], rec["folds_per_repeat_max"]) == (2, 6, 3)
    assert math.isnan(rec["forgetting"])  # no source for the DNN


def test_forgetting_is_before_minus_after():
    results, _ = build_results(targets=("synth-a",), para_sources=("gender",), cross_budgets=(),
                               k=4, repeats=1)
    s = summarise(results).set_index("method")
    assert s.loc["ptft", "source_uar_before"] == pytest.approx(0.93)
    assert s.loc["ptft", "forgetting"] == pytest.approx(0.25)
    assert s.loc["prognet", "forgetting"] == pytest.approx(0.0)


def test_pipeline_p_values_match_hand_computation():
    sig = significance_table(paired_results({"prognet": D}))
    r = _row(sig, "prognet", "dnn")
    assert r["n_pairs"] == 6 and r["n_repeats"] == 2
    assert r["mean_diff"] == pytest.approx(0.025)
    # calibrated: t = 0.025 / (0.01 / sqrt(11)) = 2.5 sqrt(11)
    assert r["t_calibrated"] == pytest.approx(2.5 * math.sqrt(11))
    assert r["p_calibrated"] == pytest.approx(2 * sps.t.sf(2.5 * math.sqrt(11), 10))
    # corrected: helper sizes n_test 99/100/101, n_train 100 -> ratio 1.0;
    # t = 0.025 / sqrt((1/6 + 1) · 1e-4) = 2.5 sqrt(6/7), df 5
    assert r["test_train_ratio"] == pytest.approx(1.0)
    assert r["t_corrected"] == pytest.approx(2.5 * math.sqrt(6 / 7))
    assert r["df_corrected"] == 5
    # naive: t = 0.025 / (0.01 / sqrt(6)) = 2.5 sqrt(6)
    assert r["t_naive"] == pytest.approx(2.5 * math.sqrt(6))
    # the default marker test follows the design: 3 folds x 2 repeats is not the calibrated
    # test's 10 x 10, so the corrected test decides; asked for, the calibrated one does
    assert r["p"] == r["p_corrected"] and r["test"] == "corrected"
    r = _row(significance_table(paired_results({"prognet": D}), test="calibrated"), "prognet", "dnn")
    assert r["p"] == r["p_calibrated"] and r["test"] == "calibrated"


def test_the_default_marker_test_follows_the_design():
    """calibrated on 10 x 10 folds only (its calibration), corrected on 5 x 2, paired over
    speakers on leave-one-speaker-out."""
    ten = significance_table(paired_results({"prognet": list(np.linspace(0.01, 0.03, 100))}, k=10, repeats=10))
    assert set(ten["test"]) == {"calibrated"} and (ten["p"] == ten["p_calibrated"]).all()
    five = significance_table(paired_results({"prognet": list(np.linspace(0.01, 0.03, 10))}, k=5, repeats=2))
    assert set(five["test"]) == {"corrected"} and (five["p"] == five["p_corrected"]).all()
    assert set(significance_table(paired_results({"prognet": list(np.linspace(0.01, 0.03, 10))}, k=5, repeats=2),
                                  test="calibrated")["test"]) == {"calibrated"}


def test_markers_star_and_dagger():
    # ProgNet clearly above both; PT/FT equal to the DNN up to small zero-mean noise.
    noise = [0.002, -0.002, 0.001, -0.001, 0.0005, -0.0005]
    sig = significance_table(paired_results({"prognet": D, "ptft": noise}), test="calibrated")
    marks = markers(sig)
    assert marks[Cell("emotion", "synth-a", "speaker", "prognet", 1, "spec")] == "*†"
    assert marks[Cell("emotion", "synth-a", "speaker", "ptft", 1, "spec")] == ""


def test_star_without_dagger_when_both_transfer_methods_are_equal():
    sig = significance_table(paired_results({"prognet": D, "ptft": D}), test="calibrated")
    marks = markers(sig)
    assert marks[Cell("emotion", "synth-a", "speaker", "prognet", 1, "spec")] == "*"
    assert marks[Cell("emotion", "synth-a", "speaker", "ptft", 1, "spec")] == "*"


def test_significantly_worse_gets_no_star():
    sig = significance_table(paired_results({"ptft": [-d for d in D]}), test="calibrated")
    r = _row(sig, "ptft", "dnn")
    assert r["significant"] and r["mean_diff"] < 0
    assert markers(sig)[Cell("emotion", "synth-a", "speaker", "ptft", 1, "spec")] == ""


def test_alpha_is_respected():
    # t = 2.5 sqrt(6/7) with 5 df -> p ~ 0.068 for the corrected test
    results = paired_results({"prognet": D})
    p = _row(significance_table(results, test="corrected"), "prognet", "dnn")["p"]
    assert 0.05 < p < 0.1
    assert not _row(significance_table(results, test="corrected", alpha=0.05), "prognet", "dnn")["significant"]
    assert _row(significance_table(results, test="corrected", alpha=0.1), "prognet", "dnn")["significant"]


def test_holm_adjusts_within_each_table():
    results, _ = build_results(targets=("synth-a", "synth-b"), cross_budgets=(1, 2), k=4, repeats=2)
    sig = significance_table(results, use_holm=True)
    for table, g in sig.groupby("table"):
        np.testing.assert_allclose(g["p_adj"], holm(g["p"].to_numpy()))
        assert (g["significant"] == (g["p_adj"] < 0.05)).all()
    plain = significance_table(results)
    assert (plain["p_adj"] == plain["p"]).all()


def test_holm_can_remove_a_marker():
    # Raw corrected p of ProgNet - DNN lies below alpha = 0.1; the family holds three
    # comparisons (PT/FT - DNN has the same p, ProgNet - PT/FT has p = 1), so Holm multiplies the
    # smallest p by 3 and the marker goes.
    d = [0.012, 0.03, 0.02, 0.04, 0.025, 0.025]
    results = paired_results({"prognet": d, "ptft": d})
    raw = significance_table(results, test="corrected", alpha=0.1)
    adj = significance_table(results, test="corrected", alpha=0.1, use_holm=True)
    r_raw, r_adj = _row(raw, "prognet", "dnn"), _row(adj, "prognet", "dnn")
    assert r_raw["p"] < 0.1 <= r_adj["p_adj"]
    cell = Cell("emotion", "synth-a", "speaker", "prognet", 1, "spec")
    assert markers(raw)[cell] == "*" and markers(adj)[cell] == ""


def test_refuses_to_pair_different_seeds():
    results = paired_results({"prognet": D})
    results.loc[results["method"] == "prognet", "seed"] += 7
    with pytest.raises(UserError, match="seed"):
        significance_table(results)


def test_refuses_to_pair_different_fold_sizes():
    results = paired_results({"prognet": D})
    idx = results.index[(results["method"] == "dnn") & (results["fold"] == 1)]
    results.loc[idx, "n_test"] += 5
    with pytest.raises(UserError, match="n_test"):
        pair_folds(results, Cell("emotion", "synth-a", "speaker", "prognet", 1, "spec"),
                   Cell("emotion", "synth-a", "none", "dnn", 1, "spec"))


def test_partial_results_pair_on_common_folds_only():
    results = paired_results({"prognet": D})
    gone = (results["method"] == "dnn") & (results["repeat"] == 1)
    sig = significance_table(results[~gone])
    r = _row(sig, "prognet", "dnn")
    assert r["n_pairs"] == 3 and r["unmatched_folds"] == 3
    assert r["mean_diff"] == pytest.approx(np.mean(D[:3]))


def test_single_pair_is_not_applicable():
    results = paired_results({"prognet": D})
    keep = (results["repeat"] == 0) & (results["fold"] == 0) | (results["method"] != "dnn")
    sig = significance_table(results[keep])
    r = _row(sig, "prognet", "dnn")
    assert r["n_pairs"] == 1 and math.isnan(r["p"]) and not r["significant"]
    assert markers(sig)[Cell("emotion", "synth-a", "speaker", "prognet", 1, "spec")] == ""


def test_load_rejects_mixed_runs_and_drops_exact_duplicates(tmp_path, capsys):
    results = paired_results({"prognet": D})
    dup = results.iloc[:2].copy()
    write_tables(tmp_path / "a", pd.concat([results, dup]))
    loaded = load_results(tmp_path / "a" / "results.parquet")
    assert len(loaded) == len(results)
    assert "dropped 2 exact duplicate" in capsys.readouterr().out
    other = results.iloc[:1].copy()
    other["seed"] += 1
    other["test_uar"] += 0.01
    write_tables(tmp_path / "b", pd.concat([results, other]))
    with pytest.raises(UserError, match="different runs"):
        load_results(tmp_path / "b" / "results.parquet")


def test_naive_test_cannot_drive_the_markers():
    results = paired_results({"prognet": D})
    with pytest.raises(UserError, match="overstates"):
        significance_table(results, test="naive")
    with pytest.raises(UserError, match="unknown significance test"):
        significance_table(results, test="wilcoxon")
    # but it is always reported beside the chosen test
    assert not significance_table(results)["p_naive"].isna().any()
