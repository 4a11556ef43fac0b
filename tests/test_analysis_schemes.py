"""Fold schemes, fold designs and architecture origins in the statistics and tables."""

import math

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import build_results, paired_results, write_tables
from scipy import stats as sps

from paragrid.analysis.report import analyse
from paragrid.analysis.stats import (Cell, Design, design_note, design_of, load_results, markers,
                                     significance_table, summarise)
from paragrid.errors import UserError

LOSO = "leave-one-speaker-out"
# One UAR difference per test speaker (n = 6): prognet - dnn.
SPEAKERS = [0.03, 0.05, -0.01, 0.04, 0.02, 0.06]


def _row(sig, method_a="prognet", method_b="dnn"):
    hit = sig[(sig["method_a"] == method_a) & (sig["method_b"] == method_b)]
    assert len(hit) == 1
    return hit.iloc[0]


def _loso(**kw):
    return paired_results({"prognet": SPEAKERS}, k=6, repeats=1, fold_scheme=LOSO, **kw)


def test_loso_pairs_speakers_with_the_paired_t_test():
    r = _row(significance_table(_loso()))
    assert r["test"] == "paired" and r["unit"] == "speaker" and r["n_pairs"] == 6
    dnn = np.linspace(0.5, 0.6, 6)
    ref = sps.ttest_rel(dnn + np.array(SPEAKERS), dnn)
    assert r["p"] == pytest.approx(ref.pvalue) and r["df_paired"] == 5
    assert r["p_wilcoxon"] == pytest.approx(sps.wilcoxon(SPEAKERS).pvalue)
    # the repeated-CV tests do not apply to one repeat of one-speaker folds
    assert math.isnan(r["p_calibrated"]) and math.isnan(r["p_corrected"]) and math.isnan(r["p_naive"])
    assert not r["disagree"]


def test_loso_wilcoxon_can_drive_the_markers():
    sig = significance_table(_loso(), unit_test="wilcoxon")
    r = _row(sig)
    assert r["test"] == "wilcoxon" and r["p"] == pytest.approx(r["p_wilcoxon"])
    # exact two-sided p, n = 6, W = W- = 1: rank sums <= 1 are {}, {1}: 2 * 2/64 = 0.0625
    assert r["p"] == pytest.approx(0.0625)
    cell = Cell("emotion", "synth-a", "speaker", "prognet", 4, "spec")  # k = 6: budget 4
    assert markers(sig)[cell] == ""
    assert markers(significance_table(_loso()))[cell] == "*†"  # paired t: p ~ 0.02 (PT/FT = DNN)
    with pytest.raises(UserError, match="leave-one-speaker/session-out"):
        significance_table(_loso(), unit_test="sign")


def test_loso_tables_name_the_test():
    results = _loso()
    a = analyse(results, summarise(results))
    notes = " ".join(a.t2.notes)
    assert "paired t-test over the test speakers/sessions (df = n − 1) on leave-one-out cells" in notes
    assert "repeated-CV tests (calibrated, corrected) do not apply" in notes
    assert "calibrated for 10 repeats" not in notes  # the df = 10 note is for k-fold cells
    hover = a.t2.hovers[a.t2.rows.index(("speaker", "ProgNet"))][0]
    assert "Test: paired t-test over the test speakers/sessions (df = n − 1); correction: none" in hover
    assert "LOSO, 6 speakers" in hover


def test_design_of_and_the_df_note():
    results, _ = build_results(targets=("synth-a",), para_sources=(), cross_budgets=(), k=10,
                               repeats=10, max_epochs=10)
    assert design_of(results) == Design("speaker-stratified", 10, 10)
    assert design_of(results).calibrated_applies()
    assert design_note([design_of(results)], "calibrated") is None
    part = results[results["repeat"] < 3]
    d = design_of(part)
    assert (d.k, d.repeats) == (10, 3) and not d.calibrated_applies()
    assert "df = 10 was calibrated for 10 repeats of 10-fold CV" in design_note([d], "calibrated")
    assert "is shown for comparison" in design_note([d], "corrected")
    legacy = part.drop(columns=["k", "fold_scheme"])
    assert design_of(legacy) == Design("not recorded", 10, 3)  # k from the folds present


def _two_origins():
    a, _ = build_results(targets=("synth-a",), para_sources=("speaker",), cross_budgets=(), k=4,
                         repeats=2, max_epochs=10, origin="spec")
    b, _ = build_results(targets=("synth-a",), para_sources=("speaker",), cross_budgets=(), k=4,
                         repeats=2, max_epochs=10, origin="tuned-same-corpus", seed=0,
                         effects={("prognet", "speaker"): 0.08})
    return pd.concat([a, b], ignore_index=True)


def test_origins_are_never_pooled(tmp_path):
    results = _two_origins()
    write_tables(tmp_path, results)
    loaded = load_results(tmp_path / "results.parquet")  # same folds, two origins: no conflict
    assert len(loaded) == len(results)
    s = summarise(loaded)
    prog = s[(s["method"] == "prognet")].set_index("architecture_origin")
    assert len(prog) == 2 and prog.loc["tuned-same-corpus", "n_folds"] == 8
    assert prog.loc["tuned-same-corpus", "uar_mean"] > prog.loc["spec", "uar_mean"] + 0.03
    sig = significance_table(loaded)
    assert set(sig["architecture_origin"]) == {"spec", "tuned-same-corpus"}
    assert (sig["n_pairs"] == 8).all()  # each compared only with its own origin's DNN
    t2 = analyse(loaded, s).t2
    assert t2.columns == ["synth-a · spec architecture", "synth-a · tuned-same-corpus (optimistic)"]
    assert "optimistic" in " ".join(t2.notes)


def test_legacy_results_still_work(tmp_path):
    results, _ = build_results(k=4, repeats=2, cross_budgets=(1,), max_epochs=10, legacy=True)
    assert "architecture_origin" not in results and "epoch_cap" not in results
    write_tables(tmp_path, results)
    loaded = load_results(tmp_path / "results.parquet")
    assert set(loaded["architecture_origin"]) == {"not recorded"}
    s = summarise(loaded)
    assert (s["n_cap_known"] == s["n_folds"]).all()   # cap from max_epochs
    assert not s["probe_measured"].any() and s["source_probe_uar_after"].isna().all()
    a = analyse(loaded, s)
    assert a.t2.columns[0] == "synth-a · architecture origin not recorded"
    # a DataFrame straight from an older table (not via load_results) works too
    assert len(significance_table(results)) == len(a.sig)
