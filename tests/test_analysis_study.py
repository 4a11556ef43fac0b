"""A report describes its own study: headings, captions and legends from the results, the paper's
names only for the paper's specs, and LaTeX a paper can include as it is."""

import re
import shutil
import subprocess

import pytest
from analysis_helpers import build_results, write_tables

from paragrid.analysis.report import write_report

TWO_METHODS = dict(targets=("synth-a",), para_sources=("speaker",), cross_budgets=(), k=5, repeats=2,
                   max_epochs=20)


def _two_method_run(tmp_path, spec_name="my-study"):
    results, curves = build_results(**TWO_METHODS)
    results, curves = results[results["method"] != "prognet"], curves[curves["method"] != "prognet"]
    results["spec_name"] = spec_name
    write_tables(tmp_path, results, curves)
    return tmp_path


def test_a_non_paper_study_is_described_as_itself(tmp_path, capsys):
    run = _two_method_run(tmp_path)
    page = write_report(run).read_text()
    out = capsys.readouterr().out
    for text in (page, out, (run / "report" / "table2.md").read_text(), (run / "report" / "table2.tex").read_text()):
        assert "Table 2" not in text and "Experiment 1" not in text and "Experiment 2" not in text
        assert "both other methods" not in text                            # two methods compared: DNN, PT/FT
        assert "one transfer method per source set, so no" in text
    assert 'id="crosscorpus"' not in page                                  # no empty section
    study = "speaker-stratified folds · 5 folds × 2 repeats · normalisation corpus · markers: corrected"
    assert study in out and study.replace("·", "&middot;") in page or study in page
    assert '<div class="meta study">' in page                              # the dashboard header names it
    assert re.search(r"<caption>[^<]*5 folds × 2 repeats[^<]*corrected", page)
    assert "p (marker test)" not in page                                   # one column per p-value
    assert "Transfer from speaker by PT/FT vs the DNN" in out


def test_the_papers_specs_keep_the_papers_names(tmp_path, capsys):
    run = _two_method_run(tmp_path, "paper-table2")
    write_report(run)
    out = capsys.readouterr().out
    assert "Paralinguistic transfer (Table 2)" in out


def test_report_test_chooses_the_marker_test(tmp_path, capsys):
    run = _two_method_run(tmp_path)
    write_report(run, test="calibrated")
    assert "markers: calibrated" in capsys.readouterr().out


def _balanced(tex: str) -> bool:
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def test_tex_tables_compile_in_a_paper_as_they_are(tmp_path):
    results, curves = build_results(k=4, repeats=2, cross_budgets=(1, 2), max_epochs=20,
                                    cap_bound={("prognet", "speaker", "synth-a", 2): 1})
    write_tables(tmp_path, results, curves)
    write_report(tmp_path, quiet=True)
    tables = [tmp_path / "report" / f"{n}.tex" for n in ("table2", "crosscorpus")]
    for path in tables:
        tex = path.read_text()
        assert _balanced(tex) and "Flag" not in tex and "cap-bound" not in tex
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no LaTeX engine here; environments checked for balance only")
    doc = tmp_path / "paper.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
                   + "".join(f"\\input{{{p}}}\n" for p in tables) + "\\end{document}\n")
    done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "paper.pdf").exists()


def test_the_report_says_when_models_are_under_trained(tmp_path, capsys):
    results, curves = build_results(targets=("synth-a",), para_sources=("speaker",), cross_budgets=(), k=4,
                                    repeats=2, max_epochs=20, cap_bound={("prognet", "speaker", "synth-a", 2): 4})
    write_tables(tmp_path, results, curves)
    page = write_report(tmp_path).read_text()
    out = capsys.readouterr().out
    assert "Warning: 1 cell(s) may be under-trained" in out and "8 of their 8 folds cap-bound" in out
    assert "prognet speaker synth-a 2: mean best epoch 20.0 of 20" in out
    assert "Warning: 1 cell(s) may be under-trained" in page
