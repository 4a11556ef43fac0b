"""Charts that do not mislead, checked on each figure's JSON as the page holds it.

Every `Plotly.newPlot(id, data, layout, config)` call of index.html is decoded, and the axis
ranges are read from its layout: UAR bars from 0 (or chance, as a button) holding every error
bar, clean decade ticks on the p-value axis with the α line labelled, confusion matrices for
every budget, and no link to a file that was not written.
"""

import base64
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from analysis_helpers import build_results, write_tables

from paragrid.analysis.plots import decade_text, p_floor, uar_ranges
from paragrid.analysis.report import write_report

# ProgNet/speaker near the top of the scale: its error bars reach above 1.0, as on EmoDB.
HIGH = {("prognet", "speaker"): 0.44, ("ptft", "speaker"): 0.40}


def plotly_figures(page: str) -> list[dict]:
    """(data, layout) of every Plotly.newPlot call in the page, decoded from its JSON."""
    dec, figs = json.JSONDecoder(), []
    for m in re.finditer(r"Plotly\.newPlot\(\s*", page):
        pos = m.end()
        parts = []
        for _ in range(3):  # id, data, layout
            value, end = dec.raw_decode(page, pos)
            parts.append(value)
            pos = end + len(re.match(r"\s*,\s*", page[end:]).group(0))
        figs.append({"data": parts[1], "layout": parts[2]})
    return figs


