"""The dashboard renders in a real browser: every view draws its charts, with no JavaScript errors.

Uses Debian's headless Chromium (/usr/bin/chromium, or $CHROMIUM): one run dumps the DOM after
the page's scripts ran, a second one saves a screenshot to test-artifacts/ for a human to look at,
a third dumps the page with the Holm switch on and another confusion budget selected (the
address query the page reads), to check that the switch and the selector show their charts at
full width (Plotly sizes a chart hidden at creation at its 700 px default until resized).
All DNS is mapped to nowhere, so a page that tried to fetch anything (a CDN) would log an error.
"""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from analysis_helpers import build_results, write_tables, write_trials_csv

from paragrid.analysis.report import write_report

pytestmark = pytest.mark.browser

VIEWS = ["overview", "crosscorpus", "matrix", "checks", "curves", "significance", "differences",
         "confusion", "forgetting", "tuning"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
SELECT = "confusion-synth-a-emotion-spec-architecture"


class Charts(HTMLParser):
    """Width of every rendered Plotly chart (its first main-svg) and the classes / data-choice
    values / section id of the elements around it."""

    def __init__(self):
        super().__init__()
        self.stack, self.charts, self.body_class = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body_class = a.get("class") or ""
        if tag == "svg" and a.get("class") == "main-svg" and "background" in (a.get("style") or ""):
            around = [dict(x) for _, x in self.stack]
            self.charts.append({"width": int(a["width"]),
                                "classes": {c for x in around for c in (x.get("class") or "").split()},
                                "choice": [x["data-choice"] for x in around if "data-choice" in x],
                                "select": [x["data-select"] for x in around if "data-select" in x],
                                "section": next((x["id"] for x in around if x.get("id") and
                                                 x.get("id") in VIEWS), None)})
        if tag not in VOID:
            self.stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def _charts(dom: str) -> Charts:
    parser = Charts()
    parser.feed(dom)
    return parser
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _chromium() -> str | None:
    for candidate in [os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")]:
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _command(binary: str, profile: Path, *extra: str) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", *extra]


def test_dashboard_renders_every_view(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium, or set $CHROMIUM)")
    rundir = tmp_path / "run"
    results, curves = build_results(k=4, repeats=2, cross_budgets=(1, 2), max_epochs=20)
    write_tables(rundir, results, curves)
    write_trials_csv(rundir)
    index = write_report(rundir, compare_paper=True, quiet=True)
    url = index.resolve().as_uri()

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "analysis-dashboard.png"
    shot.unlink(missing_ok=True)
    dump = subprocess.Popen(_command(binary, tmp_path / "p1", "--virtual-time-budget=5000",
                                     "--window-size=1400,1000", "--dump-dom", url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    snap = subprocess.Popen(_command(binary, tmp_path / "p2", "--hide-scrollbars",
                                     "--window-size=1400,1000", f"--screenshot={shot}", url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dom, log = dump.communicate(timeout=90)
        snap.wait(timeout=90)
    finally:
        for proc in (dump, snap):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert dump.returncode == 0, log[-2000:]

    console = [line for line in log.splitlines() if "CONSOLE" in line]
    bad = [line for line in console if re.search(r"uncaught|error|failed to load", line, re.I)]
    assert not bad, "browser console errors:\n" + "\n".join(bad)
    assert re.search(r'id="js-errors"[^>]*hidden', dom), "the page caught JavaScript errors"

    for view in VIEWS:
        start = dom.find(f'<section id="{view}">')
        assert start >= 0, f"view {view} missing from the rendered page"
        end = dom.find("</section>", start)
        charts = dom.count('class="main-svg"', start, end)
        assert charts > 0, f"view {view} rendered no Plotly chart"
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot written"

    # Shown charts fill their column; the zoom of the UAR bars is a button, not the default.
    charts = _charts(dom)
    full = max(c["width"] for c in charts.charts)
    assert full > 900 and "holm" not in charts.body_class
    shown = [c for c in charts.charts if "holm-on" not in c["classes"] and c["choice"] in ([], ["2"])]
    assert all(c["width"] == full for c in shown), [c for c in shown if c["width"] != full]
    overview = dom[dom.find('<section id="overview">'):dom.find('<section id="crosscorpus">')]
    assert overview.count('class="updatemenu-button"') >= 3
    assert "zoom to the data (magnifies differences)" in overview
    # the transfer matrix: a heat map per method with a budget selector and its marks
    matrix = dom[dom.find('<section id="matrix">'):dom.find('<section id="checks">')]
    assert matrix.count("heatmaplayer") >= 1 and matrix.count('class="main-svg"') >= 2
    assert "budget 2" in matrix and "updatemenu-header" in matrix   # the budget dropdown

    # The Holm switch and the budget selector, set from the address as a click would set them.
    holm = subprocess.run(_command(binary, tmp_path / "p3", "--virtual-time-budget=5000",
                                   "--window-size=1400,1000", "--dump-dom",
                                   f"{url}?holm=1&{SELECT}=1"),
                          capture_output=True, text=True, timeout=90)
    assert holm.returncode == 0, holm.stderr[-2000:]
    on = _charts(holm.stdout)
    assert "holm" in on.body_class.split()
    resized = [c for c in on.charts if "holm-on" in c["classes"]]
    assert resized and all(c["width"] == full for c in resized), "Holm variant not resized"
    picked = [c for c in on.charts if c["select"] == [SELECT] and c["choice"] == ["1"]]
    assert len(picked) == 1 and picked[0]["width"] == full, "budget-1 matrices not resized"
    assert picked[0]["section"] == "confusion"
    assert re.search(r'id="js-errors"[^>]*hidden', holm.stdout), "the page caught JavaScript errors"
