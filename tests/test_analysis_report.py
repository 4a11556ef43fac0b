"""Tables, `--compare paper`, the report files and the dashboard page, on synthetic run folders."""

import io
import re

import pandas as pd
import pytest
from analysis_helpers import build_results, write_tables, write_trials_csv

from paragrid.analysis.report import analyse, write_report
from paragrid.analysis.report._paper import paper_cell
from paragrid.analysis.stats import summarise
from paragrid.cli import main
from paragrid.errors import UserError

SMALL = dict(k=4, repeats=2, cross_budgets=(1, 2), max_epochs=20)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    rundir = tmp_path_factory.mktemp("run")
    results, curves = build_results(**SMALL)
    write_tables(rundir, results, curves)
    write_trials_csv(rundir)
    return rundir


@pytest.fixture(scope="module")
def report(small_run):
    """(index path, stdout) of one report of the small run, shared: a report takes seconds."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        index = write_report(small_run)
    return index, buf.getvalue()


SPEC = " · spec architecture"


def _tables(results, compare=False, **kw):
    a = analyse(results, summarise(results), compare_paper=compare, **kw)
    return a.t2, a.cc


def test_table2_layout():
    results, _ = build_results(multi_source=True, **SMALL)
    t2, _ = _tables(results)
    assert t2.columns == ["synth-a" + SPEC, "synth-b" + SPEC]
    assert t2.rows == [("none", "DNN"), ("speaker", "PT/FT"), ("speaker", "ProgNet"),
                       ("gender", "PT/FT"), ("gender", "ProgNet"), ("speaker+gender", "ProgNet")]
    cell = t2.cells[2][0]  # speaker ProgNet on synth-a: effect +0.04 in the helper
    assert re.fullmatch(r"0\.\d{3} ± 0\.\d{3} \*†", cell), cell
    md = t2.to_markdown()
    lines = md.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["Source", "Method", f"synth-a{SPEC}", f"synth-b{SPEC}"]
    assert all(line.startswith("|") for line in lines[:2 + 6]) and lines[2 + 6] == ""
    assert all(line.startswith("- ") for line in lines[2 + 7:])  # the notes follow the table
    assert max(len(line) for line in lines[:2 + 6]) <= 100      # fits a terminal
    assert any("Architecture origin: spec architecture" in line for line in lines)
    csv = pd.read_csv(io.StringIO(t2.to_csv()))
    assert list(csv.columns) == ["Source", "Method", "synth-a" + SPEC, "synth-b" + SPEC] and len(csv) == 6
    tex = t2.to_latex()
    assert r"\begin{tabular}{llcc}" in tex and r"$^{*\dagger}$" in tex and r"$\pm$" in tex
    assert "footnotesize" not in tex and "Flag" not in tex  # no notes or flag prose in a paper's table
    assert r"\toprule" in tex and r"\bottomrule" in tex


def test_crosscorpus_layout():
    results, _ = build_results(**SMALL)
    _, cc = _tables(results)
    assert cc.rows == [("DNN",), ("PT/FT",), ("ProgNet",)]
    assert cc.groups == ["synth-b → synth-a" + SPEC] * 2 + ["synth-a → synth-b" + SPEC] * 2
    assert cc.columns == ["budget 1", "budget 2"] * 2
    md = cc.to_markdown()  # a block per direction, under its name, the budgets as columns
    assert f"**synth-b → synth-a{SPEC}**" in md and re.search(r"\| Method +\| budget 1 +\| budget 2 +\|", md)
    tex = cc.to_latex()
    assert r"\multicolumn{2}{c}{synth-b $\rightarrow$ synth-a $\cdot$ spec architecture}" in tex
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}" in tex
    # the DNN row of the cross-corpus table is the DNN at the same target and budget
    s = summarise(results)
    dnn = s[(s["method"] == "dnn") & (s["target"] == "synth-a") & (s["budget"] == 1)].iloc[0]
    assert cc.cells[0][0].startswith(f"{dnn['uar_mean']:.3f} ± {dnn['uar_std']:.3f}")


def test_compare_paper_shows_the_papers_numbers():
    results, _ = build_results(targets=("iemocap", "msp-improv"), k=10, repeats=1,
                               cross_budgets=(1, 8), max_epochs=10)
    t2, cc = _tables(results, compare=True)
    assert t2.columns == ["iemocap" + SPEC, "iemocap · paper", "msp-improv" + SPEC, "msp-improv · paper"]
    row = t2.rows.index(("speaker", "ProgNet"))
    assert t2.cells[row][1] == "0.657 ± 0.018 *†"
    assert t2.cells[row][3] == "0.605 ± 0.021 *†"
    assert t2.cells[t2.rows.index(("gender", "ProgNet"))][3] == "0.593 ± 0.022 *"
    prog_paper = cc.rows.index(("ProgNet (paper)",))
    col = {(g, c): i for i, (g, c) in enumerate(zip(cc.groups, cc.columns))}
    assert cc.cells[prog_paper][col[("msp-improv → iemocap" + SPEC, "budget 1")]] == "*"
    assert cc.cells[prog_paper][col[("msp-improv → iemocap" + SPEC, "budget 8")]] == "n.s."
    assert paper_cell("speaker", "prognet", "synth-a") == "—"
    assert not any("no published figures" in n for n in t2.notes + cc.notes)


def test_compare_paper_on_other_corpora_says_so():
    """A corpus the paper did not use gets a sentence, not an all-dash column or row."""
    results, _ = build_results(targets=("iemocap", "synth-b"), k=4, repeats=1,
                               cross_budgets=(1,), max_epochs=10)
    t2, cc = _tables(results, compare=True)
    assert t2.columns == ["iemocap" + SPEC, "iemocap · paper", "synth-b" + SPEC]
    assert "Paper comparison: no published figures for synth-b" in " ".join(t2.notes)
    # the paper ran no synth-b ↔ iemocap direction: no '(paper)' rows at all
    assert [r for r in cc.rows if "paper" in r[0]] == []
    assert any("no published figures for iemocap → synth-b, synth-b → iemocap" in n for n in cc.notes)
    for table in (t2, cc):
        for j in range(len(table.columns)):
            column = [row[j] for row in table.cells]
            assert not all(c == "—" for c in column), f"all-dash column {table.columns[j]}"


def test_report_writes_every_file_and_prints_table2(small_run, report):
    index, out = report
    assert index == small_run / "report" / "index.html"
    for name in ["table2", "crosscorpus"]:
        for ext in ["md", "csv", "tex"]:
            assert (small_run / "report" / f"{name}.{ext}").stat().st_size > 0
    assert re.search(rf"\| Source +\| Method +\| synth-a{SPEC} +\| synth-b{SPEC} +\|", out)
    assert f"dashboard: {index}" in out
    sig = pd.read_csv(small_run / "report" / "significance.csv")
    assert {"p_calibrated", "p_corrected", "p_naive", "n_pairs", "significant"} <= set(sig.columns)
    summary = pd.read_csv(small_run / "report" / "summary.csv")
    assert {"uar_mean", "uar_std", "n_repeats", "n_folds", "forgetting"} <= set(summary.columns)
    assert not list((small_run / "report").glob(".*.tmp"))  # atomic writes leave nothing behind


def test_dashboard_is_self_contained(report):
    from plotly.offline import get_plotlyjs

    page = report[0].read_text()
    assert page.count(get_plotlyjs()[-300:]) == 1, "plotly.js inlined exactly once"
    assert page.count("Plotly.newPlot(") >= 8
    assert not re.search(r"<script[^>]+src=", page), "no external scripts"
    assert not re.search(r"<link[^>]+href=", page), "no external stylesheets"
    assert "cdn.plot.ly" not in page.split("<script>", 2)[0]
    for anchor in ["overview", "crosscorpus", "checks", "curves", "significance", "differences",
                   "confusion", "forgetting", "tuning"]:
        assert f'<section id="{anchor}">' in page and f'href="#{anchor}"' in page
    assert "paired t-test over all k·r folds" in page and "Bouckaert 2003" in page


def test_partial_results_do_not_crash(tmp_path, capsys):
    results, curves = build_results(**SMALL)
    # a grid half way through: one repeat of some cells, a method missing, a lone fold
    drop = ((results["method"] == "ptft") & (results["target"] == "synth-b")) \
        | ((results["repeat"] == 1) & (results["method"] == "prognet")) \
        | ((results["method"] == "dnn") & (results["target"] == "synth-b") & (results["fold"] > 0))
    write_tables(tmp_path, results[~drop], curves)
    (tmp_path / "progress.json").write_text('{"trials_done": 20, "trials_total": 44}')
    page = write_report(tmp_path, quiet=True).read_text()
    assert "20</b> of <b>44</b> trials done" in page
    assert "incomplete" in page
    t2 = (tmp_path / "report" / "table2.md").read_text()
    assert "—" in t2  # PT/FT on synth-b has no results yet
    sig = pd.read_csv(tmp_path / "report" / "significance.csv")
    lone = sig[(sig["target"] == "synth-b") & (sig["method_b"] == "dnn")]
    assert (lone["n_pairs"] <= 1).all() and lone["p"].isna().all()
    assert "n/a" in page
    assert "1 rep × 4 folds" in page


def test_only_dnn_rows(tmp_path):
    results, curves = build_results(targets=("synth-a",), para_sources=(), cross_budgets=(), k=4,
                                    repeats=1, max_epochs=10)
    write_tables(tmp_path, results, curves)
    page = write_report(tmp_path, quiet=True).read_text()
    assert not (tmp_path / "report" / "crosscorpus.md").exists()
    assert 'id="crosscorpus"' not in page and "No tuning in this run" in page  # no empty section


def test_missing_results_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"results\.parquet.*paragrid run SPEC"):
        write_report(tmp_path)


def test_bad_alpha_and_bad_file(tmp_path, small_run, report):
    with pytest.raises(UserError, match="alpha"):
        write_report(small_run, alpha=1.5)
    (tmp_path / "results.parquet").write_text("not parquet")
    with pytest.raises(UserError, match="cannot read"):
        write_report(tmp_path)
    write_tables(tmp_path, build_results(**SMALL)[0].drop(columns=["seed"]))
    with pytest.raises(UserError, match="missing column.*seed"):
        write_report(tmp_path)


def test_cli_report(small_run, report, capsys):
    assert main(["report", str(small_run), "--compare", "paper", "--alpha", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "no published figures for synth-a, synth-b" in out and "p < 0.01" in out
    assert "· paper" not in out  # no all-dash paper column for corpora the paper did not use
    assert main(["report", str(small_run / "nope")]) == 2
    assert "error: " in capsys.readouterr().err


def test_tuning_view_with_and_without_a_stored_study(tmp_path):
    from paragrid.analysis.report._views_tuning import tuning

    write_trials_csv(tmp_path, n=8, corpora=("synth-a",))
    body = "".join(tuning(tmp_path).body)
    assert "Optuna optimisation history" in body and "Parameter importance: skipped" in body
    assert "synth-a: best of" in body

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = tmp_path / "tune" / "synth-a" / "optuna.db"  # where `paragrid tune` keeps the study
    db.parent.mkdir()
    study = optuna.create_study(storage=f"sqlite:///{db}", direction="maximize", study_name="arch")
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-2, log=True) * 10
                   + 0.001 * t.suggest_int("layers", 1, 5), n_trials=8)
    body = "".join(tuning(tmp_path).body)
    assert "Hyper-parameter importance" in body and "skipped" not in body


def test_progress_total_from_the_resolved_spec(tmp_path):
    from paragrid.analysis.report._views_header import read_progress
    from paragrid.grid.spec import expand_trials, load_spec

    feats = tmp_path / "features"
    feats.mkdir()
    for name in ("synth-a", "synth-b"):
        (feats / f"{name}.parquet").touch()  # load_spec only checks that the files exist
    spec = load_spec("demo", features_dir=feats)
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(spec.to_yaml("0123"))
    assert read_progress(run) == (None, len(expand_trials(spec).trials), "")
    (feats / "synth-a.parquet").unlink()  # a report made where the features are not: a note
    done, total, note = read_progress(run)
    assert total is None and "total trial count unknown" in note
    (run / "progress.json").write_text('{"trials_done": 3, "trials_total": 9}')
    assert read_progress(run) == (3, 9, "")


def test_the_footer_discloses_loss_streams_and_nested_tuning(report):
    index, _ = report
    page = index.read_text()
    footer = page[page.rfind("Generated by"):]
    assert "unweighted unless" in footer and "common random numbers" in footer
    assert "tuned-nested-corpus-norm" in footer and "grid DNN" in footer
    assert 'id="matrix"' in page  # the synthetic run holds cross-corpus comparisons: a matrix view