def arr(value) -> np.ndarray:
    """A data array as Plotly wrote it: a list, or a typed array {dtype, bdata (base64)}."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return out.reshape(value["shape"]) if "shape" in value else out
    return np.asarray(value, dtype=float)


def by_title(figs, prefix: str) -> list[dict]:
    return [f for f in figs if f["layout"].get("title", {}).get("text", "").startswith(prefix)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rundir = tmp_path_factory.mktemp("run")
    results, curves = build_results(k=4, repeats=2, cross_budgets=(1, 2), max_epochs=20, effects=HIGH)
    write_tables(rundir, results, curves)
    index = write_report(rundir, quiet=True)
    page = index.read_text()
    return rundir, page, plotly_figures(page)


def _bars(fig):
    ys, es = [], []
    for tr in fig["data"]:
        if tr.get("type") == "bar" and "error_y" in tr:
            ys += arr(tr["y"]).tolist()
            es += arr(tr["error_y"]["array"]).tolist()
    return np.array(ys, dtype=float), np.array(es, dtype=float)


def test_uar_bars_start_at_zero_hold_every_error_bar_and_offer_the_zoom(run):
    _, _, figs = run
    bars = by_title(figs, "UAR per source set")
    assert len(bars) == 2  # without and with Holm
    for fig in bars:
        y, e = _bars(fig)
        assert (y + e).max() > 1.0  # the data do reach above 1: the axis must follow
        lo, hi = fig["layout"]["yaxis"]["range"]
        assert lo == 0.0 and hi >= (y + e).max()
        assert fig["layout"]["yaxis"]["autorange"] is False
        buttons = fig["layout"]["updatemenus"][0]["buttons"]
        labels = [b["label"] for b in buttons]
        assert labels == ["axis from 0", "axis from chance", "zoom to the data (magnifies differences)"]
        for b in buttons:
            blo, bhi = b["args"][0]["yaxis.range"]
            assert blo <= (y - e).min() and bhi >= (y + e).max(), b["label"]
        assert buttons[1]["args"][0]["yaxis.range"][0] == 0.25
        chance = [s for s in fig["layout"]["shapes"] if s["y0"] == s["y1"] == 0.25]
        assert len(chance) == 2  # one dotted segment per target corpus
        assert [a["text"] for a in fig["layout"]["annotations"]] == ["chance 1/4 = 0.25"]


def test_uar_ranges_rules():
    r = uar_ranges([0.5, 0.9], [0.05, 0.2], chance=0.25)
    assert r["from 0"][0] == 0.0 and r["from chance"][0] == 0.25
    assert r["from 0"][1] == pytest.approx(1.1 + 0.04) and r["zoom"][0] == pytest.approx(0.41)
    # a bar whose error bar dips below chance: no 'from chance' view that would cut it
    assert "from chance" not in uar_ranges([0.3], [0.1], chance=0.25)
    assert "from chance" not in uar_ranges([0.5], [0.1], chance=None)


def test_budget_curves_hold_their_error_bars_and_chance(run):
    _, _, figs = run
    for fig in by_title(figs, "Cross-corpus transfer: UAR against fold budget"):
        lo, hi = fig["layout"]["yaxis"]["range"]
        for tr in fig["data"]:
            if tr.get("error_y"):
                y, e = arr(tr["y"]), arr(tr["error_y"]["array"])
                assert lo <= (y - e).min() and hi >= (y + e).max()
        assert lo <= 0.25 <= hi
        assert any(a["text"] == "chance 1/4 = 0.25" for a in fig["layout"]["annotations"])


def test_p_value_axis_is_a_clean_log_axis_with_a_labelled_alpha_line(run):
    _, page, figs = run
    (fig,) = by_title(figs, "p-value of every comparison")
    ax = fig["layout"]["xaxis"]
    assert ax["type"] == "log" and ax["tickmode"] == "array"
    exps = [math.log10(v) for v in ax["tickvals"]]
    assert exps == list(range(0, round(exps[-1]) - 1, -1))       # every decade, nothing else
    assert ax["ticktext"] == [decade_text(round(x)) for x in exps]
    assert ax["ticktext"][:4] == ["1", "0.1", "0.01", "0.001"]
    assert all("µ" not in t and "e" not in t for t in ax["ticktext"])
    assert ax["minor"]["ticks"] == "" and ax["minor"]["showgrid"] is False
    start, end = ax["range"]                                     # log10 units, reversed
    assert start > 0 > end
    xs = [x for tr in fig["data"] for x in arr(tr["x"])]
    assert all(end <= math.log10(x) <= start for x in xs)
    (alpha,) = [a for a in fig["layout"]["annotations"] if a["text"] == "α = 0.05"]
    assert alpha["x"] == pytest.approx(math.log10(0.05)) and alpha["xanchor"] == "left"
    assert any(s["x0"] == s["x1"] == 0.05 for s in fig["layout"]["shapes"])
    assert "100µ" not in page


def test_p_floor():
    assert p_floor([0.2, 3e-5, float("nan")]) == pytest.approx(1e-6)
    assert p_floor([0.0, 0.5]) == pytest.approx(1e-2)   # p = 0 is drawn at the floor
    assert p_floor([1e-40]) == pytest.approx(1e-16)


def test_confusion_matrices_for_every_budget(run):
    _, page, figs = run
    conf = by_title(figs, "Confusion matrices on")
    titles = sorted(f["layout"]["title"]["text"].split(":")[0] for f in conf)
    # synth-a and synth-b each have budgets 1, 2 (the full budget of k = 4 is 2)
    assert titles == sorted(f"Confusion matrices on {t} (emotion), budget {b}, spec architecture"
                            for t in ("synth-a", "synth-b") for b in (1, 2))
    for target in ("synth-a", "synth-b"):
        sel = re.search(rf'<select class="view-select" id="confusion-{target}-emotion-spec-'
                        r'architecture">(.*?)</select>', page).group(1)
        assert re.findall(r'<option value="(\d+)"', sel) == ["2", "1"]
        assert '<option value="2" selected>2 (full)</option>' in sel


def test_forgetting_bars_start_at_zero(run):
    _, _, figs = run
    (fig,) = by_title(figs, "Forgetting")
    lo, hi = fig["layout"]["yaxis"]["range"]
    ys = [y for tr in fig["data"] for y in arr(tr["y"]) if np.isfinite(y)]
    assert lo == 0.0 and hi >= max(ys)
    assert {tr["name"] for tr in fig["data"]} == {"before (source model)", "after: source head",
                                                  "after: linear probe"}


class _Links(HTMLParser):
    """href / src of every tag of the page (script bodies are not tags, so plotly.js's own
    strings are not mistaken for links)."""

    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def _links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return [h for h in parser.links if not h.startswith("#")]


def test_no_link_points_to_a_missing_file(run, tmp_path):
    rundir, page, _ = run
    links = _links(page)
    assert {"table2.md", "crosscorpus.tex", "summary.csv", "significance.csv"} <= set(links)
    for link in links:
        assert (rundir / "report" / link).is_file(), f"index.html links {link}, which is missing"
    # a run without cross-corpus rows: its footer does not list (or link) crosscorpus.*
    results, _ = build_results(targets=("synth-a",), cross_budgets=(), k=4, repeats=1, max_epochs=10)
    write_tables(tmp_path, results)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "crosscorpus.md").write_text("stale")   # from an earlier report
    page = write_report(tmp_path, quiet=True).read_text()
    footer = page[page.index("<footer>"):]
    assert "crosscorpus" not in footer and "table2.md" in footer
    assert not (tmp_path / "report" / "crosscorpus.md").exists()
    for link in _links(page):
        assert (tmp_path / "report" / link).is_file(), link


def test_every_table_cell_names_its_test_and_correction(run):
    _, page, _ = run
    off = page[page.index('<div class="holm-off">'):page.index('<div class="holm-on">')]
    cells = re.findall(r'<td title="([^"]*)">', off)
    # a 4 x 2-fold design: the corrected test (the calibrated one is for 10 x 10 folds)
    assert cells and all("Test: corrected repeated k-fold CV t-test" in c for c in cells
                         if "no comparisons" not in c and "paper" not in c)
    assert all("correction: none" in c for c in cells if "Test:" in c)
    on = page[page.index('<div class="holm-on">'):]
    assert "correction: Holm within the transfer table (" in on
    assert 'id="holm-toggle"' in page and "Holm correction within each table" in page


def test_report_figures_for_notebooks():
    """paragrid.api's figures: the page's builders, by name, as Plotly figures."""
    import plotly.graph_objects as go

    from paragrid.analysis.report import report_figures

    results, curves = build_results(k=4, repeats=1, cross_budgets=(1,), max_epochs=10)
    figs = report_figures(results, curves, holm=True)
    assert {"table2_bars", "budget_curves", "pvalues", "best_epochs", "forgetting"} <= set(figs)
    assert "confusion: synth-a (emotion) · spec architecture · budget 1" in figs
    assert any(k.startswith("learning_curves: synth-b") for k in figs)
    assert all(isinstance(f, go.Figure) for f in figs.values())
    assert figs["table2_bars"].layout.yaxis.range[0] == 0.0
    assert "budget_curves" not in report_figures(results[~results["sources"].str.contains("@")])
